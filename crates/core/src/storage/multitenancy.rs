//! Multitenancy storage: apps, tenants and their stored configuration (`apps`, `tenants`,
//! `tenant_configs` and the factor tables), and removal of a tenant or app with all its data.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;
use serde_json::{Map, Value};

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
}
