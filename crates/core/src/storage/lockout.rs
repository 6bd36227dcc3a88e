//! Sign-in lockout storage (our addition, off by default): one failure counter per
//! (app, tenant, normalised e-mail), shared by every instance on one database.

use super::SResult;
use crate::ids::TenantIdentifier;
use async_trait::async_trait;

/// The counter of one (tenant, e-mail). All times are epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutRow {
    /// Failed sign-ins counted in the current window.
    pub failures: i64,
    /// When the current counting window ends (failures after it start a new window).
    pub window_end_ms: i64,
    /// Until when sign-ins are refused; 0 when not locked.
    pub locked_until_ms: i64,
}

impl LockoutRow {
    /// When the row stops mattering (the cron job deletes it after that).
    pub fn expires_at_ms(&self) -> i64 {
        self.window_end_ms.max(self.locked_until_ms)
    }

    pub fn locked_at(&self, now_ms: i64) -> bool {
        self.locked_until_ms > now_ms
    }
}

/// The new row after one more failure, from the current one (`None`: no row); the backend runs
/// it under its lock (a row lock in PostgreSQL).
pub type OnFailure<'a> = &'a (dyn Fn(Option<LockoutRow>) -> LockoutRow + Send + Sync);

#[async_trait]
pub trait LockoutStorage: Send + Sync {
    /// Count one failed sign-in: store `next(current row)` atomically and return it.
    async fn record_signin_failure(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        next: OnFailure<'_>,
    ) -> SResult<LockoutRow>;
    /// The counter of (tenant, e-mail), if any (possibly expired; the caller reads the times).
    async fn signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Option<LockoutRow>>;
    /// Remove the counter of (tenant, e-mail); whether there was one.
    async fn clear_signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> SResult<bool>;
    /// Delete every counter whose `expires_at_ms` is at or before `now_ms`; how many.
    async fn delete_expired_signin_lockouts(&self, now_ms: i64) -> SResult<u64>;
}
