//! The HTTP layer's error enum and its explicit mapping to status codes and plain-text bodies
//! (`text/html; charset=UTF-8`, message and a newline), as the reference answers (§b.5).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use st_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Invalid API key")]
    InvalidApiKey,
    #[error("{0}")]
    PaymentRequired(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Not found")]
    NotFound,
    #[error("Method not supported")]
    MethodNotAllowed,
    #[error("{0}")]
    Internal(String),
    /// Refused at once rather than queued: too many calls already wait for the database
    /// (HTTP 503; the SDKs retry only 429, so a 503 fails fast).
    #[error("{0}")]
    Unavailable(String),
    /// A write found its tenant or app gone (a foreign key), e.g. removed through another
    /// instance since this one cached it: the router answers as for an unknown tenant.
    #[error("tenant or app not found")]
    TenantOrAppGone,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) | ApiError::TenantOrAppGone => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn response(&self) -> HttpResponse {
        text(self.status(), &self.to_string())
    }
}

pub fn text(status: StatusCode, msg: &str) -> HttpResponse {
    let mut body = String::with_capacity(msg.len() + 1);
    body.push_str(msg);
    body.push('\n');
    HttpResponse::build(status).content_type("text/html; charset=UTF-8").body(body)
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::BadRequest(m) | CoreError::TenantOrAppNotFound(m) => ApiError::BadRequest(m),
            CoreError::Forbidden(m) => ApiError::Forbidden(m),
            CoreError::FeatureNotEnabled(m) => ApiError::PaymentRequired(m),
            CoreError::Storage(st_core::StorageError::TenantOrAppNotFound) => ApiError::TenantOrAppGone,
            CoreError::Storage(e @ st_core::StorageError::Overloaded(_)) => {
                tracing::warn!("{e}");
                ApiError::Unavailable(e.to_string())
            }
            CoreError::Storage(e) => {
                tracing::error!("storage error: {e}");
                ApiError::Internal(e.to_string())
            }
            CoreError::Internal(m) => {
                tracing::error!("internal error: {m}");
                ApiError::Internal(m)
            }
        }
    }
}
