//! OAuth2 provider storage: the clients and the issued tokens' bookkeeping. The reference keeps a client's id, its encrypted
//! secret and two flags in `oauth_clients` (the rest of the client lived in Ory Hydra); the
//! native provider keeps the rest beside it, in `oauth_client_configs` (docs/SCHEMA.md).

use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// One client as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClientRow {
    pub client_id: String,
    /// The secret encrypted as the reference stores it (`oauth_clients.client_secret`);
    /// `None` for a public client.
    pub client_secret: Option<String>,
    pub is_client_credentials_only: bool,
    pub enable_refresh_token_rotation: bool,
    /// The client's configuration (Hydra's client fields, camelCase, without the secret);
    /// `None` for a client a Java core created (its configuration is in its Hydra).
    pub config: Option<Map<String, Value>>,
}

/// An RFC 6749-style refusal: `{error, errorDescription, statusCode}` inside `OAUTH_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthRefusal {
    pub error: String,
    pub description: String,
    pub status_code: u16,
}

/// What an update decides from the current row: the new row, or a refusal (nothing written).
pub type ClientUpdater<'a> = &'a (dyn Fn(&OAuthClientRow) -> Result<OAuthClientRow, OAuthRefusal> + Send + Sync);

/// The outcome of [`OAuthStorage::update_oauth_client`].
#[derive(Debug, Clone, PartialEq)]
pub enum ClientUpdateOutcome {
    Updated(OAuthClientRow),
    Refused(OAuthRefusal),
    NotFound,
}

/// A row of the reference's `oauth_sessions` as `createOrUpdateOAuthSession` writes it: the
/// tokens of one grant (`gid`), the access tokens' `jti`s appended to the row's list (an access
/// token is live while its jti is listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSessionUpsert {
    pub gid: String,
    pub client_id: String,
    pub session_handle: Option<String>,
    pub external_refresh_token: Option<String>,
    pub internal_refresh_token: Option<String>,
    pub jti: String,
    /// Seconds since the epoch.
    pub exp: i64,
}

/// One step of the authorization-code flow kept until it is used or expires (V5
/// `oauth_flow_items`): a login or consent challenge, a login or consent verifier, an
/// authorization code or a refresh token, keyed by the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthFlowItem {
    /// `login_challenge`, `login_verifier`, `consent_challenge`, `consent_verifier`, `code`,
    /// `refresh_token`.
    pub kind: String,
    /// SHA-256 hex of the challenge, verifier, code or token.
    pub key: String,
    pub client_id: String,
    /// The flow's state (JSON text).
    pub value: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// What [`OAuthStorage::take_oauth_flow_item`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowTake {
    /// It was unused and live: now used, and the follow-up written.
    Taken(String),
    /// It was used already (nothing written): its value, to revoke what it issued.
    Used(String),
    /// Unknown or expired.
    Missing,
}

/// A row of the reference's `oauth_logout_challenges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthLogoutChallenge {
    pub challenge: String,
    pub client_id: String,
    pub post_logout_redirect_uri: Option<String>,
    pub session_handle: Option<String>,
    pub state: Option<String>,
    pub time_created: i64,
}

#[async_trait]
pub trait OAuthStorage: Send + Sync {
    /// Insert a new client (both tables); `false` (nothing written) when the id is taken.
    async fn create_oauth_client(&self, app: &AppId, row: &OAuthClientRow) -> SResult<bool>;
    async fn get_oauth_client(&self, app: &AppId, client_id: &str) -> SResult<Option<OAuthClientRow>>;
    /// Replace the client by what `update` decides from its current row, atomically (a
    /// concurrent update is applied before or after, never interleaved).
    async fn update_oauth_client(
        &self,
        app: &AppId,
        client_id: &str,
        update: ClientUpdater<'_>,
    ) -> SResult<ClientUpdateOutcome>;
    /// The app's clients by ascending client id, those after `after` (exclusive), at most
    /// `limit`; with `client_name`, only those whose configured `clientName` is that.
    async fn list_oauth_clients(
        &self,
        app: &AppId,
        client_name: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> SResult<Vec<OAuthClientRow>>;
    /// Remove the client and everything it holds; whether it existed.
    async fn delete_oauth_client(&self, app: &AppId, client_id: &str) -> SResult<bool>;

    /// Record issued tokens in one go: the `oauth_sessions` row upserted (the jti appended), and
    /// for a client-credentials token its `(iat, exp)` (seconds) in `oauth_m2m_tokens`.
    async fn record_oauth_tokens(
        &self,
        app: &AppId,
        session: &OAuthSessionUpsert,
        m2m: Option<(i64, i64)>,
    ) -> SResult<()>;
    /// Whether the access token `jti` of grant `gid` is live (listed).
    async fn oauth_jti_active(&self, app: &AppId, gid: &str, jti: &str) -> SResult<bool>;
    /// Revoke one access token: its jti leaves the grant's list.
    async fn revoke_oauth_jti(&self, app: &AppId, gid: &str, jti: &str) -> SResult<()>;
    /// Revoke every token of a client (its `oauth_sessions` rows go).
    async fn revoke_oauth_tokens_of_client(&self, app: &AppId, client_id: &str) -> SResult<()>;
    /// Revoke every token issued for a SuperTokens session.
    async fn revoke_oauth_tokens_of_session(&self, app: &AppId, session_handle: &str) -> SResult<()>;
    /// Remove, in every app, the grants and client-credentials stats rows whose `exp` (seconds)
    /// is before `before_s`; how many rows went.
    async fn delete_expired_oauth_tokens(&self, before_s: i64) -> SResult<u64>;

    /// Insert (or replace) a flow item; its client must exist.
    async fn put_oauth_flow_item(&self, app: &AppId, item: &OAuthFlowItem) -> SResult<()>;
    /// The value of an unused flow item live at `now` (ms).
    async fn get_oauth_flow_item(&self, app: &AppId, kind: &str, key: &str, now: i64) -> SResult<Option<String>>;
    /// Use a flow item once, atomically across instances: when it is unused and live at `now`
    /// it is marked used and, in the same transaction, `follow` is written and `session`
    /// recorded (the grant's `oauth_sessions` row, its jti appended); of two racing takers one
    /// gets [`FlowTake::Taken`], the other [`FlowTake::Used`].
    async fn take_oauth_flow_item(
        &self,
        app: &AppId,
        kind: &str,
        key: &str,
        now: i64,
        follow: &[OAuthFlowItem],
        session: Option<&OAuthSessionUpsert>,
    ) -> SResult<FlowTake>;
    /// Whether the grant `gid` has its `oauth_sessions` row (is not revoked).
    async fn oauth_grant_active(&self, app: &AppId, gid: &str) -> SResult<bool>;
    /// Revoke every token of the grant `gid` (its `oauth_sessions` row goes).
    async fn revoke_oauth_grant(&self, app: &AppId, gid: &str) -> SResult<()>;
    /// Record a logout challenge; `false` when the challenge is taken.
    async fn create_oauth_logout_challenge(&self, app: &AppId, c: &OAuthLogoutChallenge) -> SResult<bool>;
    /// Remove a logout challenge and return it (`None` when unknown).
    async fn take_oauth_logout_challenge(&self, app: &AppId, challenge: &str) -> SResult<Option<OAuthLogoutChallenge>>;
}
