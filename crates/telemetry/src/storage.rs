//! [`TracedStorage`]: a [`Storage`] decorator that runs every call inside a `storage.<method>`
//! span (target `st_storage`, level DEBUG).
//!
//! Span fields are limited to what is safe to ship to a collector: the backend (`db.system`),
//! app and tenant ids, job names and batch sizes. Tokens, hashes, e-mails, passwords, user ids
//! and error messages (a database error can quote a row) are never recorded; a failed call sets
//! `otel.status_code = "ERROR"` and `error.type` to the error's kind only.
//!
//! The decorator is only installed when tracing is on; even then a span whose callsite no layer
//! wants costs one cached interest check.

use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::error::StorageError;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::*;
use std::future::Future;
use std::sync::Arc;
use tracing::field::Empty;
use tracing::{Instrument, Span};

/// Wraps a backend; every method delegates inside a span.
pub struct TracedStorage(pub Arc<dyn Storage>);

impl TracedStorage {
    pub fn new(inner: Arc<dyn Storage>) -> TracedStorage {
        TracedStorage(inner)
    }
}

/// The error's kind, never its message.
fn error_type(e: &StorageError) -> &'static str {
    match e {
        StorageError::Unavailable(_) => "unavailable",
        StorageError::Query(_) => "query",
        StorageError::TenantOrAppNotFound => "tenant_or_app_not_found",
    }
}

/// Run `fut` inside `span`; mark the span failed on error.
async fn traced<T>(span: Span, fut: impl Future<Output = SResult<T>>) -> SResult<T> {
    let result = fut.instrument(span.clone()).await;
    if let Err(e) = &result {
        if !span.is_disabled() {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error_type(e));
        }
    }
    result
}

/// `span!(self, "storage.name" [, tenant = t | app = a | app = a, opt_tenant = t] [, extra fields])`.
/// Field values are evaluated only when the span is enabled.
macro_rules! span {
    ($s:ident, $name:literal $(, $($field:tt)+)?) => {
        tracing::debug_span!(
            target: "st_storage",
            $name,
            otel.kind = "client",
            db.system = $s.0.kind(),
            otel.status_code = Empty,
            error.type = Empty,
            $($($field)+)?
        )
    };
}

macro_rules! tenant_span {
    ($s:ident, $name:literal, $t:expr $(, $($field:tt)+)?) => {
        span!($s, $name, app_id = %$t.app, tenant_id = %$t.tenant $(, $($field)+)?)
    };
}

macro_rules! app_span {
    ($s:ident, $name:literal, $a:expr $(, $($field:tt)+)?) => {
        span!($s, $name, app_id = %$a $(, $($field)+)?)
    };
}

#[async_trait]
impl TenantStorage for TracedStorage {
    async fn health_check(&self) -> SResult<()> {
        traced(span!(self, "storage.health_check"), self.0.health_check()).await
    }

    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>> {
        traced(span!(self, "storage.list_tenants"), self.0.list_tenants()).await
    }

    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>> {
        traced(tenant_span!(self, "storage.get_tenant", id), self.0.get_tenant(id)).await
    }

    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool> {
        traced(tenant_span!(self, "storage.upsert_tenant", record.id), self.0.upsert_tenant(record, now_ms)).await
    }

    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        traced(tenant_span!(self, "storage.delete_tenant", id), self.0.delete_tenant(id)).await
    }

    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        traced(app_span!(self, "storage.delete_app", app), self.0.delete_app(app)).await
    }
}

