//! [`SessionStorage`]: `session_info` and, in the statements that create or refresh a session,
//! `user_last_active`. Its statements are in `sql.rs`, its batched statements (creation and
//! the refresh's first read) in `batched.rs`; this module also holds the session halves of
//! [`st_core::storage::Storage`] (`create_session_resolved`, `update_session_resolved`), whose
//! impl in the crate root calls [`create_resolved`] and [`update_resolved`].
//!
//! `session_data` and `jwt_user_payload` are JSON text (a NULL column reads as `{}`).
//! `update_session_atomically` first asks the decider about a plain read of the row: when it
//! wants no change (the common refresh with the current parent token, a verify of a token that
//! needs no promotion) that read is the answer, as if it ran alone at that instant, and no lock
//! or transaction is taken. Only when a change is wanted does it lock the row with
//! `SELECT … FOR UPDATE` in a READ COMMITTED transaction, ask the decider again about the locked
//! row, apply its patch and commit: concurrent promotions of one session are serialised on the
//! row, sessions of different users never wait for each other.
//!
//! `update_session_resolved` makes that first read one statement with the user's identity and,
//! under concurrency, the refresh's `user_last_active` upsert; concurrent reads share
//! statements, and so do the separate upserts of refreshes whose read ran alone (see
//! [`crate::batch`] and `active_users.rs`).

mod batched;
mod sql;

pub(crate) use self::batched::Queues;
pub(crate) use self::sql::SessionSql;

use self::batched::{CreateSessions, NewSession, SessionSnapshots, SnapshotRead};
use crate::query::{col, tx_exec};
use crate::{batch, error, PgStorage};
use async_trait::async_trait;
use serde_json::Value;
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::{
    ResolvedSession, SResult, SessionDecider, SessionIdentity, SessionPatch, SessionRow, SessionStorage, TouchIfCurrent,
};
use std::collections::HashSet;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

fn json_text(v: &Value, what: &str) -> SResult<String> {
    serde_json::to_string(v).map_err(|e| error::query(format!("cannot serialise {what}: {e}")))
}

fn json_value(text: Option<String>, what: &str) -> SResult<Value> {
    match text {
        None => Ok(Value::Object(Default::default())),
        Some(t) => serde_json::from_str(&t).map_err(|e| error::bad_row(what, e)),
    }
}

/// Columns as in `SessionSql::select`.
pub(crate) fn session_from_row(tenant: &TenantIdentifier, handle: &str, row: &Row) -> SResult<SessionRow> {
    session_from_row_at(tenant, handle, row, 0)
}

/// How many columns `SessionSql::select` reads (those of [`session_from_row_at`]).
pub(crate) const SESSION_COLUMNS: usize = 9;

/// The nine `SessionSql::select` columns, starting at column `first`.
pub(crate) fn session_from_row_at(
    tenant: &TenantIdentifier,
    handle: &str,
    row: &Row,
    first: usize,
) -> SResult<SessionRow> {
    Ok(SessionRow {
        tenant: tenant.clone(),
        handle: handle.to_string(),
        user_id: col(row, first)?,
        refresh_token_hash_2: col(row, first + 1)?,
        session_data: json_value(col(row, first + 2)?, "session_data")?,
        expires_at: col(row, first + 3)?,
        created_at: col(row, first + 4)?,
        jwt_user_payload: json_value(col(row, first + 5)?, "jwt_user_payload")?,
        use_static_key: col(row, first + 6)?,
        prev_refresh_token_hash_2: col(row, first + 7)?,
        refresh_token_rotated_at: col(row, first + 8)?,
    })
}

/// The text columns of a `session_info` insert that are not plain fields of the row.
pub(crate) struct InsertText<'a> {
    app: &'a str,
    tenant: &'a str,
    pub(crate) data: String,
    pub(crate) payload: String,
}

