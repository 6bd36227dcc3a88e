//! Email-password in memory ([`EmailPasswordStorage`]): sign-up, sign-in lookup and updates
//! over the shared login-method rows of [`crate::users`] (recipe `emailpassword`, with their
//! password hash), and the password-reset tokens, which are this module's own table.

use crate::users::{self, UserRow};
use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::accountlinking::AccountInfo;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{EmailPasswordStorage, SResult, SignUpResult, UpdateResult};
use std::collections::BTreeSet;
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "emailpassword";

/// A password-reset token: (app, user id, token hash, email, expiry).
type ResetToken = (AppId, String, String, String, i64);

#[derive(Default)]
pub(crate) struct Tables {
    reset_tokens: Vec<ResetToken>,
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.reset_tokens.retain(|x| &x.0 != app);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        self.reset_tokens.retain(|t| !(&t.0 == app && ids.contains(&t.1)));
    }
}

/// The email-password user of `tenant` with this email: (its id, its row).
fn ep_in_tenant<'a>(
    users: &'a users::Tables,
    tenant: &TenantIdentifier,
    email: &str,
) -> Option<(&'a String, &'a UserRow)> {
    users
        .rows
        .iter()
        .find(|((a, _), r)| {
            a == &tenant.app
                && r.recipe_id == RECIPE_ID
                && r.email.as_deref() == Some(email)
                && r.tenants.contains(tenant)
        })
        .map(|((_, id), r)| (id, r))
}

#[async_trait]
impl EmailPasswordStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.sign_up_with_password", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        if ep_in_tenant(&s.users, tenant, email).is_some() {
            return Ok(SignUpResult::EmailAlreadyExists);
        }
        s.users.rows.insert(
            (tenant.app.clone(), user_id.to_string()),
            UserRow {
                recipe_id: RECIPE_ID.into(),
                time_joined: now_ms,
                tenants: BTreeSet::from([tenant.clone()]),
                email: Some(email.to_string()),
                password_hash: Some(password_hash.to_string()),
                primary: user_id.to_string(),
                is_linked_or_primary: false,
                ..Default::default()
            },
        );
        Ok(SignUpResult::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.password_user_by_email", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn password_user_by_email(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
    ) -> SResult<Option<(String, String)>> {
        let s = self.lock();
        Ok(ep_in_tenant(&s.users, tenant, email)
            .map(|(id, r)| (id.clone(), r.password_hash.clone().unwrap_or_default())))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_email_or_password", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn update_email_or_password(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult> {
        let mut s = self.lock();
        let key = (app.clone(), user_id.to_string());
        let Some(row) = s.users.rows.get(&key).filter(|r| r.recipe_id == RECIPE_ID).cloned() else {
            return Ok(UpdateResult::UnknownUser);
        };
        if let Some(e) = email {
            let new = [AccountInfo::Email(e.to_string())];
            if !crate::accountlinking::change_refused(&s, app, user_id, &new).is_empty() {
                return Ok(UpdateResult::EmailChangeNotAllowed);
            }
            for t in &row.tenants {
                if let Some((other, _)) = ep_in_tenant(&s.users, t, e) {
                    if other != user_id {
                        return Ok(UpdateResult::EmailAlreadyExists);
                    }
                }
            }
        }
        if let Some(r) = s.users.rows.get_mut(&key) {
            if let Some(e) = email {
                r.email = Some(e.to_string());
            }
            if let Some(h) = password_hash {
                r.password_hash = Some(h.to_string());
            }
        }
        Ok(UpdateResult::Ok)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.add_password_reset_token", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn add_password_reset_token(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()> {
        let token = (app.clone(), user_id.into(), token_hash.into(), email.into(), expiry);
        self.lock().emailpassword.reset_tokens.push(token);
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.consume_password_reset_token",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
        error.type = Empty))]
    async fn consume_password_reset_token(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let mut s = self.lock();
        let tokens = &mut s.emailpassword.reset_tokens;
        let Some(t) = tokens.iter().find(|t| &t.0 == app && t.2 == token_hash).cloned() else {
            return Ok(None);
        };
        tokens.retain(|x| !(&x.0 == app && x.1 == t.1));
        if t.4 < now_ms {
            return Ok(None);
        }
        Ok(Some((t.1, t.3)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_password_reset_tokens",
        skip_all, fields(otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_password_reset_tokens(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let tokens = &mut s.emailpassword.reset_tokens;
        let n = tokens.len();
        tokens.retain(|t| t.4 >= now_ms);
        Ok((n - tokens.len()) as u64)
    }
}
