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

//!
//! Bounded waits (a database that stops answering without closing its sockets):
//! * a checkout waits at most `postgresql_connection_timeout` (opening a connection included);
//! * beyond `postgresql_max_connection_waiters` calls already in a checkout, a call is refused
//!   at once with `StorageError::Overloaded` (load shedding) instead of queueing;
//! * the pool's connections carry `statement_timeout` (`postgresql_statement_timeout`) in their
//!   start-up options, and for a partition `TCP_USER_TIMEOUT` (the request timeout) with
//!   keepalive probes after half of it;
//! * a connection checked out under an [`st_core::deadline`] scope that expired while it was
//!   held ([`Conn`]) may have a statement in flight that will never be answered: it is marked
//!   and thrown away at its next checkout (a `pre_recycle` hook) or keeper tick, never reused.

use crate::config::PgConfig;
use crate::migrate;
use crate::TableNames;
use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Object, Pool, QueueMode, RecyclingMethod, Runtime, Timeouts,
};
use st_core::deadline::Scope;
use st_core::storage::SResult;
use st_core::StorageError;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connection settings of the pool's connections: the configured ones plus the server-side
/// `statement_timeout` (a start-up option, no extra round trip) and `TCP_USER_TIMEOUT`. The
/// bootstrap connection (migrations) and the job-lock connections keep `cfg.pg` as it is.
fn pool_pg_config(cfg: &PgConfig) -> tokio_postgres::Config {
    let mut pg = cfg.pg.clone();
    if !cfg.statement_timeout.is_zero() {
        let option = format!("-c statement_timeout={}", cfg.statement_timeout.as_millis());
        let options = match pg.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {option}"),
            _ => option,
        };
        pg.options(&options);
    }
    if !cfg.request_timeout.is_zero() {
        pg.tcp_user_timeout(cfg.request_timeout);
        // An idle connection cut off by a partition is found by keepalive probes, which
        // TCP_USER_TIMEOUT then bounds, before a request picks it up (the default idle time
        // before the first probe is 2 h).
        let idle = (cfg.request_timeout / 2).max(Duration::from_secs(1));
        if pg.get_keepalives() && pg.get_keepalives_idle() > idle {
            pg.keepalives_idle(idle);
        }
    }
    pg
}

pub(crate) fn build(cfg: &PgConfig, tls: MakeRustlsConnect, guard: &Guard) -> Result<Pool, String> {
    let manager =
        Manager::from_config(pool_pg_config(cfg), tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let discarded = guard.discarded.clone();
    Pool::builder(manager)
        .max_size(cfg.pool_size)
        // The most recently returned connection first (deadpool's default is the least recent):
        // a lone request then finds the PostgreSQL backend that served the previous one still
        // warm, instead of waking each of the pool's sleeping backends in turn (at one client
        // this took a session creation from p50 0.48–0.67 ms to 0.32–0.39 ms; see "Create at
        // 1 client" in docs/BENCHMARKS.md). Under load every connection is busy either way, and
        // the connections left at the back are the ones the idle timeout retires, as HikariCP.
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(cfg.connection_timeout))
        .create_timeout(Some(cfg.connection_timeout))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .pre_recycle(deadpool_postgres::Hook::sync_fn(move |client, _| {
            if discarded.take(client) {
                Err(HookError::message("held past an expired deadline"))
            } else {
                Ok(())
            }
        }))
        .build()
        .map_err(|e| format!("cannot build the connection pool: {e}"))
}

/// Connections marked for discarding, by the address of their statement cache (stable and
/// unique while the connection lives).
/// How many are marked is kept apart, so that a checkout with none marked takes no lock.
#[derive(Default)]
pub(crate) struct Discarded {
    marked: Mutex<HashSet<usize>>,
    count: AtomicUsize,
}

impl Discarded {
    fn key(client: &deadpool_postgres::ClientWrapper) -> usize {
        Arc::as_ptr(&client.statement_cache) as usize
    }

