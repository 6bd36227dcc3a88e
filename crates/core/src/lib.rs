//! SuperTokens core domain: identifiers, configuration layering per app and tenant, the
//! session/JWT recipe, the user recipes, and the [`storage::Storage`] port they run against.
//! Nothing here knows about HTTP or SQL.

pub mod activity;
pub mod clock;
pub mod error;
pub mod ids;
pub mod random;
pub mod storage;

pub use error::{CoreError, CoreResult, StorageError};
pub mod core;
pub mod crypto;
pub mod keys;
pub mod session;
pub mod stats;
pub mod users;

pub use crate::core::Core;
pub mod jobs;
pub mod password;
pub mod tenancy;
