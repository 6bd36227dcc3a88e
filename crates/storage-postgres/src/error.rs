//! Mapping of driver and pool errors onto [`StorageError`]:
//! * cannot reach the database (pool timeout, connect/IO errors, closed connection, SQLSTATE
//!   classes 08 / 53 / 57P) → `Unavailable`;
//! * foreign-key violation (23503: the tenant or app a row refers to is missing) →
//!   `TenantOrAppNotFound`;
//! * everything else → `Query` (with the SQLSTATE and the server's message).
//!
//! Every [`StorageError`] this crate makes goes through [`traced_error`], so the storage span
//! of the call that fails (see the recipe modules) gets `otel.status_code = "ERROR"` and the
//! error's kind as `error.type`; outside a span (start-up) that is a no-op.

use st_core::storage::traced_error;
use st_core::StorageError;
use tokio_postgres::error::SqlState;

/// Map a tokio-postgres error.
pub(crate) fn pg(e: tokio_postgres::Error) -> StorageError {
    traced_error(classify(e))
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
