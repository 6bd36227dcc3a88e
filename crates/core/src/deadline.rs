//! Client-side bounds on waiting for storage.
//!
//! A database that stops answering without closing its sockets (a frozen process, a network
//! partition) would keep a request waiting for as long as it stays frozen: no server-side
//! timeout fires, and the driver's read never returns. [`within`] runs a future under a bound
//! and a *scope*; when the bound passes (or the caller drops the future, e.g. the client went
//! away) the scope is marked expired **before** the future, and the database connections it
//! holds, are dropped. A storage backend that checks its connections out under a scope
//! ([`current`]) discards, instead of returning to its pool, every connection still held when
//! its scope expired: such a connection may have a statement in flight that will never be
//! answered, and the next caller would wait behind it.
//!
//! Scopes nest: a connection belongs to the innermost scope of the task that checked it out.
//! Work outside any scope (background jobs, batch leaders) is bounded by the backend's own
//! settings only.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// One bounded piece of work (see the module documentation).
#[derive(Debug, Default)]
pub struct Scope {
    expired: AtomicBool,
}

impl Scope {
    /// Whether the work this scope bounds ended before everything it held was released.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}

/// The innermost scope of the current task, if any.
pub fn current() -> Option<Arc<Scope>> {
    SCOPE.try_with(Arc::clone).ok()
}

/// The bound passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Marks its scope expired when dropped: on every way out of [`within`], before the inner
/// future (declared earlier, so dropped later) releases what it still holds.
struct ExpireOnDrop(Arc<Scope>);

impl Drop for ExpireOnDrop {
    fn drop(&mut self) {
        self.0.expired.store(true, Ordering::Release);
    }
}

/// Run `fut` for at most `bound` in a new scope. A future that finishes has released its
/// connections already; whatever is still held when the bound passes, or when this future is
/// dropped, belongs to an expired scope.
pub async fn within<F: Future>(bound: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let scope = Arc::new(Scope::default());
    let mut inner = pin!(SCOPE.scope(scope.clone(), fut));
    let _expire = ExpireOnDrop(scope);
    let mut sleep = pin!(tokio::time::sleep(bound));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = inner.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_expires_when_its_bound_passes_and_not_before_its_work_ends() {
        let held = within(Duration::from_secs(5), async { current().unwrap() }).await.unwrap();
        // Finished work: the scope is expired once `within` returned, but nothing was held.
        assert!(held.expired());

        struct Probe(Option<Arc<Scope>>, Arc<AtomicBool>);
        impl Drop for Probe {
            fn drop(&mut self) {
                let expired = self.0.as_ref().map(|s| s.expired()).unwrap_or(false);
                self.1.store(expired, Ordering::SeqCst);
            }
        }
        let seen = Arc::new(AtomicBool::new(false));
        let seen2 = seen.clone();
        let out = within(Duration::from_millis(20), async move {
            let _probe = Probe(current(), seen2);
            std::future::pending::<()>().await
        })
        .await;
        assert_eq!(out, Err(Elapsed));
        assert!(seen.load(Ordering::SeqCst), "dropped after its scope was marked expired");

        // A connection released before the end sees a live scope.
        let seen = Arc::new(AtomicBool::new(true));
        let seen2 = seen.clone();
        within(Duration::from_secs(5), async move {
            drop(Probe(current(), seen2));
        })
        .await
        .unwrap();
        assert!(!seen.load(Ordering::SeqCst));
        assert!(current().is_none(), "no scope outside within");
    }
}
