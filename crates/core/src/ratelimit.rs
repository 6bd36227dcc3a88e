//! Per-app and per-tenant request rate limits (our addition, issue 25; off by default).
//!
//! The caller of this server is the application backend, not the end user, so the limits
//! protect the server (and the other apps and tenants on it) from a runaway backend: they count
//! an app's requests (`rate_limit_app_requests`, all its tenants together) and a tenant's
//! (`rate_limit_tenant_requests`) in fixed windows of `rate_limit_window_seconds`. A request
//! over either limit is refused (HTTP 429 with `Retry-After`, see `st_http`) and is not counted.
//!
//! Counted across instances through the storage without a round trip per request: each
//! instance counts locally per counter and window, and adds its count to the shared counter
//! (one row per app and per tenant, see [`crate::storage::RateLimitStorage`]) reading back the
//! total in the same statement, when
//! * the counter's last flush is [`FLUSH_INTERVAL_MS`] old (the first request of a window
//!   always flushes), or
//! * its unflushed count reaches its share, a twentieth of the limit ([`SHARE_DIVISOR`]), or
//! * it refuses a request while it holds unflushed requests.
//!
//! A request is admitted while the last known total plus what this instance counted since is
//! below the limit. Under 40 (a share of 1: [`exact`]) the request whose admission triggered a
//! flush waits for it and is decided by the fresh total, so every request is counted in the
//! storage first and the limit is exact across instances. From 40 up the flush runs in a task
//! beside the request, which no request waits for (waiting put PostgreSQL's round trips into the
//! verify p99, docs/BENCHMARKS.md). What an instance does not see is what the others admitted
//! since its last flush, so a window admits at most about
//! `instances × min(limit / 20, 0.2 s × per-instance rate)` requests over the limit
//! (docs/ARCHITECTURE.md). One flush runs per counter at a time; a storage failure fails open
//! (the instance keeps enforcing its local count).

use crate::core::Core;
use crate::ids::{AppId, TenantIdentifier};
use crate::storage::{RateCount, RateScope};
use st_config::CoreConfig;
use std::collections::HashMap;
use std::sync::Mutex;

/// The longest an instance goes without adding its count to the shared counter (while it
/// receives requests).
pub const FLUSH_INTERVAL_MS: i64 = 200;
/// An instance flushes once it counted `limit / SHARE_DIVISOR` requests (at least 1) unflushed.
pub const SHARE_DIVISOR: i64 = 20;

/// One instance's view of one counter in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub window_start_ms: i64,
    /// The shared total as last read back (every instance's flushed requests, ours included).
    pub known_total: i64,
    /// Requests being added by the flush under way.
    pub in_flight: i64,
    /// Requests admitted here and not yet flushed.
    pub unflushed: i64,
    pub last_flush_ms: i64,
    pub flushing: bool,
}

/// What [`Counter::admit`] decided: whether the request is admitted on what this instance
/// knows, and how many requests to flush now (the caller adds them, then calls
/// [`Counter::flushed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub admitted: bool,
    pub flush: Option<i64>,
    pub window_start_ms: i64,
}

impl Counter {
    fn fresh(window_start_ms: i64) -> Counter {
        Counter {
            window_start_ms,
            known_total: 0,
            in_flight: 0,
            unflushed: 0,
            last_flush_ms: i64::MIN,
            flushing: false,
        }
    }

    /// One request at `now_ms` against `limit` per `window_ms` (the decision, pure).
    pub fn admit(&mut self, limit: i64, window_ms: i64, now_ms: i64) -> Step {
        let window_start_ms = now_ms - now_ms.rem_euclid(window_ms.max(1));
        if self.window_start_ms != window_start_ms {
            *self = Counter::fresh(window_start_ms);
        }
        let known = self.known_total.saturating_add(self.in_flight).saturating_add(self.unflushed);
        let admitted = known < limit;
        if admitted {
            self.unflushed += 1;
        }
        let share = (limit / SHARE_DIVISOR).max(1);
        let due =
            !admitted || self.unflushed >= share || now_ms.saturating_sub(self.last_flush_ms) >= FLUSH_INTERVAL_MS;
        let flush = (!self.flushing && self.unflushed > 0 && due).then(|| {
            self.flushing = true;
            self.in_flight = self.unflushed;
            self.unflushed = 0;
            self.last_flush_ms = now_ms;
            self.in_flight
        });
        Step { admitted, flush, window_start_ms }
    }

