//! [`JobStorage`]: cross-instance locks for background jobs, so that one instance sharing the
//! database runs a job at a time.
//!
//! A job's lock is the session-level `pg_try_advisory_lock(key)`, key = hash of the job name
//! and the user pool (schema + prefix), held on a dedicated connection outside the pool;
//! the [`JobLease`] owns that connection.

use crate::query::col;
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::storage::{JobLease, JobStorage, SResult};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the jobs recipe.
#[derive(Debug)]
pub(crate) struct JobSql {
    advisory_try_lock: String,
}

impl JobSql {
    pub(crate) fn new(_t: &TableNames) -> JobSql {
        JobSql { advisory_try_lock: "SELECT pg_try_advisory_lock($1)".into() }
    }
}

/// A held background-job lock: a dedicated connection (outside the pool, so a small pool can
/// never be starved or deadlocked by jobs) holding the session-level
/// `pg_advisory_lock(key)`. Dropping it closes the connection, which makes the server release
/// the lock at once; this needs no runtime and works even if the job task panicked.
struct PgJobLease {
    _client: tokio_postgres::Client,
}

impl JobLease for PgJobLease {}

#[async_trait]
impl JobStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.try_lock_job", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", job = job, otel.status_code = Empty, error.type = Empty)
    )]
    async fn try_lock_job(&self, job: &str) -> SResult<Option<Box<dyn JobLease>>> {
        let key = self.lock_key("st-job", job);
        let (client, connection) =
            self.inner.pg.connect(self.inner.tls.clone()).await.map_err(|e| error::connect(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("job lock connection ended: {e}");
            }
        });
        let row = client.query_one(&self.sql().jobs.advisory_try_lock, &[&key]).await.map_err(error::pg)?;
        let obtained: bool = col(&row, 0)?;
        if !obtained {
            return Ok(None);
        }
        Ok(Some(Box::new(PgJobLease { _client: client })))
    }
}
