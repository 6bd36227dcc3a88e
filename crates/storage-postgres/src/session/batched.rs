//! The session statements that concurrent calls share (see [`crate::batch`]): creation
//! ([`CreateSessions`]) and the snapshot read that every refresh starts with
//! ([`SessionSnapshots`]).

use super::{insert_params, session_from_row, session_from_row_at, InsertText, SESSION_COLUMNS};
use crate::batch::{by_ordinal, BatchQueue, Batched};
use crate::identity::identity_from_row;
use crate::PgStorage;
use st_core::ids::TenantIdentifier;
use st_core::storage::{SResult, SessionIdentity, SessionRow};
use tokio_postgres::types::ToSql;

/// The batch queues of the session recipe.
#[derive(Default)]
pub(crate) struct Queues {
    create: BatchQueue<CreateSessions>,
    snapshot: BatchQueue<SessionSnapshots>,
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
        &storage.batches().session.create
    }

    async fn alone(storage: &PgStorage, new: &NewSession, _idle: bool) -> SResult<Option<SessionIdentity>> {
        let text = InsertText::new(&new.row)?;
        let [a, b, c, d, e, f, g, h, i, j] = insert_params(&new.row, &text);
        let params: [&(dyn ToSql + Sync); 11] = [a, b, c, d, e, f, g, h, i, j, &new.record_activity];
        let found = storage.query_opt(&storage.session_sql().insert_resolved, &params).await?;
        match found {
            Some(r) => identity_from_row(&r, 0),
            None => Ok(None),
        }
    }

    /// `SessionSql::insert_many`: all rows in one statement, each row's identity by its ordinal.
    async fn together(storage: &PgStorage, items: &[NewSession]) -> SResult<Vec<Option<SessionIdentity>>> {
        let rows: Vec<&SessionRow> = items.iter().map(|n| &n.row).collect();
        let mut apps = Vec::with_capacity(rows.len());
        let mut tenants = Vec::with_capacity(rows.len());
        let mut data = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        for row in rows.iter().copied() {
            let text = InsertText::new(row)?;
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
                &storage.session_sql().insert_many,
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
        let found = by_ordinal(&found, rows.len(), Self::WHAT, |r, _| identity_from_row(r, 1))?;
        Ok(found.into_iter().map(Option::flatten).collect())
    }
}

/// The first read of a refresh: the session row with its user's identity, and the activity
/// upsert of each read whose row accepts its token, in the same statement. Except when the
/// read runs alone on an idle queue: then it is a pure read, because the write would lengthen
/// the read that the refresh waits for, and the caller writes the activity while it signs
/// (`touch_user_last_active`, batched in `active_users.rs`). Under concurrency one more
/// statement per refresh would cost more throughput than the write adds to a statement that
/// runs anyway.
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
        &storage.batches().session.snapshot
    }

    async fn alone(storage: &PgStorage, read: &SnapshotRead, idle: bool) -> SResult<Snapshot> {
        let (app, t) = (read.tenant.app.as_str(), read.tenant.tenant.as_str());
        let touch = read.touch.as_ref().filter(|_| !idle);
        let row = match touch {
            None => storage.query_opt(&storage.session_sql().select_resolved, &[&app, &t, &read.handle]).await?,
            Some((current, parent, now)) => {
                let mut hashes: Vec<&str> = vec![current.as_str()];
                hashes.extend(parent.as_deref());
                let params: [&(dyn ToSql + Sync); 5] = [&app, &t, &read.handle, &hashes, now];
                storage.query_opt(&storage.session_sql().select_resolved_touch, &params).await?
            }
        };
        let recorded = touch.is_some();
        let Some(row) = row else { return Ok((None, recorded)) };
        let identity = identity_from_row(&row, SESSION_COLUMNS)?;
        Ok((Some((session_from_row(&read.tenant, &read.handle, &row)?, identity)), recorded))
    }

    /// `SessionSql::select_touch_many`: one row per found session, by ordinal.
    async fn together(storage: &PgStorage, reads: &[SnapshotRead]) -> SResult<Vec<Snapshot>> {
        let apps: Vec<&str> = reads.iter().map(|r| r.tenant.app.as_str()).collect();
        let tenants: Vec<&str> = reads.iter().map(|r| r.tenant.tenant.as_str()).collect();
        let handles: Vec<&str> = reads.iter().map(|r| r.handle.as_str()).collect();
        let touches = || reads.iter().map(|r| r.touch.as_ref());
        let current: Vec<Option<&str>> = touches().map(|t| t.map(|t| t.0.as_str())).collect();
        let parents: Vec<Option<&str>> = touches().map(|t| t.and_then(|t| t.1.as_deref())).collect();
        let now: Vec<Option<i64>> = touches().map(|t| t.map(|t| t.2)).collect();
        let rows = storage
            .query(&storage.session_sql().select_touch_many, &[&apps, &tenants, &handles, &current, &parents, &now])
            .await?;
        let found = by_ordinal(&rows, reads.len(), Self::WHAT, |r, i| {
            let read = &reads[i];
            Ok((session_from_row_at(&read.tenant, &read.handle, r, 1)?, identity_from_row(r, 1 + SESSION_COLUMNS)?))
        })?;
        Ok(found.into_iter().zip(reads).map(|(f, r)| (f, r.touch.is_some())).collect())
    }
}
