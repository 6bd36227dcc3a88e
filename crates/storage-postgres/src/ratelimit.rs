//! [`RateLimitStorage`]: `request_rate_limits` (V6, ours), one row per app (`tenant_id` '')
//! and per tenant.
//!
//! An addition is one statement: an upsert that adds to the row of the same window, restarts
//! the row of an older window, leaves the row of a newer one, and returns the row (its row
//! lock serialises the instances' additions, so totals are exact).

use crate::query::col;
use crate::{PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{RateCount, RateLimitStorage, RateScope, SResult};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the rate limits.
#[derive(Debug)]
pub(crate) struct RateLimitSql {
    add: String,
}

impl RateLimitSql {
    pub(crate) fn new(t: &TableNames) -> RateLimitSql {
        let r = t.qualified("request_rate_limits");
        RateLimitSql {
            add: format!(
                "INSERT INTO {r} AS r (app_id, tenant_id, window_start, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (app_id, tenant_id) DO UPDATE SET \
                   count = CASE WHEN r.window_start = EXCLUDED.window_start THEN r.count + EXCLUDED.count \
                                WHEN r.window_start < EXCLUDED.window_start THEN EXCLUDED.count \
                                ELSE r.count END, \
                   window_start = GREATEST(r.window_start, EXCLUDED.window_start) \
                 RETURNING window_start, count"
            ),
        }
    }
}

#[async_trait]
impl RateLimitStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_request_count", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, tenant_id = scope.stored_tenant(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_request_count(
        &self,
        app: &AppId,
        scope: RateScope<'_>,
        window_start_ms: i64,
        n: i64,
    ) -> SResult<RateCount> {
        let sql = &self.sql().ratelimit.add;
        let (a, t) = (app.as_str(), scope.stored_tenant());
        let rows = self.query(sql, &[&a, &t, &window_start_ms, &n]).await?;
        match rows.first() {
            Some(r) => Ok(RateCount { window_start_ms: col(r, 0)?, count: col(r, 1)? }),
            None => Ok(RateCount { window_start_ms, count: n }),
        }
    }
}
