//! Opportunistic batching of the hot session statements: creation, the snapshot read that
//! every refresh starts with, and the separate `user_last_active` upsert of a refresh whose
//! read ran while no other was in flight (see [`SessionSnapshots`]).
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
//! statement only after it.

use crate::{sessions, users, PgStorage};
use st_core::ids::TenantIdentifier;
use st_core::storage::{SResult, SessionIdentity, SessionRow};
use st_core::StorageError;
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio_postgres::types::ToSql;

/// Statements in flight at once per kind of batch.
pub(crate) const MAX_LEADERS: usize = 2;
/// Items per statement at most.
pub(crate) const MAX_BATCH: usize = 32;

/// One kind of batchable statement: how to run one item alone and many together.
pub(crate) trait Batched: Sized + Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;
    const WHAT: &'static str;
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
        let alone = (st.leaders < MAX_LEADERS && st.items.is_empty()).then_some(st.leaders == 0);
        if alone.is_some() {
            st.leaders += 1;
        }
        alone
    };
    if let Some(idle) = alone {
        // Nothing waits: run the single statement right here, as a leader whose slot passes
        // on to a spawned leader if items queued meanwhile.
        let _slot = LeaderSlot::<B>(storage, std::marker::PhantomData);
        return B::alone(storage, &item, idle).await;
    }
    let (tx, rx) = oneshot::channel();
    let lead = {
        let mut st = queue.state();
        st.items.push((item, tx));
        let lead = st.leaders < MAX_LEADERS;
        if lead {
            st.leaders += 1;
        }
        lead
    };
    if lead {
        spawn_leader::<B>(storage);
    }
    rx.await.map_err(|_| StorageError::Query(format!("the batched {} was abandoned", B::WHAT)))?
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

/// Place each returned row by its 1-based ordinal (column 0); `parse` gets the row and the
/// index of its item.
fn by_ordinal<T: Clone>(
    rows: &[tokio_postgres::Row],
    n: usize,
    what: &str,
    mut parse: impl FnMut(&tokio_postgres::Row, usize) -> SResult<T>,
) -> SResult<Vec<Option<T>>> {
    let mut out = vec![None; n];
    for r in rows {
        let ordinal: i64 = crate::col(r, 0)?;
        let index = usize::try_from(ordinal - 1)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| StorageError::Query(format!("batched {what}: unexpected ordinal {ordinal}")))?;
        out[index] = Some(parse(r, index)?);
    }
    Ok(out)
}

/// Session creation: insert the row, resolve the user, record the activity unless throttled.
pub(crate) struct CreateSessions;

/// One session to create.
pub(crate) struct NewSession {
    pub(crate) row: SessionRow,
    /// Whether to record the user as active (false: this instance recorded it recently).
    pub(crate) record_activity: bool,
}

impl Batched for CreateSessions {
    type Item = NewSession;
    type Output = Option<SessionIdentity>;
    const WHAT: &'static str = "session insert";

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batch_queues().create
    }

    async fn alone(storage: &PgStorage, new: &NewSession, _idle: bool) -> SResult<Option<SessionIdentity>> {
        let text = sessions::InsertText::new(&new.row)?;
        let [a, b, c, d, e, f, g, h, i, j] = sessions::insert_params(&new.row, &text);
        let params: [&(dyn ToSql + Sync); 11] = [a, b, c, d, e, f, g, h, i, j, &new.record_activity];
        let found = storage.query_opt(&storage.sql().session_insert_resolved, &params).await?;
        match found {
            Some(r) => users::identity_from_row(&r, 0),
            None => Ok(None),
        }
    }

    /// `session_insert_many`: all rows in one statement, each row's identity by its ordinal.
    async fn together(storage: &PgStorage, items: &[NewSession]) -> SResult<Vec<Option<SessionIdentity>>> {
        let rows: Vec<&SessionRow> = items.iter().map(|n| &n.row).collect();
        let mut apps = Vec::with_capacity(rows.len());
        let mut tenants = Vec::with_capacity(rows.len());
        let mut data = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        for row in rows.iter().copied() {
            let text = sessions::InsertText::new(row)?;
            apps.push(row.tenant.app.as_str());
            tenants.push(row.tenant.tenant.as_str());
            data.push(text.data);
            payloads.push(text.payload);
        }
        let handles: Vec<&str> = rows.iter().map(|r| r.handle.as_str()).collect();
        let user_ids: Vec<&str> = rows.iter().map(|r| r.user_id.as_str()).collect();
        let hashes: Vec<&str> = rows.iter().map(|r| r.refresh_token_hash_2.as_str()).collect();
        let expires: Vec<i64> = rows.iter().map(|r| r.expires_at).collect();
        let created: Vec<i64> = rows.iter().map(|r| r.created_at).collect();
        let static_key: Vec<bool> = rows.iter().map(|r| r.use_static_key).collect();
        let record: Vec<bool> = items.iter().map(|n| n.record_activity).collect();
        let found = storage
            .query(
                &storage.sql().session_insert_many,
                &[
                    &apps,
                    &tenants,
                    &handles,
                    &user_ids,
                    &hashes,
                    &data,
                    &expires,
                    &created,
                    &payloads,
                    &static_key,
                    &record,
                ],
            )
            .await?;
        // Every inserted row comes back (its identity may be NULL): a missing ordinal would be
        // a bug, and then reads as "no such user".
        let found = by_ordinal(&found, rows.len(), Self::WHAT, |r, _| users::identity_from_row(r, 1))?;
        Ok(found.into_iter().map(Option::flatten).collect())
    }
}

