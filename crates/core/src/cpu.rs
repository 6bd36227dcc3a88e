//! CPU-bound request work (RS256 signatures, about 0.7 ms each) off the async workers.
//!
//! Why: an HTTP worker that signs inline cannot poll anything else meanwhile. Under load a
//! request whose database answer has arrived then waits behind other requests' signatures
//! while it still holds its pool connection, and the pool (10 connections by default) becomes
//! the limit long before the CPU does. Signing here keeps the workers free to move database
//! round trips along; a semaphore with one permit per core keeps the signatures themselves from
//! oversubscribing the machine, and waiting for a permit is async.

use crate::error::{CoreError, CoreResult};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct CpuPool {
    permits: Arc<Semaphore>,
}

impl CpuPool {
    /// At most `threads` jobs run at once (at least one).
    pub fn new(threads: usize) -> CpuPool {
        CpuPool { permits: Arc::new(Semaphore::new(threads.max(1))) }
    }

    /// One job per available core.
    pub fn per_core() -> CpuPool {
        CpuPool::new(std::thread::available_parallelism().map(usize::from).unwrap_or(2))
    }

    /// Run `job` on the blocking pool once a permit is free.
    pub async fn run<R, F>(&self, job: F) -> CoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| CoreError::Internal("cpu pool closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| CoreError::Internal(format!("cpu job failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_jobs_and_bounds_concurrency() {
        let pool = Arc::new(CpuPool::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..8usize {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                })
                .await
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap().unwrap());
        }
        assert_eq!(results, (0..8).map(|i| i * 2).collect::<Vec<_>>());
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak concurrency {peak}");
    }
}
