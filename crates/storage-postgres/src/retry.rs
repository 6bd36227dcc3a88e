//! Running an intent again when PostgreSQL rolled its transaction back for a conflict with a
//! concurrent one.
//!
//! Several server processes (and a Java core) may share the database, so a transaction can be
//! chosen as the victim of a deadlock (SQLSTATE 40P01), fail to serialise (40001, e.g. a row
//! updated concurrently under REPEATABLE READ), or be rolled back for another such reason
//! (40000). The whole transaction was undone and nothing it read still holds, so the intent is
//! run again from its start, in a fresh transaction on a connection from the pool, up to
//! [`RetryPolicy::attempts`] times, with a short jittered pause in between so the contenders do
//! not meet again at once. Any other error, and a business outcome (an `Ok`), is returned as
//! it is on the first try.
//!
//! Every intent of this crate runs this way: the transactions through
//! [`PgStorage::retrying`](crate::PgStorage::retrying), the single statements through the query
//! helpers of the `query` module (a statement outside a transaction is its own transaction).
//! The bulk import's settlement is the exception: it handles a rollback itself (its rows stay
//! claimed and are settled again later, see the `bulkimport` module).
//!
//! The Java plugin does the same in `Start.startTransaction`: up to 50 tries on SQLSTATE class
//! 40 (or a message naming a deadlock or a concurrent update), sleeping
//! `10 + (250 + min(2^try, 3000)) * random()` ms in between. Here the tries are fewer and the
//! pauses shorter (a deadlock already took PostgreSQL's `deadlock_timeout` to detect; the
//! contender that won holds its locks only for its own short transaction), and 40002/40003
//! are not retried: 40003 (statement completion unknown) may have been applied, and 40002 (a
//! deferred constraint failing at commit) fails again.
//!
//! The jitter's randomness is an input ([`st_core::random::Random`]; the storage uses the OS
//! generator), so the back-off is tested with fixed bytes.

use crate::error;
use st_core::random::{bytes, Random};
use st_core::storage::{traced_error, SResult};
use std::future::Future;
use std::time::Duration;

