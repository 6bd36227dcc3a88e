//! Sign-in lockout counters in memory ([`LockoutStorage`]): one row per (tenant, e-mail),
//! updated under the store's lock.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{LockoutRow, LockoutStorage, OnFailure, SResult};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    rows: HashMap<(TenantIdentifier, String), LockoutRow>,
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.rows.retain(|(t, _), _| t != tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.rows.retain(|(t, _), _| &t.app != app);
    }
}

#[async_trait]
impl LockoutStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.record_signin_failure", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn record_signin_failure(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        next: OnFailure<'_>,
    ) -> SResult<LockoutRow> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let key = (tenant.clone(), email.to_string());
        let row = next(s.lockout.rows.get(&key).copied());
        s.lockout.rows.insert(key, row);
        Ok(row)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.signin_lockout", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Option<LockoutRow>> {
        let s = self.lock();
        Ok(s.lockout.rows.get(&(tenant.clone(), email.to_string())).copied())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.clear_signin_lockout", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn clear_signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> SResult<bool> {
        let mut s = self.lock();
        Ok(s.lockout.rows.remove(&(tenant.clone(), email.to_string())).is_some())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_signin_lockouts",
        skip_all, fields(otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_signin_lockouts(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let rows = &mut s.lockout.rows;
        let n = rows.len();
        rows.retain(|_, r| r.expires_at_ms() > now_ms);
        Ok((n - rows.len()) as u64)
    }
}
