//! Opportunistic batching of hot statements, generic over the kind of statement
//! ([`Batched`]): the session module batches creations and the snapshot read that every refresh
//! starts with, the active-users module the separate `user_last_active` upsert of a refresh.
//!
//! Under load most of PostgreSQL's CPU per session creation is the per-statement overhead
//! (protocol, executor start, commit), not the row: `pgbench` on this kind of machine ran the
//! single-row create statement at about 18.8k/s and an 8-row version of it at about 30k rows/s.
//! So concurrent calls share statements: a call queues its item; at most [`MAX_LEADERS`]
//! leader tasks per kind each take everything queued (up to [`MAX_BATCH`] items), run one
//! statement for it, hand every caller its own result and repeat until the queue is empty.
//! A call that finds a free leader slot and nothing queued runs the single-row statement
//! itself, so without concurrency nothing waits or changes threads. The batch statement is
//! atomic like each single one; if it fails (say a tenant was deleted meanwhile and its
//! foreign key refuses one row), every item of the batch is retried alone, so each caller gets
//! the answer it would have got alone; if the database is unavailable, every caller gets that
//! error at once.
//!
//! Leaders are spawned tasks, not the callers' futures: a caller that goes away (client
//! disconnect) cannot strand the items that its leader had taken. They run on the runtime that
//! built the storage (the server's main thread), not on the caller's HTTP worker thread: the
//! caller signs its access token (or encrypts its refresh token) while its statement runs, and
//! a leader queued behind that work on the same single-threaded worker would start the
//! statement only after it. A leader runs outside the callers' storage spans, so [`run`] marks
//! the caller's span with the error it hands back.
//!
//! Adding a kind: a type implementing [`Batched`] in its recipe's module and a [`BatchQueue`]
//! for it in the storage's `Batches`.

use crate::query::col;
use crate::{error, PgStorage};
use st_core::storage::{traced_error, SResult};
use st_core::StorageError;
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Statements in flight at once per kind of batch.
pub(crate) const MAX_LEADERS: usize = 2;
/// Items per statement at most.
pub(crate) const MAX_BATCH: usize = 32;

/// One kind of batchable statement: how to run one item alone and many together.
pub(crate) trait Batched: Sized + Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;
    const WHAT: &'static str;
    /// Statements of this kind in flight at once.
    const LEADERS: usize = MAX_LEADERS;
    fn queue(storage: &PgStorage) -> &BatchQueue<Self>;
    /// One item in its own statement. `idle`: no other statement of this kind is in flight
    /// (the call competes with nobody, so its latency is what counts, not the statement count).
    fn alone(storage: &PgStorage, item: &Self::Item, idle: bool) -> impl Future<Output = SResult<Self::Output>> + Send;
    /// One output per item, in order.
    fn together(storage: &PgStorage, items: &[Self::Item]) -> impl Future<Output = SResult<Vec<Self::Output>>> + Send;
}

type Reply<B> = oneshot::Sender<SResult<<B as Batched>::Output>>;

pub(crate) struct BatchQueue<B: Batched> {
    state: Mutex<QueueState<B>>,
}

impl<B: Batched> Default for BatchQueue<B> {
    fn default() -> Self {
        BatchQueue { state: Mutex::new(QueueState { items: Vec::new(), leaders: 0 }) }
    }
}

struct QueueState<B: Batched> {
    items: Vec<(B::Item, Reply<B>)>,
    leaders: usize,
}

impl<B: Batched> BatchQueue<B> {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState<B>> {
        // The state stays consistent under a panic (a push or a drain), so a poisoned lock is
        // still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A spawned leader's slot. The leader serves the queue until it is empty; if its task ends
/// any other way (a panic, or a runtime shutting down before it ran), dropping the slot gives
/// it back and, when no leader is left, fails the queued items rather than leaving their
/// callers waiting forever.
struct SpawnedSlot<B: Batched> {
    storage: PgStorage,
    done: bool,
    kind: std::marker::PhantomData<B>,
}

impl<B: Batched> SpawnedSlot<B> {
    async fn lead(mut self) {
        while let Some(batch) = next_batch::<B>(&self.storage) {
            let (items, replies): (Vec<B::Item>, Vec<Reply<B>>) = batch.into_iter().unzip();
            let results = run_batch::<B>(&self.storage, &items).await;
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone away; its statement ran all the same.
                let _ = reply.send(result);
            }
        }
        // `next_batch` gave the slot back.
        self.done = true;
    }
}

impl<B: Batched> Drop for SpawnedSlot<B> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = B::queue(&self.storage).state();
        st.leaders -= 1;
        if st.leaders == 0 {
            // Dropping the replies answers their callers with an error.
            st.items.clear();
        }
    }
}

