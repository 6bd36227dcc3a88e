//! Request rate-limit counters in memory ([`RateLimitStorage`]): one per app and per tenant,
//! added to under the store's lock.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::{RateCount, RateLimitStorage, RateScope, SResult};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    /// By (app, tenant id or "" for the app's counter).
    counters: HashMap<(AppId, String), RateCount>,
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.counters.retain(|(a, _), _| a != app);
    }
}

#[async_trait]
impl RateLimitStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.add_request_count", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, tenant_id = scope.stored_tenant(),
        otel.status_code = Empty, error.type = Empty))]
    async fn add_request_count(
        &self,
        app: &AppId,
        scope: RateScope<'_>,
        window_start_ms: i64,
        n: i64,
    ) -> SResult<RateCount> {
        let mut s = self.lock();
        s.require_tenant(&TenantIdentifier::new(app.clone(), TenantId::public()))?;
        let c = s
            .ratelimit
            .counters
            .entry((app.clone(), scope.stored_tenant().to_string()))
            .or_insert(RateCount { window_start_ms, count: 0 });
        if c.window_start_ms == window_start_ms {
            c.count = c.count.saturating_add(n);
        } else if c.window_start_ms < window_start_ms {
            *c = RateCount { window_start_ms, count: n };
        }
        Ok(*c)
    }
}
