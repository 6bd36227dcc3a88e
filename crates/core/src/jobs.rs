//! Background jobs. Each job runs on its own interval (first run after one interval). Jobs that
//! act on shared data are *exclusive*: before each run the instance must win the job's lease
//! from the storage (a PostgreSQL advisory lock), so with many instances and no leader a run
//! happens on one instance at a time. Jobs that refresh per-instance caches are not exclusive.

use crate::core::Core;
use crate::error::CoreResult;
use crate::stats::JobStats;
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[async_trait]
pub trait Job: Send + Sync {
    fn name(&self) -> &'static str;
    fn interval(&self) -> Duration;
    /// Whether only one instance may run it at a time.
    fn exclusive(&self) -> bool {
        true
    }
    async fn run(&self, core: &Core) -> CoreResult<()>;
    /// Whether its first run is at start-up rather than after one interval (the reference's
    /// `getInitialWaitTimeSeconds() == 0`).
    fn runs_at_start(&self) -> bool {
        false
    }
}

/// What an [`ExpiryJob`] runs: one storage intent that deletes the rows expired at `now`
/// (the clock is an input), returning how many.
pub type DeleteExpired = for<'a> fn(&'a Core, i64) -> Pin<Box<dyn Future<Output = CoreResult<u64>> + Send + 'a>>;

/// A recipe's cron job that deletes its expired rows (sessions, reset and verification tokens,
/// and later passwordless codes). Exclusive: one instance runs it at a time.
pub struct ExpiryJob {
    /// The reference's cron task name (metrics and logs).
    pub name: &'static str,
    pub interval: Duration,
    pub delete: DeleteExpired,
}

#[async_trait]
impl Job for ExpiryJob {
    fn name(&self) -> &'static str {
        self.name
    }
    fn interval(&self) -> Duration {
        self.interval
    }
    async fn run(&self, core: &Core) -> CoreResult<()> {
        let n = (self.delete)(core, core.now()).await?;
        tracing::debug!(job = self.name, deleted = n, "expired rows removed");
        Ok(())
    }
}

pub struct JobRunner {
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl JobRunner {
    /// Spawn one task per job on the current tokio runtime.
    pub fn start(core: Arc<Core>, jobs: Vec<Arc<dyn Job>>) -> JobRunner {
        let (tx, rx) = watch::channel(false);
        let stats = core.job_stats.clone();
        let mut handles = Vec::new();
        for job in jobs {
            let s = Arc::new(JobStats::default());
            stats.lock().unwrap_or_else(|p| p.into_inner()).insert(job.name(), s.clone());
            let core = core.clone();
            let mut rx = rx.clone();
            handles.push(tokio::spawn(async move {
                let mut wait = !job.runs_at_start();
                loop {
                    if wait {
                        tokio::select! {
                            _ = tokio::time::sleep(job.interval()) => {}
                            _ = rx.changed() => break,
                        }
                        if *rx.borrow() {
                            break;
                        }
                    }
                    wait = true;
                    run_once(&core, job.as_ref(), &s).await;
                }
            }));
        }
        JobRunner { shutdown: tx, handles }
    }

    /// Stop every job and wait for runs in progress to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// Run a job once (taking its lease if exclusive). Public so tests can drive jobs directly.
pub async fn run_once(core: &Core, job: &dyn Job, stats: &JobStats) {
    let lease = if job.exclusive() {
        match core.storage.try_lock_job(job.name()).await {
            Ok(Some(lease)) => Some(lease),
            Ok(None) => {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(job = job.name(), "could not take job lease: {e}");
                return;
            }
        }
    } else {
        None
    };
    stats.runs.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = job.run(core).await {
        stats.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(job = job.name(), "job failed: {e}");
    }
    drop(lease);
}

/// Reload apps, tenants and their configs so instances sharing a database converge.
pub struct SyncCoreConfig;

#[async_trait]
impl Job for SyncCoreConfig {
    fn name(&self) -> &'static str {
        "SyncCoreConfigWithDb"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }
    fn exclusive(&self) -> bool {
        false
    }
    async fn run(&self, core: &Core) -> CoreResult<()> {
        core.sync_tenants().await
    }
}
