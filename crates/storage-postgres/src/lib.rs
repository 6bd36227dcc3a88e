//! PostgreSQL [`Storage`] backend, on the reference (Java plugin 9.5) table layout so that a
//! database created by the Java core can be used as is, and vice versa.
//!
//! * [`PgConfig`] reads the `postgresql_*` keys (connection URI or separate keys, schema,
//!   table prefix, pool settings, `sslmode`); see [`config`].
//! * [`PgStorage::connect`] opens one bootstrap connection that creates the schema if needed,
//!   runs the embedded migration with refinery (all statements are `IF NOT EXISTS`), inserts
//!   the base app / tenant / tenant-config rows and the `activity_log` month partitions; then
//!   it builds the deadpool pool and its keeper task (minimum idle, idle timeout; see the
//!   `pool` module).
//! * Each [`Storage`] method is one intent, run as a single statement or one transaction, on
//!   prepared statements whose text is built once per table-name set ([`sql`]).
//! * Cross-instance serialisation uses PostgreSQL advisory locks keyed by a stable FNV-1a hash
//!   of a string that names the intent, the schema + prefix (the user pool) and the app:
//!   signing-key rotation and static-key creation take a transaction-scoped lock; a background
//!   job's [`JobLease`] is a session lock on a dedicated connection (outside the pool), released
//!   by closing that connection when the lease is dropped.
//!
//! Errors (the `error` module): unreachable database → `StorageError::Unavailable`, foreign-key
//! violation → `TenantOrAppNotFound`, anything else → `Query`. Nothing here panics on a request
//! path.

mod batch;
pub mod config;
mod error;
mod keys;
mod listing_sql;
mod migrate;
mod pool;
mod sessions;
pub mod sql;
mod tenants;
mod tls;
mod users;

pub use config::{mask_uri, PgConfig, TlsMode};
pub use migrate::{render as render_migration, V1_NAME, V1_TEMPLATE};
pub use sql::TableNames;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use st_core::ids::TenantIdentifier;
use st_core::storage::{
    JobLease, JobStorage, PoolStats, ResolvedSession, SResult, SessionDecider, SessionIdentity, SessionRow, Storage,
    TouchIfCurrent,
};
use st_core::StorageError;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// The PostgreSQL backend. Cheap to clone (shared pool).
#[derive(Clone)]
pub struct PgStorage {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    names: Arc<TableNames>,
    sql: sql::Sql,
    keeper: tokio::task::JoinHandle<()>,
    /// For lock keys: `<schema>.<prefix>`.
    pool_id: String,
    /// For job-lock connections.
    pg: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// Session creations and refresh reads waiting for a statement (see [`batch`]).
    batch_queues: batch::BatchQueues,
    /// The runtime `connect` ran on: batch leaders run there (see [`batch`]).
    runtime: tokio::runtime::Handle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.keeper.abort();
        self.pool.close();
    }
}

/// The first connection at start-up fails with `e`: how long to wait before the next try, or
/// the error to fail with. While PostgreSQL refuses connections or is starting up, the caller
/// tries again every `cfg.connect_retry` until `deadline` (`cfg.connect_wait` after the first
/// try), as the Java plugin does, so a core started before its database (compose, Kubernetes)
/// waits for it. Any other error (authentication, unknown host, TLS) fails at once.
fn connect_retry_after(
    cfg: &PgConfig,
    e: &tokio_postgres::Error,
    deadline: tokio::time::Instant,
    told: &mut bool,
) -> Result<std::time::Duration, StorageError> {
    let now = tokio::time::Instant::now();
    if !error::is_not_up_yet(e) || now >= deadline {
        let waited = if *told { " (gave up waiting for it)" } else { "" };
        return Err(StorageError::Unavailable(format!(
            "cannot connect to {}{waited}: {}",
            cfg.describe(),
            error::chain(e)
        )));
    }
    if !*told {
        *told = true;
        tracing::info!(
            "Error connecting to PostgreSQL at {} ({}). Please make sure that PostgreSQL is running and that \
             postgresql_host and postgresql_port, or postgresql_connection_uri, are correct",
            cfg.describe(),
            error::chain(e)
        );
    }
    let left = deadline - now;
    tracing::info!("Trying again in a few seconds for {:.1} mins...", left.as_secs_f64() / 60.0);
    Ok(cfg.connect_retry.min(left))
}

