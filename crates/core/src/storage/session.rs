//! Session storage: `session_info` rows, changed atomically under a pure decision.

use super::SResult;
use crate::ids::{AppId, TenantIdentifier};
use async_trait::async_trait;
use serde_json::Value;

/// A `session_info` row.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub tenant: TenantIdentifier,
    pub handle: String,
    /// Recipe user id as given by the caller.
    pub user_id: String,
    pub refresh_token_hash_2: String,
    pub session_data: Value,
    pub expires_at: i64,
    pub created_at: i64,
    pub jwt_user_payload: Value,
    pub use_static_key: bool,
    /// The hash (`sha256(sha256(token))`) the current one replaced at its last rotation, which
    /// may rotate again within the grace period (CDI 5.6; also written by older refreshes so
    /// sessions can move between versions).
    pub prev_refresh_token_hash_2: Option<String>,
    /// When `refresh_token_hash_2` last replaced `prev_refresh_token_hash_2` (ms).
    pub refresh_token_rotated_at: Option<i64>,
}

/// Changes to apply to a session row inside [`SessionStorage::update_session_atomically`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPatch {
    pub refresh_token_hash_2: Option<String>,
    pub expires_at: Option<i64>,
    pub use_static_key: Option<bool>,
    pub prev_refresh_token_hash_2: Option<String>,
    pub refresh_token_rotated_at: Option<i64>,
}

/// Pure decision made while the row is locked: what to change, if anything.
pub type SessionDecider<'a> = &'a (dyn Fn(&SessionRow) -> Option<SessionPatch> + Send + Sync);

#[async_trait]
pub trait SessionStorage: Send + Sync {
    /// Insert a new session. `TenantOrAppNotFound` if the tenant does not exist.
    async fn create_session(&self, row: &SessionRow) -> SResult<()>;
    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>>;
    /// Lock the row, let `decide` look at it, apply the patch it returns, all atomically.
    /// Returns the row as it was before the patch (`None` if missing).
    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>>;
    /// Delete sessions by handle (each with its tenant); return the handles that existed.
    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>>;
    /// Handles of the non-expired sessions of these users, in one tenant or (None) all of the app's.
    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>>;
    /// Replace `session_data` of a non-expired session; false if missing.
    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool>;
    /// Replace `jwt_user_payload` of a non-expired session; false if missing.
    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool>;
    /// Cron: delete sessions whose `expires_at <= now`. Returns how many.
    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64>;
}

/// See [`super::Storage::update_session_resolved`]: the condition under which a session refresh
/// succeeds, as far as the stored row decides it.
#[derive(Debug, Clone, Copy)]
pub struct TouchIfCurrent<'a> {
    pub refresh_token_hashes_2: &'a [&'a str],
    pub now_ms: i64,
}

impl TouchIfCurrent<'_> {
    pub fn matches(&self, row: &SessionRow) -> bool {
        row.expires_at >= self.now_ms && self.refresh_token_hashes_2.contains(&row.refresh_token_hash_2.as_str())
    }
}

/// What [`super::Storage::update_session_resolved`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSession {
    /// The row as read, before any patch.
    pub row: SessionRow,
    /// The identity of `row.user_id`; `None`: the id names no user.
    pub identity: Option<SessionIdentity>,
    /// Whether the backend already judged `touch` (and recorded the activity if it matched).
    pub activity_recorded: bool,
}

/// Who a session belongs to: the recipe user and its primary user, with external ids.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionIdentity {
    pub recipe_user_id: String,
    pub primary_user_id: String,
    pub recipe_external_id: Option<String>,
    pub primary_external_id: Option<String>,
}

impl SessionIdentity {
    /// `(userId, recipeUserId)` as a session reports them: external ids where mapped. An id
    /// that names no user (sessions may be created for any id) is reported as given.
    pub fn reported(identity: Option<SessionIdentity>, given: &str) -> (String, String) {
        match identity {
            Some(id) => (
                id.primary_external_id.unwrap_or(id.primary_user_id),
                id.recipe_external_id.unwrap_or(id.recipe_user_id),
            ),
            None => (given.to_string(), given.to_string()),
        }
    }

    /// The id a session's activity is recorded under in `user_last_active`: the primary user's
    /// supertokens id (never the external one, so that a mapping does not split a user's
    /// activity, and linked login methods count once), or the id as given when it names no user.
    pub fn active_user(identity: Option<&SessionIdentity>, given: &str) -> String {
        identity.map_or_else(|| given.to_string(), |id| id.primary_user_id.clone())
    }
}