#[async_trait]
impl KeyValueStorage for TracedStorage {
    async fn get_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        traced(tenant_span!(self, "storage.get_key_value", tenant), self.0.get_key_value(tenant, name)).await
    }

    async fn set_key_value(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()> {
        traced(tenant_span!(self, "storage.set_key_value", tenant), self.0.set_key_value(tenant, name, value, now_ms))
            .await
    }

    async fn delete_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool> {
        traced(tenant_span!(self, "storage.delete_key_value", tenant), self.0.delete_key_value(tenant, name)).await
    }

    async fn get_or_insert_key_value(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> SResult<String> {
        traced(
            tenant_span!(self, "storage.get_or_insert_key_value", tenant),
            self.0.get_or_insert_key_value(tenant, name, value, now_ms),
        )
        .await
    }
}

#[async_trait]
impl SessionStorage for TracedStorage {
    async fn create_session(&self, row: &SessionRow) -> SResult<()> {
        traced(tenant_span!(self, "storage.create_session", row.tenant), self.0.create_session(row)).await
    }

    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>> {
        traced(tenant_span!(self, "storage.get_session", tenant), self.0.get_session(tenant, handle)).await
    }

    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>> {
        traced(
            tenant_span!(self, "storage.update_session_atomically", tenant),
            self.0.update_session_atomically(tenant, handle, decide),
        )
        .await
    }

    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>> {
        traced(
            app_span!(self, "storage.delete_sessions", app, count = handles.len()),
            self.0.delete_sessions(app, handles),
        )
        .await
    }

    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>> {
        traced(
            app_span!(
                self,
                "storage.session_handles_for_users",
                app,
                tenant_id = tenant.map(|t| tracing::field::display(&t.tenant)),
                count = user_ids.len()
            ),
            self.0.session_handles_for_users(app, tenant, user_ids, now_ms),
        )
        .await
    }

    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        traced(
            tenant_span!(self, "storage.update_session_data", tenant),
            self.0.update_session_data(tenant, handle, data, now_ms),
        )
        .await
    }

    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        traced(
            tenant_span!(self, "storage.update_jwt_payload", tenant),
            self.0.update_jwt_payload(tenant, handle, payload, now_ms),
        )
        .await
    }

    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64> {
        traced(span!(self, "storage.delete_expired_sessions"), self.0.delete_expired_sessions(now_ms)).await
    }
}

#[async_trait]
impl ActiveUsersStorage for TracedStorage {
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()> {
        traced(
            app_span!(self, "storage.touch_user_last_active", app),
            self.0.touch_user_last_active(app, user_id, now_ms),
        )
        .await
    }

    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64> {
        traced(app_span!(self, "storage.count_active_users", app), self.0.count_active_users(app, since_ms)).await
    }
}

#[async_trait]
impl SigningKeyStorage for TracedStorage {
    async fn dynamic_keys_rotate(
        &self,
        app: &AppId,
        verify_after: i64,
        sign_after: i64,
        candidate: Option<&StoredKey>,
    ) -> SResult<(Vec<StoredKey>, bool)> {
        traced(
            app_span!(self, "storage.dynamic_keys_rotate", app),
            self.0.dynamic_keys_rotate(app, verify_after, sign_after, candidate),
        )
        .await
    }
    async fn delete_dynamic_keys_before(&self, app: &AppId, before: i64) -> SResult<u64> {
        traced(
            app_span!(self, "storage.delete_dynamic_keys_before", app),
            self.0.delete_dynamic_keys_before(app, before),
        )
        .await
    }
    async fn static_key_get_or_insert(&self, app: &AppId, candidate: Option<&StoredKey>) -> SResult<Option<StoredKey>> {
        traced(
            app_span!(self, "storage.static_key_get_or_insert", app),
            self.0.static_key_get_or_insert(app, candidate),
        )
        .await
    }
}

#[async_trait]
impl JobStorage for TracedStorage {
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>> {
        traced(span!(self, "storage.try_lock_job", job = job), self.0.try_lock_job(job)).await
    }
}

#[async_trait]
impl AuthRecipeStorage for TracedStorage {
    async fn get_auth_user(&self, app: &AppId, user_id: &str) -> SResult<Option<AuthUser>> {
        traced(app_span!(self, "storage.get_auth_user", app), self.0.get_auth_user(app, user_id)).await
    }

    async fn get_auth_users(&self, app: &AppId, user_ids: &[String]) -> SResult<Vec<AuthUser>> {
        traced(app_span!(self, "storage.get_auth_users", app), self.0.get_auth_users(app, user_ids)).await
    }

    async fn user_decorations(&self, app: &AppId, users: &[AuthUser]) -> SResult<UserDecorations> {
        traced(app_span!(self, "storage.user_decorations", app), self.0.user_decorations(app, users)).await
    }

    async fn session_identity(&self, app: &AppId, user_id: &str) -> SResult<Option<SessionIdentity>> {
        traced(app_span!(self, "storage.session_identity", app), self.0.session_identity(app, user_id)).await
    }

    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>> {
        traced(tenant_span!(self, "storage.users_by_email", tenant), self.0.users_by_email(tenant, email)).await
    }