impl<'a> InsertText<'a> {
    pub(crate) fn new(row: &'a SessionRow) -> SResult<InsertText<'a>> {
        Ok(InsertText {
            app: row.tenant.app.as_str(),
            tenant: row.tenant.tenant.as_str(),
            data: json_text(&row.session_data, "session_data")?,
            payload: json_text(&row.jwt_user_payload, "jwt_user_payload")?,
        })
    }
}

/// The ten `session_info` columns of `row` as the parameters $1..$10 of an insert.
pub(crate) fn insert_params<'a>(
    row: &'a SessionRow,
    text: &'a InsertText<'a>,
) -> [&'a (dyn tokio_postgres::types::ToSql + Sync); 10] {
    let (data, payload) = (&text.data, &text.payload);
    [
        &text.app,
        &text.tenant,
        &row.handle,
        &row.user_id,
        &row.refresh_token_hash_2,
        data,
        &row.expires_at,
        &row.created_at,
        payload,
        &row.use_static_key,
    ]
}

/// [`st_core::storage::Storage::create_session_resolved`]: one statement, insert, identity and,
/// unless throttled, last-activity upsert (`SessionSql::insert_resolved`), shared with
/// concurrent creations (see [`crate::batch`]).
pub(crate) async fn create_resolved(
    storage: &PgStorage,
    row: &SessionRow,
    record_activity: bool,
) -> SResult<Option<SessionIdentity>> {
    batch::run::<CreateSessions>(storage, NewSession { row: row.clone(), record_activity }).await
}

/// [`st_core::storage::Storage::update_session_resolved`]: the snapshot read also resolves the
/// identity and, with `touch`, records the activity, so a refresh that changes nothing is one
/// statement.
pub(crate) async fn update_resolved(
    storage: &PgStorage,
    tenant: &TenantIdentifier,
    handle: &str,
    decide: SessionDecider<'_>,
    touch: Option<&TouchIfCurrent<'_>>,
) -> SResult<Option<ResolvedSession>> {
    let touch = match touch.map(|t| (t.refresh_token_hashes_2, t.now_ms)) {
        None => None,
        Some(([current], now)) => Some((current.to_string(), None, now)),
        Some(([current, parent], now)) => Some((current.to_string(), Some(parent.to_string()), now)),
        Some((other, _)) => {
            return Err(error::query(format!("a refresh accepts one or two token hashes, not {}", other.len())))
        }
    };
    let read = SnapshotRead { tenant: tenant.clone(), handle: handle.to_string(), touch };
    let (snapshot, activity_recorded) = batch::run::<SessionSnapshots>(storage, read).await?;
    let resolved = storage.update_session_from(tenant, handle, decide, snapshot).await?;
    Ok(resolved.map(|(row, identity)| ResolvedSession { row, identity, activity_recorded }))
}

impl PgStorage {
    /// The session recipe's statements.
    fn session_sql(&self) -> &SessionSql {
        &self.sql().session
    }

    /// `update_session_atomically` after its unlocked first read: `snapshot` is that read's
    /// row with whatever else the read returned (`T`).
    async fn update_session_from<T>(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        snapshot: Option<(SessionRow, T)>,
    ) -> SResult<Option<(SessionRow, T)>> {
        let sql = self.session_sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let Some((snapshot, extra)) = snapshot else {
            return Ok(None);
        };
        match decide(&snapshot) {
            None => return Ok(Some((snapshot, extra))),
            Some(p) if p == SessionPatch::default() => return Ok(Some((snapshot, extra))),
            Some(_) => {}
        }
        let current = self
            .retrying(|| async {
                let mut conn = self.conn().await?;
                let tx = conn.transaction().await.map_err(error::pg)?;
                let stmt = tx.prepare_cached(&sql.select_for_update).await.map_err(error::pg)?;
                let Some(row) = tx.query_opt(&stmt, &[&app, &t, &handle]).await.map_err(error::pg)? else {
                    return Ok(None);
                };
                let current = session_from_row(tenant, handle, &row)?;
                if let Some(patch) = decide(&current) {
                    if patch != SessionPatch::default() {
                        tx_exec(
                            &tx,
                            &sql.patch,
                            &[
                                &app,
                                &t,
                                &handle,
                                &patch.refresh_token_hash_2,
                                &patch.expires_at,
                                &patch.use_static_key,
                                &patch.prev_refresh_token_hash_2,
                                &patch.refresh_token_rotated_at,
                            ],
                        )
                        .await?;
                    }
                }
                tx.commit().await.map_err(error::pg)?;
                Ok(Some(current))
            })
            .await?;
        Ok(current.map(|current| (current, extra)))
    }
}

