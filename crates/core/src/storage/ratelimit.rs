//! Request rate-limit storage (our addition, issue 25, off by default): one shared counter per
//! app and per tenant, for the current fixed window, added to by every instance on one
//! database (see [`crate::ratelimit`]).

use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;

/// Which counter: the app's (all its tenants together) or one tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope<'a> {
    App,
    Tenant(&'a str),
}

impl RateScope<'_> {
    /// The `tenant_id` the counter is stored under (`""` for the app's: no tenant id is empty).
    pub fn stored_tenant(&self) -> &str {
        match self {
            RateScope::App => "",
            RateScope::Tenant(t) => t,
        }
    }
}

/// A counter as stored after an addition: the window it counts (epoch ms of its start) and the
/// requests all instances added to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateCount {
    pub window_start_ms: i64,
    pub count: i64,
}

#[async_trait]
pub trait RateLimitStorage: Send + Sync {
    /// Add `n` requests to the counter of (`app`, `scope`) for the window starting at
    /// `window_start_ms`, atomically, and return the counter as it is afterwards. A counter of
    /// an older window is restarted at `n` (one row per counter, nothing accumulates); one of a
    /// newer window (another instance's clock is ahead) is left as it is and returned (the
    /// caller sees the window differ). `TenantOrAppNotFound` when the app does not exist.
    async fn add_request_count(
        &self,
        app: &AppId,
        scope: RateScope<'_>,
        window_start_ms: i64,
        n: i64,
    ) -> SResult<RateCount>;
}