impl PgStorage {
    /// Connect, migrate, insert the base rows, build the pool. Must be called inside a Tokio
    /// runtime that outlives the storage (the pool's connections and the keeper run on it).
    pub async fn connect(cfg: &PgConfig) -> Result<PgStorage, StorageError> {
        let tls = tls::connector(cfg).map_err(StorageError::Unavailable)?;
        let names = Arc::new(TableNames::new(cfg));
        let sql = sql::Sql::new(&names);

        let deadline = tokio::time::Instant::now() + cfg.connect_wait;
        let mut told = false;
        let (mut client, connection) = loop {
            match cfg.pg.connect(tls.clone()).await {
                Ok(pair) => break pair,
                Err(e) => tokio::time::sleep(connect_retry_after(cfg, &e, deadline, &mut told)?).await,
            }
        };
        let conn_task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("bootstrap connection ended: {e}");
            }
        });
        let bootstrapped = migrate::bootstrap(&mut client, &names, &sql).await;
        drop(client);
        let _ = conn_task.await;
        bootstrapped?;

        let pool = pool::build(cfg, tls.clone()).map_err(StorageError::Unavailable)?;
        pool::prewarm(&pool, cfg.min_idle).await;
        let keeper = pool::spawn_keeper(&pool, cfg, names.clone());
        tracing::info!("using PostgreSQL at {}", cfg.describe());
        Ok(PgStorage {
            inner: Arc::new(Inner {
                pool,
                pool_id: format!("{}.{}", names.schema, names.prefix),
                names,
                sql,
                keeper,
                pg: cfg.pg.clone(),
                tls,
                batch_queues: batch::BatchQueues::default(),
                runtime: tokio::runtime::Handle::current(),
            }),
        })
    }

    /// The table names in use.
    pub fn table_names(&self) -> &TableNames {
        &self.inner.names
    }

    /// The statements of the per-request hot paths with sample arguments (SQL literals, one per
    /// `$n`), for `EXPLAIN` checks: session create and refresh, the session's user, user pages.
    /// Diagnostics and tests only.
    #[doc(hidden)]
    pub fn hot_statements(&self) -> Vec<(&'static str, String, Vec<&'static str>)> {
        let (sql, users) = (self.sql(), &self.sql().users);
        let app_tenant_handle = vec!["'public'", "'public'", "'h'"];
        vec![
            (
                "session create",
                sql.session_insert_resolved.clone(),
                vec!["'public'", "'public'", "'h'", "'u'", "'x'", "'{}'", "1", "1", "'{}'", "false", "true"],
            ),
            ("session read", sql.session_select_resolved.clone(), app_tenant_handle.clone()),
            (
                "session read and touch",
                sql.session_select_resolved_touch.clone(),
                [app_tenant_handle.as_slice(), &["'{x}'", "1"]].concat(),
            ),
            ("last-active upsert", sql.last_active_upsert.clone(), vec!["'public'", "'u'", "1"]),
            ("session identity", users.session_identity_sql().to_string(), vec!["'public'", "'u'"]),
            ("users of a page", users.auth_users_sql().to_string(), vec!["'public'", "'{u}'"]),
            ("user decorations", users.decorations_sql().to_string(), vec!["'public'", "'{u}'"]),
        ]
    }

    /// Pool status (size, idle, waiting), for diagnostics and tests.
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.inner.pool.status()
    }

    /// Stop the keeper and close every idle connection (in-flight ones close when returned).
    pub fn close(&self) {
        self.inner.keeper.abort();
        self.inner.pool.close();
    }

    pub(crate) fn sql(&self) -> &sql::Sql {
        &self.inner.sql
    }

    pub(crate) fn batch_queues(&self) -> &batch::BatchQueues {
        &self.inner.batch_queues
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// Advisory-lock key for `intent` within this user pool.
    pub(crate) fn lock_key(&self, intent: &str, scope: &str) -> i64 {
        migrate::lock_key(&format!("{intent}:{}:{scope}", self.inner.pool_id))
    }

    pub(crate) async fn conn(&self) -> SResult<Object> {
        self.inner.pool.get().await.map_err(error::pool)
    }

    pub(crate) async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<u64> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached(sql).await.map_err(error::pg)?;
        c.execute(&stmt, params).await.map_err(error::pg)
    }

    pub(crate) async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<Vec<Row>> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached(sql).await.map_err(error::pg)?;
        c.query(&stmt, params).await.map_err(error::pg)
    }

    pub(crate) async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> SResult<Option<Row>> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached(sql).await.map_err(error::pg)?;
        c.query_opt(&stmt, params).await.map_err(error::pg)
    }
}

