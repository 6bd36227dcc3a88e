//! The domain's error enum. Business outcomes (wrong password, unauthorised session, ...)
//! are not errors: they are `Ok` variants of each operation's result type.

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage query failed: {0}")]
    Query(String),
    /// The tenant or app a write refers to does not exist (foreign key).
    #[error("tenant or app not found")]
    TenantOrAppNotFound,
    /// Too many calls already wait for a database connection: refused at once instead of
    /// queueing (load shedding; HTTP 503).
    #[error("storage overloaded: {0}")]
    Overloaded(String),
}

impl StorageError {
    /// The error's kind, safe to export (tracing's `error.type`); never its message.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::Unavailable(_) => "unavailable",
            StorageError::Query(_) => "query",
            StorageError::TenantOrAppNotFound => "tenant_or_app_not_found",
            StorageError::Overloaded(_) => "overloaded",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Bad input: HTTP 400 with this text.
    #[error("{0}")]
    BadRequest(String),
    /// Not allowed: HTTP 403 with this text.
    #[error("{0}")]
    Forbidden(String),
    /// A paid feature that is switched off: HTTP 402.
    #[error("{0}")]
    FeatureNotEnabled(String),
    /// Unknown app or tenant: HTTP 400 with the reference's text.
    #[error("{0}")]
    TenantOrAppNotFound(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Anything else: HTTP 500.
    #[error("{0}")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn bad(msg: impl Into<String>) -> Self {
        CoreError::BadRequest(msg.into())
    }
}
