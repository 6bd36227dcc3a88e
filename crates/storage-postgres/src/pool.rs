//! The deadpool connection pool and its keeper task.
//!
//! deadpool has a maximum size but neither a minimum of idle connections nor an idle timeout,
//! so a small background task (the *keeper*) provides HikariCP-like behaviour:
//! * at start-up and every `clamp(idle_timeout / 2, 1 s, 30 s)` it opens connections until at
//!   least `postgresql_minimum_idle_connections` are idle (never above the pool size);
//! * on the same tick it closes connections that are broken, and idle connections not checked
//!   out for longer than `postgresql_idle_connection_timeout`, but never below the minimum.
//!   "Idle for" is measured from the connection's last checkout (deadpool's `last_used`); a
//!   timeout of 0 never closes idle connections (HikariCP's `idleTimeout = 0`).
//! * once a day (and at start-up, from the bootstrap) it maintains `activity_log` partitions.
//!
//! With the default minimum (= pool size) the pool is filled once and connections are only
//! replaced when they break, as HikariCP does. The keeper holds only a weak reference to the
//! pool and is aborted when the storage is dropped.

use crate::config::PgConfig;
use crate::migrate;
use crate::TableNames;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How long a request waits for a free connection before `Unavailable`.
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn build(cfg: &PgConfig, tls: MakeRustlsConnect) -> Result<Pool, String> {
    let manager = Manager::from_config(cfg.pg.clone(), tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(cfg.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| format!("cannot build the connection pool: {e}"))
}

/// Close broken connections and those idle too long, keeping at least `min_idle`.
pub(crate) fn retire(pool: &Pool, idle_timeout: Duration, min_idle: usize) {
    let mut removable = pool.status().available.saturating_sub(min_idle);
    let result = pool.retain(|client, metrics| {
        if client.is_closed() {
            return false;
        }
        if removable > 0 && !idle_timeout.is_zero() && metrics.last_used() >= idle_timeout {
            removable -= 1;
            return false;
        }
        true
    });
    if !result.removed.is_empty() {
        tracing::debug!("closed {} idle or broken database connections", result.removed.len());
    }
}

/// Open connections until `min_idle` are idle (bounded by the pool size). Never waits for a
/// busy pool: it only uses free slots.
pub(crate) async fn prewarm(pool: &Pool, min_idle: usize) {
    let status = pool.status();
    let missing = min_idle.saturating_sub(status.available).min(status.max_size.saturating_sub(status.size));
    if missing == 0 {
        return;
    }
    // Checking out pops idle connections first, so take the idle ones plus the missing ones,
    // then give them all back.
    let wanted = status.available + missing;
    let timeouts = Timeouts { wait: Some(Duration::ZERO), ..pool.timeouts() };
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..wanted {
        let pool = pool.clone();
        set.spawn(async move { pool.timeout_get(&timeouts).await });
    }
    let mut held = Vec::with_capacity(wanted);
    let mut failure = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(obj)) => held.push(obj),
            Ok(Err(e)) => failure = Some(e.to_string()),
            Err(e) => failure = Some(e.to_string()),
        }
    }
    drop(held);
    if let Some(e) = failure {
        tracing::debug!("could not open all minimum idle database connections: {e}");
    }
}

/// Start the keeper. Returns its handle (abort it to stop).
pub(crate) fn spawn_keeper(pool: &Pool, cfg: &PgConfig, names: Arc<TableNames>) -> tokio::task::JoinHandle<()> {
    let weak = pool.weak();
    let idle_timeout = cfg.idle_timeout;
    let min_idle = cfg.min_idle;
    let tick = if idle_timeout.is_zero() {
        Duration::from_secs(30)
    } else {
        (idle_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(30))
    };
    tokio::spawn(async move {
        let mut last_partition_run = Instant::now();
        loop {
            tokio::time::sleep(tick).await;
            let Some(pool) = weak.upgrade() else { break };
            if pool.is_closed() {
                break;
            }
            retire(&pool, idle_timeout, min_idle);
            prewarm(&pool, min_idle).await;
            if last_partition_run.elapsed() >= Duration::from_secs(24 * 3600) {
                last_partition_run = Instant::now();
                match pool.get().await {
                    Ok(client) => migrate::maintain_activity_log(&client, &names, migrate::now_ms()).await,
                    Err(e) => tracing::warn!("activity_log maintenance skipped: {e}"),
                }
            }
        }
    })
}