    /// The flush of the window starting at `window_start_ms` ended: `Some` total read back, or
    /// `None` when the storage failed (the requests stay counted here, to be flushed again).
    pub fn flushed(&mut self, window_start_ms: i64, result: Option<RateCount>) {
        if self.window_start_ms != window_start_ms {
            return; // a later window already replaced this one
        }
        match result {
            Some(c) if c.window_start_ms == window_start_ms => self.known_total = self.known_total.max(c.count),
            Some(_) => {} // the shared counter is in a newer window (another instance's clock)
            None => self.unflushed += self.in_flight,
        }
        self.in_flight = 0;
        self.flushing = false;
    }
}

/// Whether `limit` is in the exact range: every admitted request is its own flush's only
/// request (its share is 1), and the request that flushes waits for the shared total and is
/// decided by it, so instances together never admit more than the limit.
fn exact(limit: i64) -> bool {
    limit / SHARE_DIVISOR <= 1
}

/// Add `n` requests to the shared counter; `None` when the storage failed (logged: the instance
/// keeps enforcing its local count).
async fn flush(
    storage: &dyn crate::storage::Storage,
    tenant: &TenantIdentifier,
    app_wide: bool,
    window_start_ms: i64,
    n: i64,
) -> Option<RateCount> {
    let scope = if app_wide { RateScope::App } else { RateScope::Tenant(tenant.tenant.as_str()) };
    match storage.add_request_count(&tenant.app, scope, window_start_ms, n).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(app_id = %tenant.app, "rate limit counter not shared (counting locally): {e}");
            None
        }
    }
}

/// A refused request: which limit, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    /// `None` for the app's limit, else the tenant's.
    pub tenant: Option<String>,
    pub limit: i64,
    pub window_seconds: i64,
    /// Seconds until the window ends (at least 1).
    pub retry_after_seconds: i64,
}

/// This instance's counters (a field of [`Core`]).
#[derive(Default)]
pub struct RateCounters {
    apps: Mutex<HashMap<AppId, Counter>>,
    tenants: Mutex<HashMap<TenantIdentifier, Counter>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RateCounters {
    fn with<R>(&self, tenant: &TenantIdentifier, app_wide: bool, f: impl FnOnce(&mut Counter) -> R) -> R {
        if app_wide {
            let mut m = lock(&self.apps);
            match m.get_mut(&tenant.app) {
                Some(c) => f(c),
                None => f(m.entry(tenant.app.clone()).or_insert(Counter::fresh(i64::MIN))),
            }
        } else {
            let mut m = lock(&self.tenants);
            match m.get_mut(tenant) {
                Some(c) => f(c),
                None => f(m.entry(tenant.clone()).or_insert(Counter::fresh(i64::MIN))),
            }
        }
    }
}

impl Core {
    /// Count one request to `tenant` against its app's limit (from `app_cfg`) and, when the
    /// tenant exists (`tenant_cfg`), the tenant's; `Err` names the limit it is over. Costs
    /// nothing when both limits are 0 (the default).
    pub async fn admit_request(
        &self,
        tenant: &TenantIdentifier,
        app_cfg: &CoreConfig,
        tenant_cfg: Option<&CoreConfig>,
    ) -> Result<(), RateLimited> {
        let app_limit = app_cfg.rate_limit_app_requests;
        let tenant_limit = tenant_cfg.map_or(0, |c| c.rate_limit_tenant_requests);
        if app_limit <= 0 && tenant_limit <= 0 {
            return Ok(());
        }
        let window_ms = app_cfg.rate_limit_window_seconds.max(1).saturating_mul(1000);
        let now = self.now();
        if app_limit > 0 {
            self.count_request(tenant, true, app_limit, window_ms, now).await?;
        }
        if tenant_limit > 0 {
            self.count_request(tenant, false, tenant_limit, window_ms, now).await?;
        }
        Ok(())
    }

