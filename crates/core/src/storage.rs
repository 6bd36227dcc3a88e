//! The storage port. Each method is one whole intent, atomic inside its backend; there is no
//! transaction API. Split by recipe; a backend implements all of them and so is a [`Storage`].

use crate::error::StorageError;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;
use serde_json::{Map, Value};

pub type SResult<T> = Result<T, StorageError>;

/// A tenant and its stored configuration (`tenant_configs` + factor tables).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRecord {
    pub id: TenantIdentifier,
    /// The tenant's own `coreConfig` (normalised values), not the layered one.
    pub core_config: Map<String, Value>,
    pub email_password_enabled: bool,
    pub passwordless_enabled: bool,
    pub third_party_enabled: bool,
    /// `None` = all first factors allowed.
    pub first_factors: Option<Vec<String>>,
    pub required_secondary_factors: Option<Vec<String>>,
}

impl TenantRecord {
    pub fn new(id: TenantIdentifier) -> Self {
        TenantRecord {
            id,
            core_config: Map::new(),
            email_password_enabled: true,
            passwordless_enabled: true,
            third_party_enabled: true,
            first_factors: None,
            required_secondary_factors: None,
        }
    }
}

#[async_trait]
pub trait TenantStorage: Send + Sync {
    /// Touch the database (the `/hello` check).
    async fn health_check(&self) -> SResult<()>;
    /// Every tenant of every app.
    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>>;
    /// One tenant, if it exists.
    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>>;
    /// Create the tenant (and its app, when the tenant is the app's `public` one) or replace its
    /// configuration. Returns whether it was created. A non-public tenant of a missing app is
    /// `TenantOrAppNotFound`.
    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool>;
    /// Delete a tenant and every piece of data that belongs to it. Returns whether it existed.
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool>;
    /// Delete an app, all its tenants and all their data. Returns whether it existed.
    async fn delete_app(&self, app: &AppId) -> SResult<bool>;

    /// `key_value` read.
    async fn kv_get(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>>;
    /// `key_value` write (insert or replace).
    async fn kv_set(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()>;
    /// `key_value` delete; returns whether it existed.
    async fn kv_delete(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool>;
    /// Insert `value` unless a value exists; return the stored value either way.
    async fn kv_get_or_insert(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64)
        -> SResult<String>;
}

/// A `session_info` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub tenant: TenantIdentifier,
    pub handle: String,
    /// Recipe user id as given by the caller.
    pub user_id: String,
    pub refresh_token_hash_2: String,
    pub session_data: Value,
    pub expires_at: i64,
    pub created_at: i64,
    pub jwt_user_payload: Value,
    pub use_static_key: bool,
}

/// Changes to apply to a session row inside [`SessionStorage::update_session_atomically`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPatch {
    pub refresh_token_hash_2: Option<String>,
    pub expires_at: Option<i64>,
    pub use_static_key: Option<bool>,
}

/// Pure decision made while the row is locked: what to change, if anything.
pub type SessionDecider<'a> = &'a (dyn Fn(&SessionRow) -> Option<SessionPatch> + Send + Sync);

#[async_trait]
pub trait SessionStorage: Send + Sync {
    /// Insert a new session. `TenantOrAppNotFound` if the tenant does not exist.
    async fn create_session(&self, row: &SessionRow) -> SResult<()>;
    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>>;
    /// Lock the row, let `decide` look at it, apply the patch it returns, all atomically.
    /// Returns the row as it was before the patch (`None` if missing).
    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>>;
    /// Delete sessions by handle (each with its tenant); return the handles that existed.
    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>>;
    /// Handles of the non-expired sessions of these users, in one tenant or (None) all of the app's.
    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>>;
    /// Replace `session_data` of a non-expired session; false if missing.
    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool>;
    /// Replace `jwt_user_payload` of a non-expired session; false if missing.
    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool>;
    /// Cron: delete sessions whose `expires_at <= now`. Returns how many.
    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64>;
    /// `user_last_active` upsert.
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()>;
}

/// A stored signing key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    /// `d-<created>` for dynamic keys, the stored key id for static keys.
    pub kid: String,
    /// `"<base64 SPKI DER>|<base64 PKCS#8 DER>"`.
    pub value: String,
    pub created_at: i64,
}

#[async_trait]
pub trait SigningKeyStorage: Send + Sync {
    /// Atomically (serialised per app across every instance sharing the database): read the
    /// dynamic keys created at or after `verify_after`; if none was created at or after
    /// `sign_after` and `candidate` is given, insert it. Returns the keys, newest first, and
    /// whether the candidate was inserted. Two instances can never insert a key for the same
    /// rotation slot.
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)>;
    /// Cron: delete dynamic keys of `app` created before `before`.
    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64>;
    /// The app's static RS256 key, inserting `candidate` if there is none yet. Returns the stored one.
    async fn static_key_get_or_insert(&self, app: &AppId, candidate: Option<&StoredKey>)
        -> SResult<Option<StoredKey>>;
}

/// A lease on a background job; the job runs only while it is held. Dropping releases it.
pub trait JobLease: Send {}

#[async_trait]
pub trait JobStorage: Send + Sync {
    /// Try to become the one instance that runs `job` now (e.g. a PostgreSQL advisory lock).
    /// `None` = another instance holds it.
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>>;
}

/// Everything a backend provides.
pub trait Storage:
    TenantStorage + SessionStorage + SigningKeyStorage + JobStorage + Send + Sync
{
    /// `"memory"` or `"postgresql"`.
    fn kind(&self) -> &'static str;
}
