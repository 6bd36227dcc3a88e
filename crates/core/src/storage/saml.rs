//! SAML storage: the IdP clients of a tenant (`saml_clients`) and the relay states of the
//! logins it started (`saml_relay_state`), in the reference's tables and columns, so that a
//! Java core reads our rows and we read its rows.

use super::SResult;
use crate::ids::TenantIdentifier;
use async_trait::async_trait;

/// One IdP client as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlClientRow {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The IdP's SSO URL (its HTTP-Redirect binding).
    pub sso_login_url: String,
    /// The allowed redirect URIs (stored as a JSON array, as the reference stores them).
    pub redirect_uris: Vec<String>,
    pub default_redirect_uri: String,
    pub idp_entity_id: String,
    /// The IdP's signing certificate: base64 of its DER, without whitespace.
    pub idp_signing_certificate: String,
    pub allow_idp_initiated_login: bool,
    pub enable_request_signing: bool,
}

/// A login the SP started: what the callback carrying `relay_state` resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlRelayStateRow {
    pub relay_state: String,
    pub client_id: String,
    pub state: Option<String>,
    pub redirect_uri: String,
    /// The ID of the AuthnRequest sent with this relay state (`InResponseTo` must name it);
    /// `None` for a relay state another core wrote (its table has no such column).
    pub request_id: Option<String>,
    /// The ACS URL the login named (`Destination` and `Recipient` must equal it); `None` as
    /// `request_id`.
    pub acs_url: Option<String>,
}

/// The claims of a verified assertion, redeemable once by their code (`saml_claims`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlClaimsRow {
    pub code: String,
    pub client_id: String,
    /// The claims object as JSON text (as the reference stores it).
    pub claims: String,
}

/// The outcome of [`SamlStorage::upsert_saml_client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlClientUpsert {
    /// Created or replaced (the creation time of a replaced client is kept).
    Saved,
    /// Another client of the tenant has this IdP entity id: nothing written.
    DuplicateEntityId,
}

#[async_trait]
pub trait SamlStorage: Send + Sync {
    /// Create the client, or replace the one with its id; refused when another client of the
    /// tenant holds its IdP entity id.
    async fn upsert_saml_client(
        &self,
        tenant: &TenantIdentifier,
        row: &SamlClientRow,
        now_ms: i64,
    ) -> SResult<SamlClientUpsert>;
    async fn get_saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> SResult<Option<SamlClientRow>>;
    async fn get_saml_client_by_entity_id(
        &self,
        tenant: &TenantIdentifier,
        idp_entity_id: &str,
    ) -> SResult<Option<SamlClientRow>>;
    /// The tenant's clients, oldest first.
    async fn list_saml_clients(&self, tenant: &TenantIdentifier) -> SResult<Vec<SamlClientRow>>;
    /// Remove the client; whether it existed.
    async fn remove_saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> SResult<bool>;
    /// Record a started login, valid until `expires_at`.
    async fn save_saml_relay_state(
        &self,
        tenant: &TenantIdentifier,
        row: &SamlRelayStateRow,
        now_ms: i64,
        expires_at: i64,
    ) -> SResult<()>;
    /// The started login of `relay_state`, unless it expired before `now_ms`.
    async fn get_saml_relay_state(
        &self,
        tenant: &TenantIdentifier,
        relay_state: &str,
        now_ms: i64,
    ) -> SResult<Option<SamlRelayStateRow>>;
    /// Accept a verified assertion: remember its id in the app until `assertion_valid_until`
    /// and save its claims under their code, valid until `expires_at`; `false` (nothing
    /// written) when the app already accepted an assertion with this id that is still
    /// remembered at `now_ms` (a replay, whichever instance saw it first).
    #[allow(clippy::too_many_arguments)]
    async fn save_saml_claims_once(
        &self,
        tenant: &TenantIdentifier,
        assertion_id: &str,
        assertion_valid_until: i64,
        claims: &SamlClaimsRow,
        now_ms: i64,
        expires_at: i64,
    ) -> SResult<bool>;
    /// Redeem a code: its claims (removed), unless unknown or expired before `now_ms`.
    async fn take_saml_claims(
        &self,
        tenant: &TenantIdentifier,
        code: &str,
        now_ms: i64,
    ) -> SResult<Option<SamlClaimsRow>>;
    /// Delete the relay states and claims of every tenant that expired before `now_ms`
    /// (the reference's `DeleteExpiredSAMLData`), and the assertion ids remembered until
    /// before `now_ms`; how many rows went.
    async fn delete_expired_saml_data(&self, now_ms: i64) -> SResult<u64>;
}
