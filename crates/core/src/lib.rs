//! SuperTokens core domain: identifiers, configuration layering per app and tenant, one module
//! per recipe, and the [`storage::Storage`] port they run against. Nothing here knows about
//! HTTP or SQL.
//!
//! Adding a recipe: its module here (one `pub mod` line), its storage trait in
//! [`storage`], and its background jobs (if any) in [`all_jobs`].

// Infrastructure: the service object, inputs (clock, randomness), errors, ids, crypto.
pub mod activity;
pub mod app_data;
pub mod cdi;
pub mod clock;
pub mod core;
pub mod crypto;
pub mod deadline;
pub mod error;
pub mod ids;
pub mod jobs;
pub mod join;
pub mod limits;
pub mod password;
pub mod random;
pub mod stats;
pub mod storage;

// Recipes.
pub mod accountlinking;
pub mod bulkimport;
pub mod dashboard;
pub mod emailpassword;
pub mod emailverification;
pub mod jwt;
pub mod lockout;
pub mod multitenancy;
pub mod oauth;
pub mod passwordless;
pub mod ratelimit;
pub mod saml;
pub mod session;
pub mod signing_keys;
pub mod thirdparty;
pub mod totp;
pub mod useridmapping;
pub mod usermetadata;
pub mod userroles;
pub mod users;
pub mod webauthn;

pub use crate::core::Core;
pub use error::{CoreError, CoreResult, StorageError};

/// Every job the server runs.
pub fn all_jobs() -> Vec<std::sync::Arc<dyn jobs::Job>> {
    vec![
        std::sync::Arc::new(jobs::SyncCoreConfig),
        std::sync::Arc::new(session::DELETE_EXPIRED_SESSIONS),
        std::sync::Arc::new(session::DeleteExpiredSigningKeys),
        std::sync::Arc::new(emailpassword::DELETE_EXPIRED_RESET_TOKENS),
        std::sync::Arc::new(emailverification::DELETE_EXPIRED_EV_TOKENS),
        std::sync::Arc::new(lockout::DELETE_EXPIRED_LOCKOUTS),
        std::sync::Arc::new(passwordless::DELETE_EXPIRED_DEVICES),
        std::sync::Arc::new(saml::DELETE_EXPIRED_SAML_DATA),
        std::sync::Arc::new(totp::DELETE_EXPIRED_CODES),
        std::sync::Arc::new(webauthn::CLEAN_UP_EXPIRED_DATA),
        std::sync::Arc::new(dashboard::DELETE_EXPIRED_DASHBOARD_SESSIONS),
        std::sync::Arc::new(oauth::CLEANUP_OAUTH_SESSIONS),
        std::sync::Arc::new(bulkimport::ProcessBulkImportUsers),
    ]
}
