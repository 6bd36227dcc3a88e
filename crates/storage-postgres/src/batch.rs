//! Opportunistic batching of session creation.
//!
//! Under load most of PostgreSQL's CPU per session creation is the per-statement overhead
//! (protocol, executor start, commit), not the row: `pgbench` on this kind of machine ran the
//! single-row create statement at about 18.8k/s and an 8-row version of it at about 30k rows/s.
//! So concurrent creations share statements: a creation queues its row; at most
//! [`MAX_LEADERS`] leader tasks each take everything queued (up to [`MAX_BATCH`] rows), run one
//! statement for it, hand every caller its own result and repeat until the queue is empty.
//! A creation that finds a free leader slot and nothing queued runs the single-row statement
//! itself, so without concurrency nothing waits or changes threads. The batch statement is atomic like each single one; if it fails (say a
//! tenant was deleted meanwhile and its foreign key refuses one row), every row of the batch is
//! retried alone, so each caller gets the answer it would have got alone; if the database is
//! unavailable, every caller gets that error at once.
//!
//! Leaders are spawned tasks, not the callers' futures: a caller that goes away (client
//! disconnect) cannot strand the rows that its leader had taken. They run on the runtime that
//! built the storage (the server's main thread), not on the caller's HTTP worker thread: the
//! caller signs its access token while its row is being stored, and a leader queued behind
//! that signature on the same single-threaded worker would start the statement only after it.

use crate::{sessions, users, PgStorage};
use st_core::storage::{SResult, SessionIdentity, SessionRow};
use st_core::StorageError;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Statements in flight at once for session creation.
pub(crate) const MAX_LEADERS: usize = 2;
/// Rows per statement at most.
pub(crate) const MAX_BATCH: usize = 32;

type Reply = oneshot::Sender<SResult<Option<SessionIdentity>>>;

#[derive(Default)]
pub(crate) struct CreateQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    rows: Vec<(SessionRow, Reply)>,
    leaders: usize,
}

impl CreateQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // The state stays consistent under a panic (a push or a drain), so a poisoned lock is
        // still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A spawned leader's slot. The leader serves the queue until it is empty; if its task ends
/// any other way (a panic, or a runtime shutting down before it ran), dropping the slot gives
/// it back and, when no leader is left, fails the queued rows rather than leaving their
/// callers waiting forever.
struct SpawnedSlot {
    storage: PgStorage,
    done: bool,
}

impl SpawnedSlot {
    async fn lead(mut self) {
        while let Some(batch) = self.storage.next_batch() {
            let (rows, replies): (Vec<SessionRow>, Vec<Reply>) = batch.into_iter().unzip();
            let results = self.storage.insert_sessions(&rows).await;
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have gone away; its row is stored all the same.
                let _ = reply.send(result);
            }
        }
        // `next_batch` gave the slot back.
        self.done = true;
    }
}

impl Drop for SpawnedSlot {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = self.storage.create_queue().state();
        st.leaders -= 1;
        if st.leaders == 0 {
            // Dropping the replies answers their callers with an error.
            st.rows.clear();
        }
    }
}

/// A leader slot taken by a caller that runs its own row: when it is done (or dropped, if
/// its caller goes away), the slot is given back, or handed to a spawned leader when rows
/// have queued meanwhile.
struct LeaderSlot<'a>(&'a PgStorage);

impl Drop for LeaderSlot<'_> {
    fn drop(&mut self) {
        let mut st = self.0.create_queue().state();
        if st.rows.is_empty() {
            st.leaders -= 1;
        } else {
            drop(st);
            self.0.spawn_leader();
        }
    }
}

impl PgStorage {
    /// Insert `row` with the statements of concurrent creations (see the module docs).
    pub(crate) async fn create_session_batched(&self, row: &SessionRow) -> SResult<Option<SessionIdentity>> {
        let alone = {
            let mut st = self.create_queue().state();
            let alone = st.leaders < MAX_LEADERS && st.rows.is_empty();
            if alone {
                st.leaders += 1;
            }
            alone
        };
        if alone {
            // Nothing waits: run the single-row statement right here, as a leader whose
            // slot passes on to a spawned leader if rows queued meanwhile.
            let _slot = LeaderSlot(self);
            return self.insert_session_alone(row).await;
        }
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut st = self.create_queue().state();
            st.rows.push((row.clone(), tx));
            let lead = st.leaders < MAX_LEADERS;
            if lead {
                st.leaders += 1;
            }
            lead
        };
        if lead {
            self.spawn_leader();
        }
        rx.await.map_err(|_| StorageError::Query("the session insert was abandoned".into()))?
    }

    /// Start a leader task that owns one leader slot (already counted).
    fn spawn_leader(&self) {
        let slot = SpawnedSlot { storage: self.clone(), done: false };
        self.runtime().spawn(async move { slot.lead().await });
    }

    /// The next batch, or `None` (and the slot given back) when nothing is queued.
    fn next_batch(&self) -> Option<Vec<(SessionRow, Reply)>> {
        let mut st = self.create_queue().state();
        if st.rows.is_empty() {
            st.leaders -= 1;
            return None;
        }
        let n = st.rows.len().min(MAX_BATCH);
        Some(st.rows.drain(..n).collect())
    }

    /// One result per row, in order.
    async fn insert_sessions(&self, rows: &[SessionRow]) -> Vec<SResult<Option<SessionIdentity>>> {
        if rows.len() > 1 {
            match self.insert_sessions_together(rows).await {
                Ok(found) => return found.into_iter().map(Ok).collect(),
                // The database is unreachable (or the connection broke): every row would fail
                // the same way, slowly, so every caller gets this error now.
                Err(StorageError::Unavailable(e)) => {
                    return rows.iter().map(|_| Err(StorageError::Unavailable(e.clone()))).collect();
                }
                Err(e) => {
                    tracing::debug!(rows = rows.len(), error = %e, "batched session insert failed, retrying each row alone")
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.insert_session_alone(row).await);
        }
        out
    }

    async fn insert_session_alone(&self, row: &SessionRow) -> SResult<Option<SessionIdentity>> {
        let text = sessions::InsertText::new(row)?;
        let found = self.query_opt(&self.sql().session_insert_resolved, &sessions::insert_params(row, &text)).await?;
        match found {
            Some(r) => users::identity_from_row(&r, 0),
            None => Ok(None),
        }
    }

    /// `session_insert_many`: all rows in one statement, each row's identity by its ordinal.
    async fn insert_sessions_together(&self, rows: &[SessionRow]) -> SResult<Vec<Option<SessionIdentity>>> {
        let mut apps = Vec::with_capacity(rows.len());
        let mut tenants = Vec::with_capacity(rows.len());
        let mut data = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        for row in rows {
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
        let found = self
            .query(
                &self.sql().session_insert_many,
                &[&apps, &tenants, &handles, &user_ids, &hashes, &data, &expires, &created, &payloads, &static_key],
            )
            .await?;
        let mut out = vec![None; rows.len()];
        for r in &found {
            let n: i64 = crate::col(r, 0)?;
            let slot = usize::try_from(n - 1)
                .ok()
                .and_then(|i| out.get_mut(i))
                .ok_or_else(|| StorageError::Query(format!("batched session insert: unexpected ordinal {n}")))?;
            *slot = users::identity_from_row(r, 1)?;
        }
        Ok(out)
    }
}
