//! Multitenancy storage: apps, tenants and their stored configuration (`apps`, `tenants`,
//! `tenant_configs`, the factor tables and the third-party provider tables), and removal of a
//! tenant or app with all its data.

use super::SResult;
use crate::ids::{AppId, ConnectionUriDomain, TenantIdentifier};
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

/// What [`TenantStorage::add_user_to_tenant`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddUserToTenant {
    /// The login method now belongs to the tenant too.
    Added,
    /// It already did; nothing changed.
    AlreadyAssociated,
    /// No login method has this id.
    UnknownUser,
    /// Another login method of the same recipe has its e-mail in the tenant.
    EmailAlreadyExists,
    /// Another passwordless login method has its phone number in the tenant.
    PhoneNumberAlreadyExists,
    /// Another third-party login method has its provider pair in the tenant.
    ThirdPartyUserAlreadyExists,
    /// The login method belongs to a primary user (account linking), and another primary user
    /// already holds one of its group's account infos there (the reference's
    /// `AnotherPrimaryUserWith…AlreadyExistsException`).
    PrimaryUserConflict { info: AccountInfoKind, primary_user_id: String },
}

/// A kind of account info that may not be shared by two primary users of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountInfoKind {
    Email,
    PhoneNumber,
    ThirdParty,
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
    /// Every tenant of every app of every connection-URI domain.
    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>>;
    /// One tenant, in the domain its identifier names, if it exists there.
    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>>;
    /// Create the tenant in its domain (and its app's and tenant's rows in the user pool, if
    /// no domain had them) or replace its configuration, except its third-party providers,
    /// which stay as stored (a new tenant has none). Returns whether it was created in the
    /// domain. A non-public tenant of an app that its domain does not have is
    /// `TenantOrAppNotFound`.
    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool>;
    /// Delete a tenant from its domain, and, when no other domain names it, every piece of
    /// data that belongs to it. Returns whether it existed in the domain.
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool>;
    /// Delete an app and all its tenants from its domain, and the data of those that no other
    /// domain names. Returns whether it existed in the domain.
    async fn delete_app(&self, app: &AppId) -> SResult<bool>;
    /// Delete every app and tenant of a connection-URI domain, and the data of those that no
    /// other domain names. Returns whether the domain had any.
    async fn delete_connection_uri_domain(&self, domain: &ConnectionUriDomain) -> SResult<bool>;
    /// Create or replace (with its clients) the tenant's provider with this
    /// `third_party_id`. Returns whether it was created. A missing tenant is
    /// `TenantOrAppNotFound`.
    async fn upsert_thirdparty_provider(&self, id: &TenantIdentifier, provider: &ThirdPartyProvider) -> SResult<bool>;
    /// Remove the tenant's provider with this id (and its clients). Returns whether it existed.
    async fn delete_thirdparty_provider(&self, id: &TenantIdentifier, third_party_id: &str) -> SResult<bool>;
    /// Add an existing login method (a supertokens recipe user id) to `tenant`, atomically with
    /// the checks that keep account infos unique there: first, when the login method belongs to
    /// a primary user, that no other primary user of the tenant has one of its group's e-mails,
    /// phone numbers or provider pairs; then its own recipe's uniqueness in the tenant (the
    /// e-mail of an email-password or WebAuthn user, the e-mail and phone number of a
    /// passwordless one, the provider pair of a third-party one). A missing tenant is
    /// `TenantOrAppNotFound`.
    async fn add_user_to_tenant(&self, tenant: &TenantIdentifier, recipe_user_id: &str) -> SResult<AddUserToTenant>;
    /// Take a user out of `tenant`, atomically: the login method `recipe_user_id` (if given)
    /// leaves the tenant, and the tenant's sessions, e-mail verification tokens, roles and TOTP
    /// codes kept under any of `data_ids` go. Returns whether anything was removed.
    async fn remove_user_from_tenant(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: Option<&str>,
        data_ids: &[String],
    ) -> SResult<bool>;
}
