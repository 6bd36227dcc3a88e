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
    async fn kv_get(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        traced(tenant_span!(self, "storage.kv_get", tenant), self.0.kv_get(tenant, name)).await
    }
    async fn kv_set(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()> {
        traced(tenant_span!(self, "storage.kv_set", tenant), self.0.kv_set(tenant, name, value, now_ms)).await
    }
    async fn kv_delete(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool> {
        traced(tenant_span!(self, "storage.kv_delete", tenant), self.0.kv_delete(tenant, name)).await
    }
    async fn kv_get_or_insert(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> SResult<String> {
        traced(
            tenant_span!(self, "storage.kv_get_or_insert", tenant),
            self.0.kv_get_or_insert(tenant, name, value, now_ms),
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
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()> {
        traced(
            app_span!(self, "storage.touch_user_last_active", app),
            self.0.touch_user_last_active(app, user_id, now_ms),
        )
        .await
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
impl UserStorage for TracedStorage {
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
    async fn ep_sign_up(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> SResult<SignUpResult> {
        traced(
            tenant_span!(self, "storage.ep_sign_up", tenant),
            self.0.ep_sign_up(tenant, user_id, email, password_hash, now_ms),
        )
        .await
    }
    async fn ep_login(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Option<(String, String)>> {
        traced(tenant_span!(self, "storage.ep_login", tenant), self.0.ep_login(tenant, email)).await
    }
    async fn ep_update(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateResult> {
        traced(app_span!(self, "storage.ep_update", app), self.0.ep_update(app, user_id, email, password_hash)).await
    }
    async fn users_by_email(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Vec<String>> {
        traced(tenant_span!(self, "storage.users_by_email", tenant), self.0.users_by_email(tenant, email)).await
    }

    async fn reset_token_create(
        &self,
        app: &AppId,
        user_id: &str,
        token_hash: &str,
        email: &str,
        expiry: i64,
    ) -> SResult<()> {
        traced(
            app_span!(self, "storage.reset_token_create", app),
            self.0.reset_token_create(app, user_id, token_hash, email, expiry),
        )
        .await
    }
    async fn reset_token_consume(
        &self,
        app: &AppId,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        traced(app_span!(self, "storage.reset_token_consume", app), self.0.reset_token_consume(app, token_hash, now_ms))
            .await
    }
    async fn delete_expired_reset_tokens(&self, now_ms: i64) -> SResult<u64> {
        traced(span!(self, "storage.delete_expired_reset_tokens"), self.0.delete_expired_reset_tokens(now_ms)).await
    }

    async fn ev_token_create(
        &self,
        tenant: &TenantIdentifier,
        user_id: &str,
        email: &str,
        token_hash: &str,
        expiry: i64,
    ) -> SResult<()> {
        traced(
            tenant_span!(self, "storage.ev_token_create", tenant),
            self.0.ev_token_create(tenant, user_id, email, token_hash, expiry),
        )
        .await
    }
    async fn ev_token_consume(
        &self,
        tenant: &TenantIdentifier,
        token_hash: &str,
        now_ms: i64,
    ) -> SResult<Option<(String, String)>> {
        traced(
            tenant_span!(self, "storage.ev_token_consume", tenant),
            self.0.ev_token_consume(tenant, token_hash, now_ms),
        )
        .await
    }
    async fn ev_tokens_delete(&self, tenant: &TenantIdentifier, user_id: &str, email: &str) -> SResult<()> {
        traced(tenant_span!(self, "storage.ev_tokens_delete", tenant), self.0.ev_tokens_delete(tenant, user_id, email))
            .await
    }
    async fn ev_is_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<bool> {
        traced(app_span!(self, "storage.ev_is_verified", app), self.0.ev_is_verified(app, user_id, email)).await
    }
    async fn ev_set_verified(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        traced(app_span!(self, "storage.ev_set_verified", app), self.0.ev_set_verified(app, user_id, email)).await
    }
    async fn ev_unverify(&self, app: &AppId, user_id: &str, email: &str) -> SResult<()> {
        traced(app_span!(self, "storage.ev_unverify", app), self.0.ev_unverify(app, user_id, email)).await
    }
    async fn delete_expired_ev_tokens(&self, now_ms: i64) -> SResult<u64> {
        traced(span!(self, "storage.delete_expired_ev_tokens"), self.0.delete_expired_ev_tokens(now_ms)).await
    }

    async fn metadata_get(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>> {
        traced(app_span!(self, "storage.metadata_get", app), self.0.metadata_get(app, user_id)).await
    }
    async fn metadata_get_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<std::collections::HashMap<String, serde_json::Map<String, serde_json::Value>>> {
        traced(app_span!(self, "storage.metadata_get_many", app), self.0.metadata_get_many(app, user_ids)).await
    }
    async fn metadata_update(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>> {
        traced(app_span!(self, "storage.metadata_update", app), self.0.metadata_update(app, user_id, update)).await
    }
    async fn metadata_delete(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        traced(app_span!(self, "storage.metadata_delete", app), self.0.metadata_delete(app, user_id)).await
    }

    async fn role_upsert(&self, app: &AppId, role: &str, permissions: &[String]) -> SResult<bool> {
        traced(app_span!(self, "storage.role_upsert", app), self.0.role_upsert(app, role, permissions)).await
    }
    async fn role_permissions(&self, app: &AppId, role: &str) -> SResult<Option<Vec<String>>> {
        traced(app_span!(self, "storage.role_permissions", app), self.0.role_permissions(app, role)).await
    }
    async fn role_remove_permissions(&self, app: &AppId, role: &str, permissions: Option<&[String]>) -> SResult<bool> {
        traced(
            app_span!(self, "storage.role_remove_permissions", app),
            self.0.role_remove_permissions(app, role, permissions),
        )
        .await
    }
    async fn roles_with_permission(&self, app: &AppId, permission: &str) -> SResult<Vec<String>> {
        traced(app_span!(self, "storage.roles_with_permission", app), self.0.roles_with_permission(app, permission))
            .await
    }
    async fn role_delete(&self, app: &AppId, role: &str) -> SResult<bool> {
        traced(app_span!(self, "storage.role_delete", app), self.0.role_delete(app, role)).await
    }
    async fn roles_list(&self, app: &AppId) -> SResult<Vec<String>> {
        traced(app_span!(self, "storage.roles_list", app), self.0.roles_list(app)).await
    }
    async fn user_role_add(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        traced(tenant_span!(self, "storage.user_role_add", tenant), self.0.user_role_add(tenant, user_id, role)).await
    }
    async fn user_role_remove(&self, tenant: &TenantIdentifier, user_id: &str, role: &str) -> SResult<RoleResult> {
        traced(tenant_span!(self, "storage.user_role_remove", tenant), self.0.user_role_remove(tenant, user_id, role))
            .await
    }
    async fn user_roles(&self, tenant: &TenantIdentifier, user_id: &str) -> SResult<Vec<String>> {
        traced(tenant_span!(self, "storage.user_roles", tenant), self.0.user_roles(tenant, user_id)).await
    }
    async fn role_users(&self, tenant: &TenantIdentifier, role: &str) -> SResult<Option<Vec<String>>> {
        traced(tenant_span!(self, "storage.role_users", tenant), self.0.role_users(tenant, role)).await
    }

    async fn mapping_create(
        &self,
        app: &AppId,
        mapping: &UserIdMapping,
        move_verification: bool,
    ) -> SResult<MappingCreate> {
        traced(app_span!(self, "storage.mapping_create", app), self.0.mapping_create(app, mapping, move_verification))
            .await
    }

    async fn user_id_uses(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<Vec<UserIdUse>> {
        traced(app_span!(self, "storage.user_id_uses", app), self.0.user_id_uses(app, user_id, now_ms)).await
    }
    async fn mapping_get(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<Option<UserIdMapping>> {
        traced(app_span!(self, "storage.mapping_get", app), self.0.mapping_get(app, id, supertokens)).await
    }
    async fn mapping_delete(&self, app: &AppId, id: &str, supertokens: Option<bool>) -> SResult<bool> {
        traced(app_span!(self, "storage.mapping_delete", app), self.0.mapping_delete(app, id, supertokens)).await
    }
    async fn mapping_update_info(
        &self,
        app: &AppId,
        id: &str,
        supertokens: Option<bool>,
        info: Option<&str>,
    ) -> SResult<bool> {
        traced(
            app_span!(self, "storage.mapping_update_info", app),
            self.0.mapping_update_info(app, id, supertokens, info),
        )
        .await
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
    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64> {
        traced(app_span!(self, "storage.count_active_users", app), self.0.count_active_users(app, since_ms)).await
    }
    async fn delete_user(&self, app: &AppId, user_id: &str, ids: &[String]) -> SResult<()> {
        traced(app_span!(self, "storage.delete_user", app), self.0.delete_user(app, user_id, ids)).await
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