    async fn list_users(&self, tenant: &TenantIdentifier, query: &UserListQuery) -> SResult<Vec<(String, i64)>> {
        traced(tenant_span!(self, "storage.list_users", tenant, limit = query.limit), self.0.list_users(tenant, query))
            .await
    }

    async fn count_users(&self, app: &AppId, tenant: Option<&TenantIdentifier>, recipe_ids: &[String]) -> SResult<u64> {
        traced(
            app_span!(self, "storage.count_users", app, tenant_id = tenant.map(|t| tracing::field::display(&t.tenant))),
            self.0.count_users(app, tenant, recipe_ids),
        )
        .await
    }

    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()> {
        traced(app_span!(self, "storage.delete_user", app), self.0.delete_user(app, user_id, ids)).await
    }
}

#[async_trait]
impl EmailPasswordStorage for TracedStorage {
    async fn sign_up_with_password(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult> {
        traced(
            tenant_span!(self, "storage.sign_up_with_password", tenant),
            self.0.sign_up_with_password(tenant, user_id, email, password_hash, now_ms),
        )
        .await
    }

    async fn password_user_by_email(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
    ) -> SResult<Option<(String, String)>> {
        traced(
            tenant_span!(self, "storage.password_user_by_email", tenant),
            self.0.password_user_by_email(tenant, email),
        )
        .await
    }

    async fn update_email_or_password(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult> {
        traced(
            app_span!(self, "storage.update_email_or_password", app),
            self.0.update_email_or_password(app, user_id, email, password_hash),
        )
        .await
    }

    async fn add_password_reset_token(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()> {
        traced(
            app_span!(self, "storage.add_password_reset_token", app),
            self.0.add_password_reset_token(app, user_id, token_hash, email, expiry),
        )
        .await
    }

    async fn consume_password_reset_token(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        traced(
            app_span!(self, "storage.consume_password_reset_token", app),
            self.0.consume_password_reset_token(app, token_hash, now_ms),
        )
        .await
    }

    async fn delete_expired_password_reset_tokens(&self, now_ms: i64) -> SResult<u64> {
        traced(
            span!(self, "storage.delete_expired_password_reset_tokens"),
            self.0.delete_expired_password_reset_tokens(now_ms),
        )
        .await
    }
}

#[async_trait]
impl EmailVerificationStorage for TracedStorage {
    async fn add_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()> {
        traced(
            tenant_span!(self, "storage.add_email_verification_token", tenant),
            self.0.add_email_verification_token(tenant, user_id, email, token_hash, expiry),
        )
        .await
    }

    async fn consume_email_verification_token(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        traced(
            tenant_span!(self, "storage.consume_email_verification_token", tenant),
            self.0.consume_email_verification_token(tenant, token_hash, now_ms),
        )
        .await
    }

    async fn delete_email_verification_tokens(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
    ) -> SResult<()> {
        traced(
            tenant_span!(self, "storage.delete_email_verification_tokens", tenant),
            self.0.delete_email_verification_tokens(tenant, user_id, email),
        )
        .await
    }

    async fn is_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool> {
        traced(app_span!(self, "storage.is_email_verified", app), self.0.is_email_verified(app, user_id, email)).await
    }

    async fn set_email_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        traced(app_span!(self, "storage.set_email_verified", app), self.0.set_email_verified(app, user_id, email)).await
    }

    async fn unverify_email(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        traced(app_span!(self, "storage.unverify_email", app), self.0.unverify_email(app, user_id, email)).await
    }

    async fn delete_expired_email_verification_tokens(&self, now_ms: i64) -> SResult<u64> {
        traced(
            span!(self, "storage.delete_expired_email_verification_tokens"),
            self.0.delete_expired_email_verification_tokens(now_ms),
        )
        .await
    }
}

#[async_trait]
impl UserMetadataStorage for TracedStorage {
    async fn get_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>> {
        traced(app_span!(self, "storage.get_user_metadata", app), self.0.get_user_metadata(app, user_id)).await
    }

    async fn get_user_metadata_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<std::collections::HashMap<String, serde_json::Map<String, serde_json::Value>>> {
        traced(app_span!(self, "storage.get_user_metadata_many", app), self.0.get_user_metadata_many(app, user_ids))
            .await
    }

    async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>> {
        traced(app_span!(self, "storage.update_user_metadata", app), self.0.update_user_metadata(app, user_id, update))
            .await
    }

    async fn delete_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        traced(app_span!(self, "storage.delete_user_metadata", app), self.0.delete_user_metadata(app, user_id)).await
    }
}

#[async_trait]
impl UserRolesStorage for TracedStorage {
    async fn create_role_or_add_permissions(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool> {
        traced(
            app_span!(self, "storage.create_role_or_add_permissions", app),
            self.0.create_role_or_add_permissions(app, role, permissions),
        )
        .await
    }

    async fn permissions_of_role(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>> {
        traced(app_span!(self, "storage.permissions_of_role", app), self.0.permissions_of_role(app, role)).await
    }

    async fn remove_role_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool> {
        traced(
            app_span!(self, "storage.remove_role_permissions", app),
            self.0.remove_role_permissions(app, role, permissions),
        )
        .await
    }

    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>> {
        traced(app_span!(self, "storage.roles_with_permission", app), self.0.roles_with_permission(app, permission))
            .await
    }

    async fn delete_role(&self, app: &AppId, role: &str) -> SResult<bool> {
        traced(app_span!(self, "storage.delete_role", app), self.0.delete_role(app, role)).await
    }

    async fn all_roles(&self, app: &AppId) -> SResult<Vec<String>> {
        traced(app_span!(self, "storage.all_roles", app), self.0.all_roles(app)).await
    }

    async fn add_role_to_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        traced(tenant_span!(self, "storage.add_role_to_user", tenant), self.0.add_role_to_user(tenant, user_id, role))
            .await
    }

    async fn remove_role_from_user(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        traced(
            tenant_span!(self, "storage.remove_role_from_user", tenant),
            self.0.remove_role_from_user(tenant, user_id, role),
        )
        .await
    }

    async fn roles_of_user(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>> {
        traced(tenant_span!(self, "storage.roles_of_user", tenant), self.0.roles_of_user(tenant, user_id)).await
    }

    async fn users_with_role(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>> {
        traced(tenant_span!(self, "storage.users_with_role", tenant), self.0.users_with_role(tenant, role)).await
    }
}

#[async_trait]
impl UserIdMappingStorage for TracedStorage {
    async fn create_user_id_mapping(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate> {
        traced(
            app_span!(self, "storage.create_user_id_mapping", app),
            self.0.create_user_id_mapping(app, mapping, move_verification),
        )
        .await
    }

    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>> {
        traced(app_span!(self, "storage.user_id_uses", app), self.0.user_id_uses(app, user_id, now_ms)).await
    }

    async fn get_user_id_mapping(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
    ) -> SResult<Option<UserIdMapping>> {
        traced(app_span!(self, "storage.get_user_id_mapping", app), self.0.get_user_id_mapping(app, id, supertokens))
            .await
    }

    async fn delete_user_id_mapping(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<bool> {
        traced(
            app_span!(self, "storage.delete_user_id_mapping", app),
            self.0.delete_user_id_mapping(app, id, supertokens),
        )
        .await
    }

    async fn update_external_user_id_info(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
        info: Option<&str>,
    ) -> SResult<bool> {
        traced(
            app_span!(self, "storage.update_external_user_id_info", app),
            self.0.update_external_user_id_info(app, id, supertokens, info),
        )
        .await
    }
}

#[async_trait]
impl Storage for TracedStorage {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }
    fn pool_stats(&self) -> Option<PoolStats> {
        self.0.pool_stats()
    }
    async fn create_session_resolved(
        &self,
        row: &SessionRow,
        record_activity: bool,
    ) -> SResult<Option<SessionIdentity>> {
        traced(
            tenant_span!(self, "storage.create_session_resolved", row.tenant),
            self.0.create_session_resolved(row, record_activity),
        )
        .await
    }
    async fn update_session_resolved(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        touch: Option<&TouchIfCurrent<'_>>,
    ) -> SResult<Option<ResolvedSession>> {
        traced(
            tenant_span!(self, "storage.update_session_resolved", tenant),
            self.0.update_session_resolved(tenant, handle, decide, touch),
        )
        .await
    }
}
