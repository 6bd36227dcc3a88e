//! WebAuthn in memory ([`WebauthnStorage`]): generated options (per tenant), credentials (per
//! app, relying party and id) and account-recovery tokens (per tenant), this module's own
//! tables; the WebAuthn users are login methods in the shared rows of [`crate::users`] (recipe
//! `webauthn`, with their e-mail). Every intent runs under the store's one lock.

use crate::users::{self, UserRow};
use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    AcceptAssertion, AddWebauthnCredential, SResult, WebauthnCredential, WebauthnEmailUpdate, WebauthnOptions,
    WebauthnRecoveryToken, WebauthnSignUp, WebauthnStorage,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::field::Empty;
use tracing::instrument;

const RECIPE_ID: &str = "webauthn";

/// `webauthn_generated_options`, `webauthn_credentials` and `webauthn_account_recovery_tokens`.
#[derive(Default)]
pub(crate) struct Tables {
    /// (tenant, options id) → options.
    options: BTreeMap<(TenantIdentifier, String), WebauthnOptions>,
    /// (app, relying party id, credential id) → credential.
    credentials: BTreeMap<(AppId, String, String), WebauthnCredential>,
    /// (tenant, token hash) → token.
    tokens: BTreeMap<(TenantIdentifier, String), WebauthnRecoveryToken>,
}

impl Tables {
    /// `tenant`'s options with this id, else the app's (smallest tenant id first).
    fn options_in_app(&self, tenant: &TenantIdentifier, id: &str) -> Option<&WebauthnOptions> {
        self.options
            .get(&(tenant.clone(), id.to_string()))
            .or_else(|| self.options.iter().find(|((t, i), _)| t.app == tenant.app && i == id).map(|(_, o)| o))
    }

    fn credential(&self, app: &AppId, id: &str, rp_id: &str) -> Option<&WebauthnCredential> {
        self.credentials
            .get(&(app.clone(), rp_id.to_string(), id.to_string()))
            .or_else(|| self.credentials.iter().find(|((a, _, i), _)| a == app && i == id).map(|(_, c)| c))
    }

    fn credentials_of<'a>(&'a self, app: &'a AppId, user_id: &'a str) -> impl Iterator<Item = &'a WebauthnCredential> {
        self.credentials.iter().filter(move |((a, _, _), c)| a == app && c.user_id == user_id).map(|(_, c)| c)
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.options.retain(|(t, _), _| t != tenant);
        self.tokens.retain(|(t, _), _| t != tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.credentials.retain(|(a, _, _), _| a != app);
    }

    fn remove_user(&mut self, app: &AppId, user_id: &str, _ids: &[String]) {
        self.credentials.retain(|(a, _, _), c| !(a == app && c.user_id == user_id));
        self.tokens.retain(|(t, _), r| !(&t.app == app && r.user_id == user_id));
    }
}

/// Whether the WebAuthn users of `tenant` other than `except` include one with `email`.
fn email_taken(users: &users::Tables, tenant: &TenantIdentifier, email: &str, except: &str) -> bool {
    users.rows.iter().any(|((a, id), r)| {
        a == &tenant.app
            && id != except
            && r.recipe_id == RECIPE_ID
            && r.email.as_deref() == Some(email)
            && r.tenants.contains(tenant)
    })
}

/// The WebAuthn user `user_id` of the app.
fn webauthn_user<'a>(users: &'a users::Tables, app: &AppId, user_id: &str) -> Option<&'a UserRow> {
    users.rows.get(&(app.clone(), user_id.to_string())).filter(|r| r.recipe_id == RECIPE_ID)
}

