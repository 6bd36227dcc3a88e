//! [`LockoutStorage`]: `signin_lockouts` (V4, ours), one row per (app, tenant, e-mail).
//!
//! A failure is one transaction: insert the row if missing (`ON CONFLICT DO NOTHING`, so two
//! instances racing on a new e-mail both end up updating the one row), lock it
//! (`SELECT … FOR UPDATE`), run the domain's decision on it, write the result. Instances on
//! one database therefore share every count exactly.

use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::TenantIdentifier;
use st_core::storage::{LockoutRow, LockoutStorage, OnFailure, SResult};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the sign-in lockout.
#[derive(Debug)]
pub(crate) struct LockoutSql {
    ensure: String,
    lock: String,
    update: String,
    get: String,
    delete: String,
    delete_expired: String,
}

impl LockoutSql {
    pub(crate) fn new(t: &TableNames) -> LockoutSql {
        let l = t.qualified("signin_lockouts");
        LockoutSql {
            // A fresh row counts nothing and has expired (expires_at 0) until updated.
            ensure: format!(
                "INSERT INTO {l} (app_id, tenant_id, email, failures, window_end, locked_until, expires_at) \
                 VALUES ($1, $2, $3, 0, 0, 0, 0) ON CONFLICT (app_id, tenant_id, email) DO NOTHING"
            ),
            lock: format!(
                "SELECT failures, window_end, locked_until, expires_at FROM {l} \
                 WHERE app_id = $1 AND tenant_id = $2 AND email = $3 FOR UPDATE"
            ),
            update: format!(
                "UPDATE {l} SET failures = $4, window_end = $5, locked_until = $6, expires_at = $7 \
                 WHERE app_id = $1 AND tenant_id = $2 AND email = $3"
            ),
            get: format!(
                "SELECT failures, window_end, locked_until, expires_at FROM {l} \
                 WHERE app_id = $1 AND tenant_id = $2 AND email = $3"
            ),
            delete: format!("DELETE FROM {l} WHERE app_id = $1 AND tenant_id = $2 AND email = $3"),
            delete_expired: format!("DELETE FROM {l} WHERE expires_at <= $1"),
        }
    }
}

/// A row, or `None` for a placeholder just inserted (failures 0, expires_at 0).
fn row_of(r: &tokio_postgres::Row) -> SResult<Option<LockoutRow>> {
    let row = LockoutRow { failures: col(r, 0)?, window_end_ms: col(r, 1)?, locked_until_ms: col(r, 2)? };
    let expires: i64 = col(r, 3)?;
    Ok((row.failures > 0 || expires > 0).then_some(row))
}

impl PgStorage {
    fn lockout_sql(&self) -> &LockoutSql {
        &self.sql().lockout
    }
}

#[async_trait]
impl LockoutStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.record_signin_failure", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn record_signin_failure(
        &self,
        tenant: &TenantIdentifier,
        email: &str,
        next: OnFailure<'_>,
    ) -> SResult<LockoutRow> {
        let s = self.lockout_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            tx_exec(&tx, &s.ensure, &[&app, &t, &email]).await?;
            let rows = tx_query(&tx, &s.lock, &[&app, &t, &email]).await?;
            let current = match rows.first() {
                Some(r) => row_of(r)?,
                None => None,
            };
            let n = next(current);
            tx_exec(
                &tx,
                &s.update,
                &[&app, &t, &email, &n.failures, &n.window_end_ms, &n.locked_until_ms, &n.expires_at_ms()],
            )
            .await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(n)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.signin_lockout", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> SResult<Option<LockoutRow>> {
        let row =
            self.query_opt(&self.lockout_sql().get, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &email]).await?;
        match row {
            Some(r) => row_of(&r),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.clear_signin_lockout", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn clear_signin_lockout(&self, tenant: &TenantIdentifier, email: &str) -> SResult<bool> {
        let n =
            self.execute(&self.lockout_sql().delete, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &email]).await?;
        Ok(n > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_signin_lockouts", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_signin_lockouts(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.lockout_sql().delete_expired, &[&now_ms]).await
    }
}