/// A leader slot taken by a caller that runs its own item: when it is done (or dropped, if
/// its caller goes away), the slot is given back, or handed to a spawned leader when items
/// have queued meanwhile.
struct LeaderSlot<'a, B: Batched>(&'a PgStorage, std::marker::PhantomData<B>);

impl<B: Batched> Drop for LeaderSlot<'_, B> {
    fn drop(&mut self) {
        let mut st = B::queue(self.0).state();
        if st.items.is_empty() {
            st.leaders -= 1;
        } else {
            drop(st);
            spawn_leader::<B>(self.0);
        }
    }
}

/// Run `item` with the statements of concurrent calls of the same kind (see the module docs).
pub(crate) async fn run<B: Batched>(storage: &PgStorage, item: B::Item) -> SResult<B::Output> {
    let queue = B::queue(storage);
    let alone = {
        let mut st = queue.state();
        let alone = (st.leaders < B::LEADERS && st.items.is_empty()).then_some(st.leaders == 0);
        if alone.is_some() {
            st.leaders += 1;
        }
        alone
    };
    if let Some(idle) = alone {
        // Nothing waits: run the single statement right here, as a leader whose slot passes
        // on to a spawned leader if items queued meanwhile.
        let _slot = LeaderSlot::<B>(storage, std::marker::PhantomData);
        return B::alone(storage, &item, idle).await.map_err(traced_error);
    }
    let (tx, rx) = oneshot::channel();
    let lead = {
        let mut st = queue.state();
        st.items.push((item, tx));
        let lead = st.leaders < B::LEADERS;
        if lead {
            st.leaders += 1;
        }
        lead
    };
    if lead {
        spawn_leader::<B>(storage);
    }
    // The leader ran outside this call's span: mark it with the error handed back.
    let result = rx.await.map_err(|_| error::query(format!("the batched {} was abandoned", B::WHAT)))?;
    result.map_err(traced_error)
}

/// Start a leader task that owns one leader slot (already counted).
fn spawn_leader<B: Batched>(storage: &PgStorage) {
    let slot = SpawnedSlot::<B> { storage: storage.clone(), done: false, kind: std::marker::PhantomData };
    storage.runtime().spawn(async move { slot.lead().await });
}

/// The next batch, or `None` (and the slot given back) when nothing is queued.
fn next_batch<B: Batched>(storage: &PgStorage) -> Option<Vec<(B::Item, Reply<B>)>> {
    let mut st = B::queue(storage).state();
    if st.items.is_empty() {
        st.leaders -= 1;
        return None;
    }
    let n = st.items.len().min(MAX_BATCH);
    Some(st.items.drain(..n).collect())
}

/// One result per item, in order.
async fn run_batch<B: Batched>(storage: &PgStorage, items: &[B::Item]) -> Vec<SResult<B::Output>> {
    if items.len() > 1 {
        match B::together(storage, items).await {
            Ok(found) if found.len() == items.len() => return found.into_iter().map(Ok).collect(),
            Ok(found) => tracing::warn!(
                what = B::WHAT,
                items = items.len(),
                outputs = found.len(),
                "batched statement answered for the wrong number of items, retrying each alone"
            ),
            // The database is unreachable (or the connection broke): every item would fail
            // the same way, slowly, so every caller gets this error now.
            Err(StorageError::Unavailable(e)) => {
                return items.iter().map(|_| Err(StorageError::Unavailable(e.clone()))).collect();
            }
            Err(e) => {
                tracing::debug!(what = B::WHAT, items = items.len(), error = %e, "batched statement failed, retrying each item alone")
            }
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(B::alone(storage, item, false).await);
    }
    out
}

/// Place each returned row of a batch statement by its 1-based ordinal (column 0); `parse`
/// gets the row and the index of its item.
pub(crate) fn by_ordinal<T: Clone>(
    rows: &[tokio_postgres::Row],
    n: usize,
    what: &str,
    mut parse: impl FnMut(&tokio_postgres::Row, usize) -> SResult<T>,
) -> SResult<Vec<Option<T>>> {
    let mut out = vec![None; n];
    for r in rows {
        let ordinal: i64 = col(r, 0)?;
        let index = usize::try_from(ordinal - 1)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| error::query(format!("batched {what}: unexpected ordinal {ordinal}")))?;
        out[index] = Some(parse(r, index)?);
    }
    Ok(out)
}
