//! Multitenancy in memory: the apps' and tenants' records ([`TenantStorage`]), with their
//! third-party providers. Removing a tenant or an app removes its record here and cascades to
//! every recipe's tables through [`crate::State`].

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{traced_error, SResult, TenantRecord, TenantStorage, ThirdPartyProvider};
use st_core::StorageError;
use std::collections::BTreeMap;
use tracing::field::Empty;
use tracing::instrument;

/// `tenants` (with their stored configuration); an app exists while its `public` tenant does.
#[derive(Default)]
pub(crate) struct Tables {
    records: BTreeMap<TenantIdentifier, TenantRecord>,
}

impl Tables {
    pub fn exists(&self, t: &TenantIdentifier) -> bool {
        self.records.contains_key(t)
    }

    /// Insert or replace the record; returns whether it is new.
    pub fn insert(&mut self, record: TenantRecord) -> bool {
        self.records.insert(record.id.clone(), record).is_none()
    }

    /// The ids of the app's tenants.
    pub fn of_app(&self, app: &AppId) -> Vec<TenantIdentifier> {
        self.records.keys().filter(|t| &t.app == app).cloned().collect()
    }
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.records.remove(tenant);
    }

    fn remove_app(&mut self, app: &AppId) {
        self.records.retain(|t, _| &t.app != app);
    }
}

#[async_trait]
impl TenantStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.health_check", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn health_check(&self) -> SResult<()> {
        drop(self.lock());
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.list_tenants", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>> {
        Ok(self.lock().tenants.records.values().cloned().collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>> {
        Ok(self.lock().tenants.records.get(id).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.upsert_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %record.id.app, tenant_id = %record.id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn upsert_tenant(&self, record: &TenantRecord, _now_ms: i64) -> SResult<bool> {
        let mut s = self.lock();
        if !record.id.tenant.is_public() {
            s.require_tenant(&TenantIdentifier::app_public(&record.id.app))?;
        }
        let mut record = record.clone();
        record.third_party_providers =
            s.tenants.records.get(&record.id).map(|r| r.third_party_providers.clone()).unwrap_or_default();
        Ok(s.tenants.insert(record))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_tenant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        let mut s = self.lock();
        let existed = s.tenants.exists(id);
        s.remove_tenant(id);
        Ok(existed)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_app", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        Ok(self.lock().remove_app(app))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.upsert_thirdparty_provider", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn upsert_thirdparty_provider(&self, id: &TenantIdentifier, provider: &ThirdPartyProvider) -> SResult<bool> {
        let mut s = self.lock();
        let Some(record) = s.tenants.records.get_mut(id) else {
            return Err(traced_error(StorageError::TenantOrAppNotFound));
        };
        let mut provider = provider.clone();
        provider.clients.sort_by(|a, b| a.client_type.cmp(&b.client_type));
        let providers = &mut record.third_party_providers;
        let created = match providers.iter_mut().find(|p| p.third_party_id == provider.third_party_id) {
            Some(existing) => {
                *existing = provider;
                false
            }
            None => {
                providers.push(provider);
                true
            }
        };
        providers.sort_by(|a, b| a.third_party_id.cmp(&b.third_party_id));
        Ok(created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_thirdparty_provider", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %id.app, tenant_id = %id.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn delete_thirdparty_provider(&self, id: &TenantIdentifier, third_party_id: &str) -> SResult<bool> {
        let mut s = self.lock();
        let Some(record) = s.tenants.records.get_mut(id) else { return Ok(false) };
        let before = record.third_party_providers.len();
        record.third_party_providers.retain(|p| p.third_party_id != third_party_id);
        Ok(record.third_party_providers.len() != before)
    }
}
