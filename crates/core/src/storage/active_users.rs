//! `user_last_active`: when each user was last active, for the active-user counts.

use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;

#[async_trait]
pub trait ActiveUsersStorage: Send + Sync {
    /// Record `user_id` as active at `now_ms` (upsert).
    async fn touch_user_last_active(&self, app: &AppId, user_id: &str, now_ms: i64) -> SResult<()>;
    /// Users of the app active at or after `since_ms`.
    async fn count_active_users(&self, app: &AppId, since_ms: i64) -> SResult<u64>;
}
