//! Email verification in memory ([`EmailVerificationStorage`]): verification tokens (per
//! tenant) and verified (user, email) pairs (per app).

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{EmailVerificationStorage, SResult};
use std::collections::HashSet;
use tracing::field::Empty;
use tracing::instrument;

/// A verification token: (tenant, user id, email, token hash, expiry).
type Token = (TenantIdentifier, String, String, String, i64);

#[derive(Default)]
pub(crate) struct Tables {
    tokens: Vec<Token>,
    /// (app, user id, email).
    pub(crate) verified: HashSet<(AppId, String, String)>,
}

impl Tables {
    /// Whether a token or a verified email is stored under the user id.
    pub fn holds_user(&self, app: &AppId, user_id: &str) -> bool {
        self.tokens.iter().any(|t| &t.0.app == app && t.1 == user_id)
            || self.verified.iter().any(|v| &v.0 == app && v.1 == user_id)
    }

    /// Move the tokens and verified emails stored under `from` to `to` (a new user-id mapping).
    pub fn move_user(&mut self, app: &AppId, from: &str, to: &str) {
        for t in self.tokens.iter_mut().filter(|t| &t.0.app == app && t.1 == from) {
            t.1 = to.to_string();
        }
        let moved: Vec<_> = self.verified.iter().filter(|v| &v.0 == app && v.1 == from).cloned().collect();
        for v in moved {
            self.verified.remove(&v);
            self.verified.insert((v.0, to.to_string(), v.2));
        }
    }

    /// Drop the tenant's tokens kept under any of these user ids (a user taken out of the
    /// tenant, [`st_core::storage::TenantStorage::remove_user_from_tenant`]); whether there were
    /// any. Verified e-mails are the app's and stay.
    pub fn remove_user_from_tenant(&mut self, tenant: &TenantIdentifier, ids: &[String]) -> bool {
        let before = self.tokens.len();
        self.tokens.retain(|t| !(&t.0 == tenant && ids.contains(&t.1)));
        self.tokens.len() != before
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.tokens.retain(|x| &x.0 != tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.tokens.retain(|x| &x.0.app != app);
        self.verified.retain(|x| &x.0 != app);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        self.tokens.retain(|t| !(&t.0.app == app && ids.contains(&t.1)));
        self.verified.retain(|t| !(&t.0 == app && ids.contains(&t.1)));
    }
}

#[async_trait]
impl EmailVerificationStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.add_email_verification_token",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn add_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        s.emailverification.tokens.push((tenant.clone(), user_id.into(), email.into(), token_hash.into(), expiry));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.consume_email_verification_token",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn consume_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        let mut s = self.lock();
        let ev = &mut s.emailverification;
        let Some(t) = ev.tokens.iter().find(|t| &t.0 == tenant && t.3 == token_hash).cloned() else {
            return Ok(None);
        };
        // The pair's tokens go even when this one has expired (as the reference).
        ev.tokens.retain(|x| !(&x.0 == tenant && x.1 == t.1 && x.2 == t.2));
        if t.4 < now_ms {
            return Ok(None);
        }
        ev.verified.insert((tenant.app.clone(), t.1.clone(), t.2.clone()));
        Ok(Some((t.1, t.2)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_email_verification_tokens",
        skip_all, fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_email_verification_tokens(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> SResult<()> {
        self.lock().emailverification.tokens.retain(|x| !(&x.0 == tenant && x.1 == user_id && x.2 == email));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.is_email_verified", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool> {
        let s = self.lock();
        Ok(s.emailverification.verified.contains(&(app.clone(), user_id.to_string(), email.to_string())))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.set_email_verified", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn set_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.lock().emailverification.verified.insert((app.clone(), user_id.to_string(), email.to_string()));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.unverify_email", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        self.lock().emailverification.verified.remove(&(app.clone(), user_id.to_string(), email.to_string()));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_email_verification_tokens",
        skip_all, fields(otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_email_verification_tokens(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let tokens = &mut s.emailverification.tokens;
        let n = tokens.len();
        tokens.retain(|t| t.4 >= now_ms);
        Ok((n - tokens.len()) as u64)
    }
}