/// How often and after which pauses an intent rolled back by PostgreSQL is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (at least one is made).
    pub attempts: u32,
    /// The pause's scale before the first retry; it doubles with each further retry.
    pub base: Duration,
    /// The largest pause.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The storage's policy: 10 tries, pauses of 2.5–5 ms doubling up to 100–200 ms (at most
    /// about 1 s of pauses in all).
    pub const DEFAULT: RetryPolicy =
        RetryPolicy { attempts: 10, base: Duration::from_millis(5), cap: Duration::from_millis(200) };

    /// The pause before retry `retry` (1 for the first): the exponential step
    /// `min(cap, base * 2^(retry-1))`, half of it fixed and half drawn from `random` ("equal
    /// jitter": never zero, so a retry does not meet its contender at once, and spread, so two
    /// victims do not meet again).
    pub fn backoff(&self, retry: u32, random: &dyn Random) -> Duration {
        let doubling = 1u32 << retry.saturating_sub(1).min(20);
        let step = self.base.saturating_mul(doubling).min(self.cap);
        let half = step / 2;
        let span = u64::try_from(step.saturating_sub(half).as_micros()).unwrap_or(u64::MAX);
        let drawn = u64::from_le_bytes(bytes::<8>(random)) % span.saturating_add(1);
        half + Duration::from_micros(drawn)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

/// Whether `e` says PostgreSQL rolled the transaction back for a conflict with a concurrent
/// one, so that running the whole intent again may succeed (SQLSTATE 40000, 40001, 40P01).
pub fn is_retryable(e: &st_core::StorageError) -> bool {
    error::is_rollback(e)
}

/// Run `intent` (which opens its own transaction, or runs one statement) until it succeeds,
/// returns a business outcome or fails with an error that is not retryable ([`is_retryable`]),
/// at most `policy.attempts` times, pausing [`RetryPolicy::backoff`] between tries. The last
/// error is returned when the tries run out (and marks the storage span failed then).
pub async fn run<T, F, Fut>(policy: &RetryPolicy, random: &dyn Random, mut intent: F) -> SResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = SResult<T>>,
{
    let mut tried = 1;
    loop {
        match intent().await {
            Err(e) if is_retryable(&e) => {
                if tried >= policy.attempts {
                    tracing::warn!("transaction rolled back {tried} times by PostgreSQL, giving up: {e}");
                    return Err(traced_error(e));
                }
                let pause = policy.backoff(tried, random);
                tracing::debug!(try_number = tried, ?pause, "{e}; trying again");
                tokio::time::sleep(pause).await;
                tried += 1;
            }
            outcome => return outcome,
        }
    }
}

/// A driver error as the storage maps it (retryable ones included), for tests that run their
/// own transactions through [`run`].
#[doc(hidden)]
pub fn storage_error(e: tokio_postgres::Error) -> st_core::StorageError {
    error::pg(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use st_core::StorageError;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Every byte the same.
    struct Fixed(u8);

    impl Random for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn backoff_is_half_fixed_half_drawn_and_capped() {
        let p = RetryPolicy { attempts: 5, base: Duration::from_millis(10), cap: Duration::from_millis(50) };
        assert_eq!(p.backoff(1, &Fixed(0)), Duration::from_millis(5));
        assert_eq!(p.backoff(2, &Fixed(0)), Duration::from_millis(10));
        assert_eq!(p.backoff(3, &Fixed(0)), Duration::from_millis(20));
        assert_eq!(p.backoff(4, &Fixed(0)), Duration::from_millis(25), "capped at 50 ms");
        assert_eq!(p.backoff(40, &Fixed(0)), Duration::from_millis(25));
        // All ones: the largest draw, u64::MAX % 5001 µs = 3000 µs (below the 5 ms half).
        assert_eq!(p.backoff(1, &Fixed(0xff)), Duration::from_micros(5000 + u64::MAX % 5001));
        for retry in 1..10 {
            let d = p.backoff(retry, &Fixed(0x5a));
            assert!(d >= p.backoff(retry, &Fixed(0)) && d <= p.cap, "{retry}: {d:?}");
        }
    }

    fn rollback(code: &str) -> StorageError {
        StorageError::Query(format!("{code}: deadlock detected"))
    }

    #[tokio::test]
    async fn retries_rollbacks_up_to_the_limit_and_nothing_else() {
        let p = RetryPolicy { attempts: 3, base: Duration::from_micros(10), cap: Duration::from_micros(10) };
        let tries = AtomicU32::new(0);
        let r: SResult<u32> = run(&p, &Fixed(1), || async {
            let n = tries.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                Err(rollback(if n == 1 { "40P01" } else { "40001" }))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.ok(), Some(3));

        tries.store(0, Ordering::SeqCst);
        let r: SResult<()> = run(&p, &Fixed(1), || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(rollback("40P01"))
        })
        .await;
        assert!(matches!(r, Err(StorageError::Query(m)) if m.starts_with("40P01")));
        assert_eq!(tries.load(Ordering::SeqCst), 3, "the last error after the tries");

        for other in [
            rollback("40003"),
            rollback("23505"),
            StorageError::Query("400010: not a state".into()),
            StorageError::Unavailable("40P01: not a query error".into()),
            StorageError::TenantOrAppNotFound,
        ] {
            tries.store(0, Ordering::SeqCst);
            let shown = format!("{other:?}");
            let mut once = Some(other);
            let r: SResult<()> = run(&p, &Fixed(1), || {
                tries.fetch_add(1, Ordering::SeqCst);
                let e = once.take();
                async move { Err(e.unwrap_or(StorageError::TenantOrAppNotFound)) }
            })
            .await;
            assert!(r.is_err());
            assert_eq!(tries.load(Ordering::SeqCst), 1, "{shown} is not retried");
        }
    }
}