    async fn count_request(
        &self,
        tenant: &TenantIdentifier,
        app_wide: bool,
        limit: i64,
        window_ms: i64,
        now: i64,
    ) -> Result<(), RateLimited> {
        let counters = &self.rate_counters;
        let step = counters.with(tenant, app_wide, |c| c.admit(limit, window_ms, now));
        let mut admitted = step.admitted;
        if let Some(n) = step.flush {
            if exact(limit) {
                let result = flush(self.storage.as_ref(), tenant, app_wide, step.window_start_ms, n).await;
                counters.with(tenant, app_wide, |c| c.flushed(step.window_start_ms, result));
                // The request that flushed is decided by the fresh total.
                if let Some(c) = result {
                    if c.window_start_ms == step.window_start_ms && c.count > limit {
                        admitted = false;
                    }
                }
            } else {
                // Above the exact range no request waits for the database: the flush runs beside
                // it and the request is decided on what this instance knows, as the requests
                // admitted while a flush is under way always are.
                let (storage, counters, tenant) = (self.storage.clone(), counters.clone(), tenant.clone());
                tokio::spawn(async move {
                    let result = flush(storage.as_ref(), &tenant, app_wide, step.window_start_ms, n).await;
                    counters.with(&tenant, app_wide, |c| c.flushed(step.window_start_ms, result));
                });
            }
        }
        if admitted {
            return Ok(());
        }
        let window_end = step.window_start_ms.saturating_add(window_ms);
        Err(RateLimited {
            tenant: (!app_wide).then(|| tenant.tenant.as_str().to_string()),
            limit,
            window_seconds: window_ms / 1000,
            retry_after_seconds: ((window_end - now + 999) / 1000).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_flushes_and_refuses() {
        let mut c = Counter::fresh(i64::MIN);
        // The first request of a window flushes.
        let s = c.admit(100, 1000, 10_000);
        assert_eq!(s, Step { admitted: true, flush: Some(1), window_start_ms: 10_000 });
        // While it is under way, requests are admitted on the local count, not flushed.
        assert_eq!(c.admit(100, 1000, 10_001).flush, None);
        c.flushed(10_000, Some(RateCount { window_start_ms: 10_000, count: 90 }));
        assert_eq!((c.known_total, c.unflushed, c.flushing), (90, 1, false));
        // Below the share (5) and the interval: no flush.
        for _ in 0..3 {
            assert_eq!(c.admit(100, 1000, 10_050), Step { admitted: true, flush: None, window_start_ms: 10_000 });
        }
        // The share is reached: flush 5.
        assert_eq!(c.admit(100, 1000, 10_060).flush, Some(5));
        c.flushed(10_000, Some(RateCount { window_start_ms: 10_000, count: 99 }));
        // The interval: flush 1 (total 99 + 1 = 100, admitted).
        assert_eq!(c.admit(100, 1000, 10_260).flush, Some(1));
        c.flushed(10_000, Some(RateCount { window_start_ms: 10_000, count: 100 }));
        // Over: refused, not counted.
        assert_eq!(c.admit(100, 1000, 10_270), Step { admitted: false, flush: None, window_start_ms: 10_000 });
        assert_eq!(c.unflushed, 0);
        // Next window: counted from 0.
        assert!(c.admit(100, 1000, 11_000).admitted);
        assert_eq!(c.window_start_ms, 11_000);
    }

    #[test]
    fn a_failed_flush_keeps_the_count_and_a_late_flush_is_ignored() {
        let mut c = Counter::fresh(i64::MIN);
        let s = c.admit(2, 1000, 0);
        assert_eq!(s.flush, Some(1));
        c.flushed(0, None);
        assert_eq!((c.unflushed, c.in_flight, c.flushing), (1, 0, false));
        assert_eq!(c.admit(2, 1000, 1).flush, Some(2));
        // The window ended during the flush: its answer changes nothing.
        assert!(c.admit(2, 1000, 1000).admitted);
        c.flushed(0, Some(RateCount { window_start_ms: 0, count: 50 }));
        assert_eq!(c.known_total, 0);
        assert_eq!(c.window_start_ms, 1000);
    }

    #[test]
    fn refusing_flushes_what_is_held() {
        let mut c = Counter::fresh(i64::MIN);
        c.admit(100, 1000, 0);
        c.flushed(0, Some(RateCount { window_start_ms: 0, count: 99 }));
        assert_eq!(c.admit(100, 1000, 1).flush, None, "1 unflushed, under the share of 5");
        let s = c.admit(100, 1000, 2);
        assert_eq!(s, Step { admitted: false, flush: Some(1), window_start_ms: 0 });
    }
}