#[async_trait]
impl SessionStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_session", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %row.tenant.app, tenant_id = %row.tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_session(&self, row: &SessionRow) -> SResult<()> {
        let text = InsertText::new(row)?;
        self.execute(&self.session_sql().insert, &insert_params(row, &text)).await.map(|_| ())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_session", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>> {
        let row = self
            .query_opt(&self.session_sql().select, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &handle])
            .await?;
        row.map(|r| session_from_row(tenant, handle, &r)).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_session_atomically", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>> {
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let snapshot = match self.query_opt(&self.session_sql().select, &[&app, &t, &handle]).await? {
            Some(r) => Some((session_from_row(tenant, handle, &r)?, ())),
            None => None,
        };
        let found = self.update_session_from(tenant, handle, decide, snapshot).await?;
        Ok(found.map(|(row, ())| row))
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_sessions", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app, count = handles.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>> {
        let wanted: Vec<&(TenantIdentifier, String)> = handles.iter().filter(|(t, _)| &t.app == app).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let tenants: Vec<&str> = wanted.iter().map(|(t, _)| t.tenant.as_str()).collect();
        let hs: Vec<&str> = wanted.iter().map(|(_, h)| h.as_str()).collect();
        let rows = self.query(&self.session_sql().delete_many, &[&app.as_str(), &tenants, &hs]).await?;
        let mut deleted = HashSet::with_capacity(rows.len());
        for row in &rows {
            deleted.insert((col::<String>(row, 0)?, col::<String>(row, 1)?));
        }
        let mut out = Vec::with_capacity(deleted.len());
        for (t, h) in wanted {
            if deleted.remove(&(t.tenant.as_str().to_string(), h.clone())) {
                out.push(h.clone());
            }
        }
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.session_handles_for_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql",
            app_id = %app, tenant_id = tenant.map(|t| tracing::field::display(&t.tenant)), count = user_ids.len(),
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn session_handles_for_users(
        &self,
        app: &AppId,
        tenant: Option<&TenantIdentifier>,
        user_ids: &[String],
        now_ms: i64,
    ) -> SResult<Vec<(TenantIdentifier, String)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = match tenant {
            Some(t) => {
                self.query(&self.session_sql().handles_tenant, &[&app.as_str(), &t.tenant.as_str(), &user_ids, &now_ms])
                    .await?
            }
            None => self.query(&self.session_sql().handles_app, &[&app.as_str(), &user_ids, &now_ms]).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let tenant_id: String = col(row, 0)?;
            let handle: String = col(row, 1)?;
            match TenantId::parse(&tenant_id) {
                Ok(tid) => out.push((TenantIdentifier::new(app.clone(), tid), handle)),
                Err(_) => {
                    tracing::warn!("ignoring session {handle} of invalid tenant id {tenant_id}")
                }
            }
        }
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_session_data", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_session_data(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        data: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        let text = json_text(data, "session_data")?;
        let n = self
            .execute(
                &self.session_sql().update_data,
                &[&tenant.app.as_str(), &tenant.tenant.as_str(), &handle, &text, &now_ms],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_jwt_payload", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_jwt_payload(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        payload: &Value,
        now_ms: i64,
    ) -> SResult<bool> {
        let text = json_text(payload, "jwt_user_payload")?;
        let n = self
            .execute(
                &self.session_sql().update_payload,
                &[&tenant.app.as_str(), &tenant.tenant.as_str(), &handle, &text, &now_ms],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_sessions", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.session_sql().delete_expired, &[&now_ms]).await
    }
}
