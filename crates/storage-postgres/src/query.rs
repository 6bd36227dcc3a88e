//! Query helpers and row readers shared by the recipe modules: one prepared (cached) statement
//! on a pooled connection ([`PgStorage::execute`], [`PgStorage::query`],
//! [`PgStorage::query_opt`]; a statement PostgreSQL rolls back for a conflict with a concurrent
//! transaction is run again, see the `retry` module) or inside a transaction ([`tx_exec`], [`tx_query`]), typed column
//! reads ([`col`]) and the small row shapes that more than one recipe reads.
//!
//! Every driver or pool error becomes a [`st_core::StorageError`] through the `error` module,
//! which marks the current storage span failed.

use crate::pool::Conn;
use crate::{error, PgStorage};
use deadpool_postgres::Transaction;
use st_core::storage::SResult;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

impl PgStorage {
    /// A connection from the pool (bounded waits and load shedding: see the `pool` module).
    pub(crate) async fn conn(&self) -> SResult<Conn> {
        self.inner.guard.checkout(&self.inner.pool).await
    }

    /// Prepare (cached) and execute one statement; the number of rows it changed.
    pub(crate) async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<u64> {
        self.retrying(|| async {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(sql).await.map_err(error::pg)?;
            c.execute(&stmt, params).await.map_err(error::pg)
        })
        .await
    }

    /// Prepare (cached) and run one query.
    pub(crate) async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<Vec<Row>> {
        self.retrying(|| async {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(sql).await.map_err(error::pg)?;
            c.query(&stmt, params).await.map_err(error::pg)
        })
        .await
    }

    /// Prepare (cached) and run one query that returns at most one row.
    pub(crate) async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<Option<Row>> {
        self.retrying(|| async {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(sql).await.map_err(error::pg)?;
            c.query_opt(&stmt, params).await.map_err(error::pg)
        })
        .await
    }
}

/// Prepare (cached) and execute one statement inside a transaction.
pub(crate) async fn tx_exec(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<u64> {
    let stmt = tx.prepare_cached(sql).await.map_err(error::pg)?;
    tx.execute(&stmt, params).await.map_err(error::pg)
}

/// Prepare (cached) and run one query inside a transaction.
pub(crate) async fn tx_query(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<Vec<Row>> {
    let stmt = tx.prepare_cached(sql).await.map_err(error::pg)?;
    tx.query(&stmt, params).await.map_err(error::pg)
}

/// Read column `idx` of `row`, as a `Query` error when it has an unexpected type.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> SResult<T> {
    row.try_get(idx).map_err(|e| error::bad_row("column value", e))
}

/// Column 0 of every row, as text.
pub(crate) fn strings(rows: &[Row]) -> SResult<Vec<String>> {
    rows.iter().map(|r| col(r, 0)).collect()
}

/// Whether a driver error is the server's `state` (a constraint the caller answers itself).
pub(crate) fn is_state(e: &tokio_postgres::Error, state: &SqlState) -> bool {
    e.code() == Some(state)
}

/// The row of `token` among locked token rows (column 0 is the token); `None` when a
/// concurrent consumer deleted it before the lock was granted.
pub(crate) fn find_token<'r>(rows: &'r [Row], token: &str) -> SResult<Option<&'r Row>> {
    for row in rows {
        if col::<String>(row, 0)? == token {
            return Ok(Some(row));
        }
    }
    Ok(None)
}
