//! The `key_value` table in memory ([`KeyValueStorage`]): small named values per tenant.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::TenantIdentifier;
use st_core::storage::{KeyValueStorage, SResult};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

/// (tenant, name) -> (value, created at).
#[derive(Default)]
pub(crate) struct Tables {
    values: HashMap<(TenantIdentifier, String), (String, i64)>,
}

impl Tables {
    /// Remove a value, returning it with its creation time.
    pub(crate) fn take(&mut self, tenant: &TenantIdentifier, name: &str) -> Option<(String, i64)> {
        self.values.remove(&(tenant.clone(), name.to_string()))
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.values.retain(|(t, _), _| t != tenant);
    }
}

#[async_trait]
impl KeyValueStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.get_key_value", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        Ok(self.lock().key_value.values.get(&(tenant.clone(), name.to_string())).map(|(v, _)| v.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.set_key_value", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn set_key_value(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        s.key_value.values.insert((tenant.clone(), name.to_string()), (value.to_string(), now_ms));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_key_value", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool> {
        Ok(self.lock().key_value.values.remove(&(tenant.clone(), name.to_string())).is_some())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_or_insert_key_value", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_or_insert_key_value(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> SResult<String> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let entry = s.key_value.values.entry((tenant.clone(), name.to_string()));
        Ok(entry.or_insert_with(|| (value.to_string(), now_ms)).0.clone())
    }
}
