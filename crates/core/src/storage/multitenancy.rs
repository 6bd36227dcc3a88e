//! Multitenancy storage: apps, tenants and their stored configuration (`apps`, `tenants`,
//! `tenant_configs`, the factor tables and the third-party provider tables), and removal of a
//! tenant or app with all its data.

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
    /// The tenant's third-party providers (`tenant_thirdparty_providers` and their clients),
    /// ordered by id. Written only by [`TenantStorage::upsert_thirdparty_provider`] and
    /// [`TenantStorage::delete_thirdparty_provider`]; [`TenantStorage::upsert_tenant`] keeps them.
    pub third_party_providers: Vec<ThirdPartyProvider>,
}

/// A third-party provider of a tenant, as the reference's `ThirdPartyConfig.Provider` (one
/// `tenant_thirdparty_providers` row with its `tenant_thirdparty_provider_clients`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThirdPartyProvider {
    pub third_party_id: String,
    pub name: Option<String>,
    /// Ordered by client type (`None`, stored as `''`, first).
    pub clients: Vec<ProviderClient>,
    pub authorization_endpoint: Option<String>,
    pub authorization_endpoint_query_params: Option<Map<String, Value>>,
    pub token_endpoint: Option<String>,
    pub token_endpoint_body_params: Option<Map<String, Value>>,
    pub user_info_endpoint: Option<String>,
    pub user_info_endpoint_query_params: Option<Map<String, Value>>,
    pub user_info_endpoint_headers: Option<Map<String, Value>>,
    pub jwks_uri: Option<String>,
    pub oidc_discovery_endpoint: Option<String>,
    pub require_email: Option<bool>,
    pub user_info_map: UserInfoMap,
}

/// Where a provider's user id, e-mail and e-mail-verified flag are read from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserInfoMap {
    pub from_id_token_payload: UserInfoMapFields,
    pub from_user_info_api: UserInfoMapFields,
}

/// The claim names of one source of [`UserInfoMap`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserInfoMapFields {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<String>,
}

/// One client of a provider (`tenant_thirdparty_provider_clients`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProviderClient {
    /// `None` is stored as `''` (the column is part of the key).
    pub client_type: Option<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// A `null` element is kept as the reference keeps it (written with `skipValidation`).
    pub scope: Option<Vec<Option<String>>>,
    pub force_pkce: Option<bool>,
    pub additional_config: Option<Map<String, Value>>,
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
            third_party_providers: Vec::new(),
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
    /// configuration, except its third-party providers, which stay as stored (a new tenant has
    /// none). Returns whether it was created. A non-public tenant of a missing app is
    /// `TenantOrAppNotFound`.
    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool>;
    /// Delete a tenant and every piece of data that belongs to it. Returns whether it existed.
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool>;
    /// Delete an app, all its tenants and all their data. Returns whether it existed.
    async fn delete_app(&self, app: &AppId) -> SResult<bool>;
    /// Create or replace (with its clients) the tenant's provider with this
    /// `third_party_id`. Returns whether it was created. A missing tenant is
    /// `TenantOrAppNotFound`.
    async fn upsert_thirdparty_provider(&self, id: &TenantIdentifier, provider: &ThirdPartyProvider) -> SResult<bool>;
    /// Remove the tenant's provider with this id (and its clients). Returns whether it existed.
    async fn delete_thirdparty_provider(&self, id: &TenantIdentifier, third_party_id: &str) -> SResult<bool>;
}
