//! Dashboard storage: the users of the user-management dashboard (`dashboard_users`, app-wide,
//! an e-mail unique per app) and their sessions (`dashboard_user_sessions`, removed with their
//! user). Nothing here is a login method of the app's own users.

use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;

/// A dashboard user (`dashboard_users`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardUserRow {
    /// A UUID (the column is `CHAR(36)`).
    pub user_id: String,
    /// Normalised (trimmed, lower-cased), at most 256 characters.
    pub email: String,
    /// The password hash, in any format the e-mail-password recipe verifies.
    pub password_hash: String,
    pub time_joined: i64,
}

/// A dashboard session (`dashboard_user_sessions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSessionRow {
    /// A UUID (the column is `CHAR(36)`).
    pub session_id: String,
    pub user_id: String,
    pub time_created: i64,
    pub expiry: i64,
}

/// What adding a dashboard user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateDashboardUserResult {
    Created,
    /// The app has a dashboard user with this e-mail.
    EmailExists,
    /// The app has a dashboard user with this id (the caller draws another).
    UserIdExists,
}

/// What updating a dashboard user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateDashboardUserResult {
    /// Updated, and every session of the user revoked; the user as it is now.
    Updated(DashboardUserRow),
    UnknownUser,
    /// Another dashboard user of the app has the new e-mail (nothing changed).
    EmailExists,
}

/// What adding a dashboard session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateDashboardSessionResult {
    Created,
    /// The user is gone (removed meanwhile).
    UnknownUser,
    /// The app has a session with this id (the caller draws another).
    SessionIdExists,
}

#[async_trait]
pub trait DashboardStorage: Send + Sync {
    /// Add a dashboard user unless the app has one with the same e-mail or id.
    async fn create_dashboard_user(&self, app: &AppId, user: &DashboardUserRow) -> SResult<CreateDashboardUserResult>;

    /// The app's dashboard users, oldest first (`time_joined`, then user id).
    async fn dashboard_users(&self, app: &AppId) -> SResult<Vec<DashboardUserRow>>;

    /// The app's dashboard user with this (normalised) e-mail.
    async fn dashboard_user_by_email(&self, app: &AppId, email: &str) -> SResult<Option<DashboardUserRow>>;

    /// Set the user's e-mail and/or password hash (`None` keeps it) and revoke all of its
    /// sessions, in one go; with neither given the sessions are still revoked (as the
    /// reference's update does).
    async fn update_dashboard_user(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateDashboardUserResult>;

    /// Remove a dashboard user with its sessions; whether it existed.
    async fn delete_dashboard_user(&self, app: &AppId, user_id: &str) -> SResult<bool>;

    /// Add a session of an existing dashboard user.
    async fn create_dashboard_session(
        &self,
        app: &AppId,
        session: &DashboardSessionRow,
    ) -> SResult<CreateDashboardSessionResult>;

    /// The session with this id, with its user's e-mail (expired or not).
    async fn dashboard_session(&self, app: &AppId, session_id: &str) -> SResult<Option<(DashboardSessionRow, String)>>;

    /// The user's sessions (expired or not), oldest first (`time_created`, then session id).
    async fn dashboard_sessions_of_user(&self, app: &AppId, user_id: &str) -> SResult<Vec<DashboardSessionRow>>;

    /// Remove a session; whether it existed.
    async fn revoke_dashboard_session(&self, app: &AppId, session_id: &str) -> SResult<bool>;

    /// Remove every app's sessions whose expiry is before `now` (the reference's
    /// `expiry < now`); how many.
    async fn delete_expired_dashboard_sessions(&self, now: i64) -> SResult<u64>;
}
