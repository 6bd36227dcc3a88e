//! Sessions in memory ([`SessionStorage`]): the `session_info` rows. The store's one lock is
//! the row lock under which [`SessionStorage::update_session_atomically`] runs its decision.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use serde_json::Value;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{SResult, SessionDecider, SessionRow, SessionStorage};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

/// (tenant, session handle) -> row.
#[derive(Default)]
pub(crate) struct Tables {
    rows: HashMap<(TenantIdentifier, String), SessionRow>,
}

impl Tables {
    /// Whether the user has a session that expires at or after `now_ms`.
    pub fn has_live(&self, app: &AppId, user_id: &str, now_ms: i64) -> bool {
        self.rows.values().any(|r| &r.tenant.app == app && r.user_id == user_id && r.expires_at >= now_ms)
    }

    /// Drop the tenant's rows kept under any of these user ids (a user taken out of the tenant,
    /// [`st_core::storage::TenantStorage::remove_user_from_tenant`]); whether there were any.
    pub fn remove_user_from_tenant(&mut self, tenant: &TenantIdentifier, ids: &[String]) -> bool {
        let before = self.rows.len();
        self.rows.retain(|(t, _), r| !(t == tenant && ids.contains(&r.user_id)));
        self.rows.len() != before
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.rows.retain(|(t, _), _| t != tenant);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        self.rows.retain(|_, r| !(&r.tenant.app == app && ids.contains(&r.user_id)));
    }
}

#[async_trait]
impl SessionStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_session", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %row.tenant.app, tenant_id = %row.tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn create_session(&self, row: &SessionRow) -> SResult<()> {
        let mut s = self.lock();
        s.require_tenant(&row.tenant)?;
        s.sessions.rows.insert((row.tenant.clone(), row.handle.clone()), row.clone());
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_session", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>> {
        Ok(self.lock().sessions.rows.get(&(tenant.clone(), handle.to_string())).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_session_atomically", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>> {
        let mut s = self.lock();
        let Some(row) = s.sessions.rows.get_mut(&(tenant.clone(), handle.to_string())) else {
            return Ok(None);
        };
        let before = row.clone();
        if let Some(patch) = decide(&before) {
            if let Some(h) = patch.refresh_token_hash_2 {
                row.refresh_token_hash_2 = h;
            }
            if let Some(e) = patch.expires_at {
                row.expires_at = e;
            }
            if let Some(k) = patch.use_static_key {
                row.use_static_key = k;
            }
            if let Some(p) = patch.prev_refresh_token_hash_2 {
                row.prev_refresh_token_hash_2 = Some(p);
            }
            if let Some(t) = patch.refresh_token_rotated_at {
                row.refresh_token_rotated_at = Some(t);
            }
        }
        Ok(Some(before))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_sessions", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, count = handles.len(),
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>> {
        let mut s = self.lock();
        Ok(handles.iter().filter(|key| s.sessions.rows.remove(key).is_some()).map(|(_, h)| h.clone()).collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.session_handles_for_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app,
        tenant_id = tenant.map(|t| tracing::field::display(&t.tenant)), count = user_ids.len(),
        otel.status_code = Empty, error.type = Empty))]
    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>> {
        let s = self.lock();
        let mut out: Vec<(TenantIdentifier, String)> = s
            .sessions
            .rows
            .values()
            .filter(|r| &r.tenant.app == app && tenant.map(|t| t == &r.tenant).unwrap_or(true))
            .filter(|r| r.expires_at >= now_ms && user_ids.contains(&r.user_id))
            .map(|r| (r.tenant.clone(), r.handle.clone()))
            .collect();
        out.sort();
        Ok(out)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_session_data", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        let mut s = self.lock();
        match s.sessions.rows.get_mut(&(tenant.clone(), handle.to_string())) {
            Some(row) if row.expires_at > now_ms => {
                row.session_data = data.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_jwt_payload", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        let mut s = self.lock();
        match s.sessions.rows.get_mut(&(tenant.clone(), handle.to_string())) {
            Some(row) if row.expires_at > now_ms => {
                row.jwt_user_payload = payload.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_sessions", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let before = s.sessions.rows.len();
        s.sessions.rows.retain(|_, r| r.expires_at > now_ms);
        Ok((before - s.sessions.rows.len()) as u64)
    }
}