/// Prepare (cached) and execute one statement inside a transaction.
pub(crate) async fn tx_exec(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> SResult<u64> {
    let stmt = tx.prepare_cached(sql).await.map_err(error::pg)?;
    tx.execute(&stmt, params).await.map_err(error::pg)
}

/// Prepare (cached) and run one query inside a transaction.
pub(crate) async fn tx_query(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> SResult<Vec<Row>> {
    let stmt = tx.prepare_cached(sql).await.map_err(error::pg)?;
    tx.query(&stmt, params).await.map_err(error::pg)
}

/// Read column `idx` of `row`, as a `Query` error when it has an unexpected type.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, idx: usize) -> SResult<T> {
    row.try_get(idx).map_err(|e| error::bad_row("column value", e))
}

/// A held background-job lock: a dedicated connection (outside the pool, so a small pool can
/// never be starved or deadlocked by jobs) holding the session-level
/// `pg_advisory_lock(key)`. Dropping it closes the connection, which makes the server release
/// the lock at once; this needs no runtime and works even if the job task panicked.
struct PgJobLease {
    _client: tokio_postgres::Client,
}

impl JobLease for PgJobLease {}

#[async_trait]
impl JobStorage for PgStorage {
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>> {
        let key = self.lock_key("st-job", job);
        let (client, connection) = self
            .inner
            .pg
            .connect(self.inner.tls.clone())
            .await
            .map_err(|e| StorageError::Unavailable(error::chain(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("job lock connection ended: {e}");
            }
        });
        let row = client.query_one(&self.sql().advisory_try_lock, &[&key]).await.map_err(error::pg)?;
        let obtained: bool = col(&row, 0)?;
        if !obtained {
            return Ok(None);
        }
        Ok(Some(Box::new(PgJobLease { _client: client })))
    }
}

#[async_trait::async_trait]
impl Storage for PgStorage {
    fn kind(&self) -> &'static str {
        "postgresql"
    }

    /// One statement: insert, identity and, unless throttled, last-activity upsert
    /// (`session_insert_resolved`), shared with concurrent creations (see [`batch`]).
    async fn create_session_resolved(
        &self,
        row: &SessionRow,
        record_activity: bool,
    ) -> SResult<Option<SessionIdentity>> {
        batch::run::<batch::CreateSessions>(self, batch::NewSession { row: row.clone(), record_activity }).await
    }

    /// The snapshot read also resolves the identity and, with `touch`, records the activity, so
    /// a refresh that changes nothing is one statement.
    async fn update_session_resolved(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        touch: Option<&TouchIfCurrent<'_>>,
    ) -> SResult<Option<ResolvedSession>> {
        let touch = match touch.map(|t| (t.refresh_token_hashes_2, t.now_ms)) {
            None => None,
            Some(([current], now)) => Some((current.to_string(), None, now)),
            Some(([current, parent], now)) => Some((current.to_string(), Some(parent.to_string()), now)),
            Some((other, _)) => {
                return Err(StorageError::Query(format!(
                    "a refresh accepts one or two token hashes, not {}",
                    other.len()
                )))
            }
        };
        let read = batch::SnapshotRead { tenant: tenant.clone(), handle: handle.to_string(), touch };
        let (snapshot, activity_recorded) = batch::run::<batch::SessionSnapshots>(self, read).await?;
        let resolved = self.update_session_from(tenant, handle, decide, snapshot).await?;
        Ok(resolved.map(|(row, identity)| ResolvedSession { row, identity, activity_recorded }))
    }

    fn pool_stats(&self) -> Option<PoolStats> {
        let s = self.inner.pool.status();
        Some(PoolStats { max_size: s.max_size, size: s.size, available: s.available, waiting: s.waiting })
    }
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage").field("tables", &self.inner.names).finish()
    }
}
