//! In-memory [`Storage`]: the default when no database is configured (development, tests).
//! Data lives in one process and is lost on exit. Every intent runs under one short-lived
//! mutex, which makes each of them trivially atomic; nothing awaits while it is held.
//!
//! One module per recipe, as in `st_core::storage`: each holds its trait's implementation and
//! its own tables (`<module>::Tables`), which are fields of the one [`State`] behind the lock,
//! so an intent that reads or writes several recipes' tables still takes the lock once. The
//! removal of a tenant, an app or a user cascades through [`Cascade`], which every recipe's
//! tables implement for their own rows.
//!
//! Every storage method is a `storage.<method>` tracing span (target `st_storage`, see
//! `st_core::storage::SPAN_TARGET`), with `app_id` and `tenant_id` where the call names them;
//! the errors this backend makes go through `st_core::storage::traced_error`.
//!
//! Adding a recipe: a module with its trait impl and its `Tables` (implementing [`Cascade`]),
//! its `mod` line below, its field of [`State`], and its name in [`State::cascade`] (which
//! does not compile until it is there).

use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{
    compose, traced_error, ResolvedSession, SResult, SessionDecider, SessionIdentity, SessionRow, Storage,
    TenantRecord, TouchIfCurrent,
};
use st_core::StorageError;
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::field::Empty;
use tracing::instrument;

mod accountlinking;
mod active_users;
mod bulkimport;
mod dashboard;
mod emailpassword;
mod emailverification;
mod jobs;
mod key_value;
mod lockout;
mod multitenancy;
mod oauth;
mod passwordless;
mod ratelimit;
mod saml;
mod session;
mod signing_keys;
mod thirdparty;
mod totp;
mod useridmapping;
mod usermetadata;
mod userroles;
mod users;
mod webauthn;

/// Every table of the store, one field per recipe; one lock guards them all.
#[derive(Default)]
pub(crate) struct State {
    pub tenants: multitenancy::Tables,
    pub key_value: key_value::Tables,
    pub sessions: session::Tables,
    pub lockout: lockout::Tables,
    pub ratelimit: ratelimit::Tables,
    pub signing_keys: signing_keys::Tables,
    pub active_users: active_users::Tables,
    pub users: users::Tables,
    pub emailpassword: emailpassword::Tables,
    pub emailverification: emailverification::Tables,
    pub passwordless: passwordless::Tables,
    pub totp: totp::Tables,
    pub usermetadata: usermetadata::Tables,
    pub userroles: userroles::Tables,
    pub useridmapping: useridmapping::Tables,
    pub webauthn: webauthn::Tables,
    pub dashboard: dashboard::Tables,
    pub bulkimport: bulkimport::Tables,
    pub oauth: oauth::Tables,
    pub saml: saml::Tables,
}

/// What a recipe's tables drop when a tenant, an app or a user goes. Each step defaults to
/// nothing; [`State::cascade`] runs it on every recipe's tables.
pub(crate) trait Cascade {
    /// Drop the tenant's rows.
    fn remove_tenant(&mut self, _tenant: &TenantIdentifier) {}
    /// Drop the app's rows. Runs after [`Cascade::remove_tenant`] for each of the app's
    /// tenants, so tables keyed by tenant need only that.
    fn remove_app(&mut self, _app: &AppId) {}
    /// Drop a login method's rows ([`st_core::storage::AuthRecipeStorage::delete_user`]):
    /// `user_id` is its supertokens id, `ids` every id its data may be keyed by.
    fn remove_user(&mut self, _app: &AppId, _user_id: &str, _ids: &[String]) {}
}

/// The in-memory backend. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryStorage {
    state: Arc<Mutex<State>>,
    jobs: jobs::Leases,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// A fresh store holding the base app and tenant.
    pub fn new() -> Self {
        let mut state = State::default();
        state.tenants.insert(TenantRecord::new(TenantIdentifier::base()));
        MemoryStorage { state: Arc::new(Mutex::new(state)), jobs: jobs::Leases::default() }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half-applied intents (each is applied in
        // one go), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// `TenantOrAppNotFound` (marked on the current storage span) unless the tenant exists.
    pub(crate) fn require_tenant(&self, t: &TenantIdentifier) -> SResult<()> {
        if self.tenants.exists(t) {
            Ok(())
        } else {
            Err(traced_error(StorageError::TenantOrAppNotFound))
        }
    }

    /// Run `step` on every recipe's tables.
    fn cascade(&mut self, mut step: impl FnMut(&mut dyn Cascade)) {
        // Destructured without `..`: a field added to `State` does not compile until it is
        // listed here too.
        let State {
            tenants,
            key_value,
            sessions,
            signing_keys,
            lockout,
            ratelimit,
            active_users,
            users,
            emailpassword,
            emailverification,
            passwordless,
            totp,
            usermetadata,
            userroles,
            useridmapping,
            webauthn,
            dashboard,
            bulkimport,
            oauth,
            saml,
        } = self;
        let recipes: &mut [&mut dyn Cascade] = &mut [
            tenants,
            key_value,
            sessions,
            signing_keys,
            active_users,
            lockout,
            ratelimit,
            users,
            emailpassword,
            emailverification,
            passwordless,
            totp,
            usermetadata,
            userroles,
            useridmapping,
            webauthn,
            dashboard,
            bulkimport,
            oauth,
            saml,
        ];
        for recipe in recipes.iter_mut() {
            step(&mut **recipe);
        }
    }

    /// Remove the tenant (its record included) and all its data.
    pub(crate) fn remove_tenant(&mut self, t: &TenantIdentifier) {
        self.cascade(|r| r.remove_tenant(t));
    }

    /// Remove the app, all its tenants and all their data; returns whether it had tenants.
    pub(crate) fn remove_app(&mut self, app: &AppId) -> bool {
        let tenants = self.tenants.of_app(app);
        for t in &tenants {
            self.remove_tenant(t);
        }
        self.cascade(|r| r.remove_app(app));
        !tenants.is_empty()
    }

    /// Remove a login method and every trace of it (see [`Cascade::remove_user`]).
    pub(crate) fn remove_user(&mut self, app: &AppId, user_id: &str, ids: &[String]) {
        passwordless::forget_devices_of_user(self, app, user_id);
        self.cascade(|r| r.remove_user(app, user_id, ids));
    }
}

// The composed intents are the traits' defaults (`st_core::storage::compose`), overridden
// here only to give them their own span.
#[async_trait]
impl Storage for MemoryStorage {
    fn kind(&self) -> &'static str {
        "memory"
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.create_session_resolved", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %row.tenant.app, tenant_id = %row.tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn create_session_resolved(
        &self,
        row: &SessionRow,
        record_activity: bool,
    ) -> SResult<Option<SessionIdentity>> {
        compose::create_session_resolved(self, row, record_activity).await
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_session_resolved", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn update_session_resolved(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        touch: Option<&TouchIfCurrent<'_>>,
    ) -> SResult<Option<ResolvedSession>> {
        compose::update_session_resolved(self, tenant, handle, decide, touch).await
    }
}
