//! Third party in memory ([`ThirdPartyStorage`]): sign-up, look-up by provider pair and the
//! e-mail update, over the shared login-method rows of [`crate::users`] (recipe `thirdparty`,
//! with their provider pair). The recipe has no table of its own (so no field of `State` and
//! nothing to cascade): its rows go with the users'.

use crate::users::{self, UserRow};
use crate::MemoryStorage;
use async_trait::async_trait;
use st_core::accountlinking::AccountInfo;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{SResult, ThirdPartyEmailUpdate, ThirdPartyLogin, ThirdPartySignUp, ThirdPartyStorage};
use std::collections::BTreeSet;
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "thirdparty";

/// Whether `r` is the third-party login method of this provider pair.
fn is_pair(r: &UserRow, third_party_id: &str, third_party_user_id: &str) -> bool {
    r.recipe_id == RECIPE_ID
        && r.third_party.as_ref().is_some_and(|(id, uid)| id == third_party_id && uid == third_party_user_id)
}

/// The third-party login method of `tenant` with this provider pair.
fn in_tenant(
    users: &users::Tables,
    tenant: &TenantIdentifier,
    third_party_id: &str,
    third_party_user_id: &str,
) -> Option<ThirdPartyLogin> {
    users
        .rows
        .iter()
        .find(|((a, _), r)| {
            a == &tenant.app && r.tenants.contains(tenant) && is_pair(r, third_party_id, third_party_user_id)
        })
        .map(|((_, id), r)| ThirdPartyLogin {
            user_id: id.clone(),
            primary_user_id: r.primary.clone(),
            email: r.email.clone().unwrap_or_default(),
        })
}

#[async_trait]
impl ThirdPartyStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.third_party_sign_up", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn third_party_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
        now_ms: i64,
    ) -> SResult<ThirdPartySignUp> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        if let Some(found) = in_tenant(&s.users, tenant, third_party_id, third_party_user_id) {
            return Ok(ThirdPartySignUp::Exists(found));
        }
        s.users.rows.insert(
            (tenant.app.clone(), user_id.to_string()),
            UserRow {
                recipe_id: RECIPE_ID.into(),
                time_joined: now_ms,
                tenants: BTreeSet::from([tenant.clone()]),
                email: Some(email.to_string()),
                third_party: Some((third_party_id.to_string(), third_party_user_id.to_string())),
                primary: user_id.to_string(),
                is_linked_or_primary: false,
                ..Default::default()
            },
        );
        Ok(ThirdPartySignUp::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.third_party_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn third_party_user(
        &self,
        tenant: &TenantIdentifier,
        third_party_id: &str,
        third_party_user_id: &str,
    ) -> SResult<Option<ThirdPartyLogin>> {
        Ok(in_tenant(&self.lock().users, tenant, third_party_id, third_party_user_id))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_third_party_email", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
        error.type = Empty))]
    async fn update_third_party_email(
        &self,
        app: &AppId,
        user_id: &str,
        third_party_id: &str,
        third_party_user_id: &str,
        email: &str,
    ) -> SResult<ThirdPartyEmailUpdate> {
        let mut s = self.lock();
        let new = [AccountInfo::Email(email.to_string())];
        if !crate::accountlinking::change_refused(&s, app, user_id, &new).is_empty() {
            return Ok(ThirdPartyEmailUpdate::EmailChangeNotAllowed);
        }
        let mut n = 0;
        for ((a, _), r) in s.users.rows.iter_mut() {
            if a == app && is_pair(r, third_party_id, third_party_user_id) {
                r.email = Some(email.to_string());
                n += 1;
            }
        }
        Ok(ThirdPartyEmailUpdate::Updated(n))
    }
}
