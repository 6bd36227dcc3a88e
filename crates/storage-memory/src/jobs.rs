//! Background-job leases in memory ([`JobStorage`]): one process, so a lease only keeps a job
//! from overlapping itself. The held job names are not data of any app and live beside
//! [`crate::State`] under their own lock, which a lease takes again when it is dropped; no
//! removal cascades to them.

use crate::MemoryStorage;
use async_trait::async_trait;
use st_core::storage::{JobLease, JobStorage, SResult};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use tracing::field::Empty;
use tracing::instrument;

/// The names of the jobs whose lease is held.
#[derive(Clone, Default)]
pub(crate) struct Leases(Arc<Mutex<HashSet<String>>>);

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        // Inserting or removing one name cannot be left half done.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct MemoryLease {
    name: String,
    leases: Leases,
}

impl JobLease for MemoryLease {}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        self.leases.lock().remove(&self.name);
    }
}

#[async_trait]
impl JobStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.try_lock_job", skip_all, fields(
        otel.kind = "client", db.system = "memory", job = job, otel.status_code = Empty, error.type = Empty))]
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>> {
        if !self.jobs.lock().insert(job.to_string()) {
            return Ok(None);
        }
        Ok(Some(Box::new(MemoryLease { name: job.to_string(), leases: self.jobs.clone() })))
    }
}
