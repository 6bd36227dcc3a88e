//! Mapping of driver and pool errors onto [`StorageError`]:
//! * cannot reach the database (pool timeout, connect/IO errors, closed connection, SQLSTATE
//!   classes 08 / 53 / 57P) → `Unavailable`;
//! * foreign-key violation (23503: the tenant or app a row refers to is missing) →
//!   `TenantOrAppNotFound`;
//! * everything else → `Query` (with the SQLSTATE and the server's message), among them the
//!   rollbacks for a conflict with a concurrent transaction that the `retry` module runs
//!   again ([`is_rollback`]).
//!
//! Every [`StorageError`] this crate makes goes through [`traced_error`], so the storage span
//! of the call that fails (see the recipe modules) gets `otel.status_code = "ERROR"` and the
//! error's kind as `error.type`; outside a span (start-up) that is a no-op.

use st_core::storage::traced_error;
use st_core::StorageError;
use tokio_postgres::error::SqlState;

/// Map a tokio-postgres error. A rollback the intent is run again for ([`is_rollback`]) leaves
/// the span alone: the `retry` module marks it if the tries run out.
pub(crate) fn pg(e: tokio_postgres::Error) -> StorageError {
    let e = classify(e);
    if is_rollback(&e) {
        e
    } else {
        traced_error(e)
    }
}

/// The SQLSTATEs of a transaction PostgreSQL rolled back for a conflict with a concurrent one,
/// which may succeed if run again: `transaction_rollback`, `serialization_failure`,
/// `deadlock_detected` (not `statement_completion_unknown`, which may have been applied, nor
/// `transaction_integrity_constraint_violation`, which fails again).
const ROLLBACK_STATES: [&str; 3] = ["40000", "40001", "40P01"];

/// Whether `e` is such a rollback: a `Query` error whose text starts with one of
/// [`ROLLBACK_STATES`] and a colon, as [`classify`] writes a server error.
pub(crate) fn is_rollback(e: &StorageError) -> bool {
    let StorageError::Query(text) = e else { return false };
    ROLLBACK_STATES.iter().any(|state| text.strip_prefix(state).is_some_and(|rest| rest.starts_with(':')))
}

fn classify(e: tokio_postgres::Error) -> StorageError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return StorageError::TenantOrAppNotFound;
        }
        let c = code.code();
        if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") {
            return StorageError::Unavailable(format!("{c}: {}", db.message()));
        }
        // `is_rollback` reads the state back from this text.
        return StorageError::Query(format!("{c}: {}", db.message()));
    }
    let text = chain(&e);
    if e.is_closed() || is_io(&e) {
        return StorageError::Unavailable(text);
    }
    if text.starts_with("error connecting") || text.contains("timeout") || text.contains("timed out") {
        StorageError::Unavailable(text)
    } else {
        StorageError::Query(text)
    }
}

/// An error with its whole `source()` chain: tokio-postgres keeps the useful part (refused,
/// certificate problem, unknown option) in the source.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Whether a connection attempt failed because PostgreSQL is not up yet: the connection was
/// refused, or the server answered that it is starting up (SQLSTATE 57P03).
pub(crate) fn is_not_up_yet(e: &tokio_postgres::Error) -> bool {
    if e.code() == Some(&tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW) {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        source = s.source();
    }
    false
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Map a pool error: all of them mean no connection could be had.
pub(crate) fn pool(e: deadpool_postgres::PoolError) -> StorageError {
    traced_error(match e {
        deadpool_postgres::PoolError::Backend(inner) => match classify(inner) {
            StorageError::Query(msg) => StorageError::Unavailable(msg),
            other => other,
        },
        other => StorageError::Unavailable(chain(&other)),
    })
}

/// A dedicated connection (outside the pool) could not be opened.
pub(crate) fn connect(e: &tokio_postgres::Error) -> StorageError {
    traced_error(StorageError::Unavailable(chain(e)))
}

/// A row value that does not have the expected shape.
pub(crate) fn bad_row(what: &str, e: impl std::fmt::Display) -> StorageError {
    query(format!("unexpected {what}: {e}"))
}

/// Any other failure of a call: a value that cannot be serialised, an answer of the wrong
/// shape.
pub(crate) fn query(message: String) -> StorageError {
    traced_error(StorageError::Query(message))
}