#[async_trait]
impl WebauthnStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.save_webauthn_options", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn save_webauthn_options(&self, tenant: &TenantIdentifier, options: &WebauthnOptions) -> SResult<bool> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let key = (tenant.clone(), options.id.clone());
        if s.webauthn.options.contains_key(&key) {
            return Ok(false);
        }
        s.webauthn.options.insert(key, options.clone());
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_options", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> SResult<Option<WebauthnOptions>> {
        Ok(self.lock().webauthn.options.get(&(tenant.clone(), id.to_string())).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_options_in_app", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant, otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_options_in_app(&self, tenant: &TenantIdentifier, id: &str) -> SResult<Option<WebauthnOptions>> {
        Ok(self.lock().webauthn.options_in_app(tenant, id).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_webauthn_options", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn remove_webauthn_options(&self, tenant: &TenantIdentifier, id: &str) -> SResult<bool> {
        Ok(self.lock().webauthn.options.remove(&(tenant.clone(), id.to_string())).is_some())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_sign_up", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        credential: &WebauthnCredential,
        now_ms: i64,
    ) -> SResult<WebauthnSignUp> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        if email_taken(&s.users, tenant, email, user_id) {
            return Ok(WebauthnSignUp::EmailAlreadyExists);
        }
        let key = (tenant.app.clone(), credential.rp_id.clone(), credential.id.clone());
        if s.webauthn.credentials.contains_key(&key) {
            return Ok(WebauthnSignUp::CredentialAlreadyExists);
        }
        s.users.rows.insert(
            (tenant.app.clone(), user_id.to_string()),
            UserRow {
                recipe_id: RECIPE_ID.into(),
                time_joined: now_ms,
                tenants: BTreeSet::from([tenant.clone()]),
                email: Some(email.to_string()),
                primary: user_id.to_string(),
                is_linked_or_primary: false,
                ..Default::default()
            },
        );
        s.webauthn.credentials.insert(key, WebauthnCredential { user_id: user_id.to_string(), ..credential.clone() });
        Ok(WebauthnSignUp::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.add_webauthn_credential", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn add_webauthn_credential(
        &self,
        app: &AppId,
        credential: &WebauthnCredential,
    ) -> SResult<AddWebauthnCredential> {
        let mut s = self.lock();
        let key = (app.clone(), credential.rp_id.clone(), credential.id.clone());
        if s.webauthn.credentials.contains_key(&key) {
            return Ok(AddWebauthnCredential::AlreadyExists);
        }
        if webauthn_user(&s.users, app, &credential.user_id).is_none() {
            return Ok(AddWebauthnCredential::UnknownUser);
        }
        s.webauthn.credentials.insert(key, credential.clone());
        Ok(AddWebauthnCredential::Added)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_credential", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_credential(&self, app: &AppId, id: &str, rp_id: &str) -> SResult<Option<WebauthnCredential>> {
        Ok(self.lock().webauthn.credential(app, id, rp_id).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_user_credential", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_user_credential(
        &self,
        app: &AppId,
        id: &str,
        user_id: &str,
    ) -> SResult<Option<WebauthnCredential>> {
        Ok(self.lock().webauthn.credentials_of(app, user_id).find(|c| c.id == id).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_credentials_of", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_credentials_of(&self, app: &AppId, user_id: &str) -> SResult<Vec<WebauthnCredential>> {
        let s = self.lock();
        let mut out: Vec<WebauthnCredential> = s.webauthn.credentials_of(app, user_id).cloned().collect();
        out.sort_by(|a, b| (a.created_at, &a.id, &a.rp_id).cmp(&(b.created_at, &b.id, &b.rp_id)));
        Ok(out)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_credential_ids", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_credential_ids(&self, app: &AppId, user_ids: &[String]) -> SResult<HashMap<String, Vec<String>>> {
        let s = self.lock();
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for ((a, _, id), c) in &s.webauthn.credentials {
            if a == app && user_ids.contains(&c.user_id) {
                out.entry(c.user_id.clone()).or_default().push(id.clone());
            }
        }
        for ids in out.values_mut() {
            ids.sort();
            ids.dedup();
        }
        Ok(out)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_webauthn_credential", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
        error.type = Empty))]
    async fn remove_webauthn_credential(&self, app: &AppId, user_id: &str, id: &str) -> SResult<bool> {
        let mut s = self.lock();
        let before = s.webauthn.credentials.len();
        s.webauthn.credentials.retain(|(a, _, i), c| !(a == app && i == id && c.user_id == user_id));
        Ok(s.webauthn.credentials.len() < before)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.accept_webauthn_assertion", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty,
        error.type = Empty))]
    async fn accept_webauthn_assertion(
        &self,
        app: &AppId,
        rp_id: &str,
        id: &str,
        seen_counter: i64,
        counter: i64,
        use_up: Option<(&str, &str)>,
        now_ms: i64,
    ) -> SResult<AcceptAssertion> {
        let mut s = self.lock();
        let options_key = match use_up {
            Some((tenant_id, options_id)) => {
                let key = s
                    .webauthn
                    .options
                    .keys()
                    .find(|(t, i)| &t.app == app && t.tenant.as_str() == tenant_id && i == options_id)
                    .cloned();
                match key {
                    Some(k) => Some(k),
                    None => return Ok(AcceptAssertion::OptionsGone),
                }
            }
            None => None,
        };
        let key = (app.clone(), rp_id.to_string(), id.to_string());
        match s.webauthn.credentials.get_mut(&key) {
            Some(c) if c.counter == seen_counter => {
                c.counter = counter;
                c.updated_at = now_ms;
            }
            _ => return Ok(AcceptAssertion::CredentialChanged),
        }
        if let Some(k) = options_key {
            s.webauthn.options.remove(&k);
        }
        Ok(AcceptAssertion::Accepted)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_webauthn_email", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn update_webauthn_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<WebauthnEmailUpdate> {
        let mut s = self.lock();
        let Some(row) = webauthn_user(&s.users, app, user_id) else {
            return Ok(WebauthnEmailUpdate::UnknownUser);
        };
        if row.tenants.iter().any(|t| email_taken(&s.users, t, email, user_id)) {
            return Ok(WebauthnEmailUpdate::EmailAlreadyExists);
        }
        if let Some(row) = s.users.rows.get_mut(&(app.clone(), user_id.to_string())) {
            row.email = Some(email.to_string());
        }
        Ok(WebauthnEmailUpdate::Updated)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.add_webauthn_recovery_token", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn add_webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token: &WebauthnRecoveryToken,
    ) -> SResult<bool> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        // The user's id (as `app_id_to_user_id` has it: a login method, or a group's id).
        let known = s.users.rows.contains_key(&(tenant.app.clone(), token.user_id.clone()))
            || s.users.rows.iter().any(|((a, _), r)| a == &tenant.app && r.primary == token.user_id);
        if !known {
            return Ok(false);
        }
        s.webauthn.tokens.insert((tenant.clone(), token.token_hash.clone()), token.clone());
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.webauthn_recovery_token", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
    ) -> SResult<Option<WebauthnRecoveryToken>> {
        Ok(self.lock().webauthn.tokens.get(&(tenant.clone(), token_hash.to_string())).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.consume_webauthn_recovery_token", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn consume_webauthn_recovery_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<WebauthnRecoveryToken>> {
        let mut s = self.lock();
        let Some(token) = s.webauthn.tokens.get(&(tenant.clone(), token_hash.to_string())).cloned() else {
            return Ok(None);
        };
        if token.expires_at < now_ms {
            return Ok(None);
        }
        s.webauthn.tokens.retain(|(t, _), r| !(t == tenant && r.email == token.email));
        Ok(Some(token))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_webauthn_data", skip_all,
        fields(otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_webauthn_data(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let before = s.webauthn.tokens.len() + s.webauthn.options.len();
        s.webauthn.tokens.retain(|_, r| r.expires_at >= now_ms);
        s.webauthn.options.retain(|_, o| o.expires_at >= now_ms);
        Ok((before - s.webauthn.tokens.len() - s.webauthn.options.len()) as u64)
    }
}