    fn mark(&self, client: &deadpool_postgres::ClientWrapper) {
        let mut marked = self.marked.lock().unwrap_or_else(|p| p.into_inner());
        if marked.insert(Self::key(client)) {
            self.count.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Whether `client` was marked (and forget the mark).
    fn take(&self, client: &deadpool_postgres::ClientWrapper) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut marked = self.marked.lock().unwrap_or_else(|p| p.into_inner());
        let found = marked.remove(&Self::key(client));
        if found {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        found
    }
}

/// The pool's bounds that deadpool does not keep: the waiters' count (load shedding) and the
/// connections to throw away.
pub(crate) struct Guard {
    max_waiters: usize,
    waiters: AtomicUsize,
    discarded: Arc<Discarded>,
    /// `postgresql_request_timeout` (zero: none).
    pub(crate) request_timeout: Duration,
}

impl Guard {
    pub(crate) fn new(cfg: &PgConfig) -> Guard {
        Guard {
            max_waiters: cfg.max_waiters,
            waiters: AtomicUsize::new(0),
            discarded: Arc::default(),
            request_timeout: cfg.request_timeout,
        }
    }

    /// A connection from `pool`, or `Overloaded` at once when too many calls already wait.
    pub(crate) async fn checkout(&self, pool: &Pool) -> SResult<Conn> {
        let before = self.waiters.fetch_add(1, Ordering::AcqRel);
        let _count = Waiting(&self.waiters);
        if self.max_waiters > 0 && before >= self.max_waiters {
            return Err(st_core::storage::traced_error(StorageError::Overloaded(format!(
                "{before} calls already wait for one of the {} database connections",
                pool.status().max_size
            ))));
        }
        let obj = pool.get().await.map_err(crate::error::pool)?;
        Ok(Conn { obj, scope: st_core::deadline::current(), discarded: self.discarded.clone() })
    }
}

/// Counts one call in a checkout while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A pooled connection checked out under the caller's deadline scope (if any). Dereferences to
/// the pool's object; dropped while its scope is expired (the work holding it was cut off, a
/// statement may still be in flight) it is marked, and the pool throws it away.
pub(crate) struct Conn {
    obj: Object,
    scope: Option<Arc<Scope>>,
    discarded: Arc<Discarded>,
}

impl std::ops::Deref for Conn {
    type Target = Object;
    fn deref(&self) -> &Object {
        &self.obj
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Object {
        &mut self.obj
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.scope.as_ref().is_some_and(|s| s.expired()) {
            tracing::debug!("discarding a database connection held past its deadline");
            self.discarded.mark(&self.obj);
        }
    }
}

/// Close broken connections, those marked for discarding, and those idle too long, keeping at
/// least `min_idle`.
pub(crate) fn retire(pool: &Pool, idle_timeout: Duration, min_idle: usize, discarded: &Discarded) {
    let mut removable = pool.status().available.saturating_sub(min_idle);
    let result = pool.retain(|client, metrics| {
        if client.is_closed() || discarded.take(client) {
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
pub(crate) fn spawn_keeper(
    pool: &Pool,
    cfg: &PgConfig,
    names: Arc<TableNames>,
    guard: &Guard,
) -> tokio::task::JoinHandle<()> {
    let weak = pool.weak();
    let discarded = guard.discarded.clone();
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
            retire(&pool, idle_timeout, min_idle, &discarded);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: serde_json::Value) -> PgConfig {
        let core = st_config::CoreConfig::from_map(v.as_object().unwrap(), false).unwrap();
        PgConfig::from_core_config(&core).unwrap()
    }

    #[test]
    fn pool_connections_carry_the_statement_timeout_and_tcp_user_timeout() {
        let c = cfg(json!({"postgresql_connection_uri": "postgresql://u@h/db?options=-c%20search_path%3Dx",
            "postgresql_statement_timeout": 1234, "postgresql_request_timeout": 5000}));
        let pg = pool_pg_config(&c);
        assert_eq!(pg.get_options(), Some("-c search_path=x -c statement_timeout=1234"), "appended to the URI's");
        assert_eq!(pg.get_tcp_user_timeout(), Some(&Duration::from_millis(5000)));
        assert_eq!(pg.get_keepalives_idle(), Duration::from_millis(2500), "probes start within the bound");
        assert_eq!(c.pg.get_options(), Some("-c search_path=x"), "the bootstrap connection keeps its own");
        // Off by default: PostgreSQL's own setting, and no TCP_USER_TIMEOUT without a request bound.
        let c = cfg(json!({"postgresql_user": "u", "postgresql_request_timeout": 0}));
        let pg = pool_pg_config(&c);
        assert_eq!(pg.get_options(), None);
        assert_eq!(pg.get_tcp_user_timeout(), None);
        assert_eq!(pg.get_keepalives_idle(), Duration::from_secs(7200), "tokio-postgres' default");
    }
}
