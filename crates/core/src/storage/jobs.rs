//! Leases that make a background job run on one instance at a time.

use super::SResult;
use async_trait::async_trait;

/// A lease on a background job; the job runs only while it is held. Dropping releases it.
pub trait JobLease: Send {}

#[async_trait]
pub trait JobStorage: Send + Sync {
    /// Try to become the one instance that runs `job` now (e.g. a PostgreSQL advisory lock).
    /// `None` = another instance holds it.
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>>;
}