/// The first read of a refresh: the session row with its user's identity, and the activity
/// upsert of each read whose row accepts its token, in the same statement. Except when the
/// read runs alone on an idle queue: then it is a pure read, because the write would lengthen
/// the read that the refresh waits for, and the caller writes the activity while it signs
/// ([`LastActiveTouches`]). Under concurrency one more statement per refresh would cost more
/// throughput than the write adds to a statement that runs anyway.
pub(crate) struct SessionSnapshots;

/// One snapshot read.
pub(crate) struct SnapshotRead {
    pub(crate) tenant: TenantIdentifier,
    pub(crate) handle: String,
    /// The hashes the row must hold for the read to record activity (the current one and, for
    /// a child token, its parent's) and the time to record; `None`: no activity.
    pub(crate) touch: Option<(String, Option<String>, i64)>,
}

/// The session row and its user's identity (`None` when the session does not exist), and
/// whether the read judged the activity.
pub(crate) type Snapshot = (Option<(SessionRow, Option<SessionIdentity>)>, bool);

impl Batched for SessionSnapshots {
    type Item = SnapshotRead;
    type Output = Snapshot;
    const WHAT: &'static str = "session snapshot read";

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batch_queues().snapshot
    }

    async fn alone(storage: &PgStorage, read: &SnapshotRead, idle: bool) -> SResult<Snapshot> {
        let (app, t) = (read.tenant.app.as_str(), read.tenant.tenant.as_str());
        let touch = read.touch.as_ref().filter(|_| !idle);
        let row = match touch {
            None => storage.query_opt(&storage.sql().session_select_resolved, &[&app, &t, &read.handle]).await?,
            Some((current, parent, now)) => {
                let mut hashes: Vec<&str> = vec![current.as_str()];
                hashes.extend(parent.as_deref());
                let params: [&(dyn ToSql + Sync); 5] = [&app, &t, &read.handle, &hashes, now];
                storage.query_opt(&storage.sql().session_select_resolved_touch, &params).await?
            }
        };
        let recorded = touch.is_some();
        let Some(row) = row else { return Ok((None, recorded)) };
        let identity = users::identity_from_row(&row, 7)?;
        Ok((Some((sessions::session_from_row(&read.tenant, &read.handle, &row)?, identity)), recorded))
    }

    /// `session_select_touch_many`: one row per found session, by ordinal.
    async fn together(storage: &PgStorage, reads: &[SnapshotRead]) -> SResult<Vec<Snapshot>> {
        let apps: Vec<&str> = reads.iter().map(|r| r.tenant.app.as_str()).collect();
        let tenants: Vec<&str> = reads.iter().map(|r| r.tenant.tenant.as_str()).collect();
        let handles: Vec<&str> = reads.iter().map(|r| r.handle.as_str()).collect();
        let touches = || reads.iter().map(|r| r.touch.as_ref());
        let current: Vec<Option<&str>> = touches().map(|t| t.map(|t| t.0.as_str())).collect();
        let parents: Vec<Option<&str>> = touches().map(|t| t.and_then(|t| t.1.as_deref())).collect();
        let now: Vec<Option<i64>> = touches().map(|t| t.map(|t| t.2)).collect();
        let rows = storage
            .query(&storage.sql().session_select_touch_many, &[&apps, &tenants, &handles, &current, &parents, &now])
            .await?;
        let found = by_ordinal(&rows, reads.len(), Self::WHAT, |r, i| {
            let read = &reads[i];
            Ok((sessions::session_from_row_at(&read.tenant, &read.handle, r, 1)?, users::identity_from_row(r, 8)?))
        })?;
        Ok(found.into_iter().zip(reads).map(|(f, r)| (f, r.touch.is_some())).collect())
    }
}

/// The `user_last_active` upsert of a successful refresh whose read did not record it (see
/// [`SessionSnapshots`]).
pub(crate) struct LastActiveTouches;

/// One user's activity at one time.
pub(crate) struct Touch {
    pub(crate) app: String,
    pub(crate) user_id: String,
    pub(crate) now_ms: i64,
}

impl Batched for LastActiveTouches {
    type Item = Touch;
    type Output = ();
    const WHAT: &'static str = "last-active upsert";

    fn queue(storage: &PgStorage) -> &BatchQueue<Self> {
        &storage.batch_queues().touch
    }

    async fn alone(storage: &PgStorage, t: &Touch, _idle: bool) -> SResult<()> {
        let params: [&(dyn ToSql + Sync); 3] = [&t.app, &t.user_id, &t.now_ms];
        storage.execute(&storage.sql().last_active_upsert, &params).await.map(|_| ())
    }

    /// `last_active_upsert_many`: one statement; a user touched twice keeps the later time.
    async fn together(storage: &PgStorage, touches: &[Touch]) -> SResult<Vec<()>> {
        let apps: Vec<&str> = touches.iter().map(|t| t.app.as_str()).collect();
        let users: Vec<&str> = touches.iter().map(|t| t.user_id.as_str()).collect();
        let times: Vec<i64> = touches.iter().map(|t| t.now_ms).collect();
        storage.execute(&storage.sql().last_active_upsert_many, &[&apps, &users, &times]).await?;
        Ok(vec![(); touches.len()])
    }
}

/// The batch queues of one storage.
#[derive(Default)]
pub(crate) struct BatchQueues {
    pub(crate) create: BatchQueue<CreateSessions>,
    pub(crate) snapshot: BatchQueue<SessionSnapshots>,
    pub(crate) touch: BatchQueue<LastActiveTouches>,
}
