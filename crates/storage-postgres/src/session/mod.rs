//! [`SessionStorage`]: `session_info` and `user_last_active`.
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
//! [`crate::batch`]).

use crate::{col, error, tx_exec, PgStorage};
use async_trait::async_trait;
use serde_json::Value;
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::{SResult, SessionDecider, SessionPatch, SessionRow, SessionStorage};
use st_core::StorageError;
use std::collections::HashSet;
use tokio_postgres::Row;

fn json_text(v: &Value, what: &str) -> SResult<String> {
    serde_json::to_string(v).map_err(|e| StorageError::Query(format!("cannot serialise {what}: {e}")))
}

fn json_value(text: Option<String>, what: &str) -> SResult<Value> {
    match text {
        None => Ok(Value::Object(Default::default())),
        Some(t) => serde_json::from_str(&t).map_err(|e| error::bad_row(what, e)),
    }
}

/// Columns as in `Sql::session_select`.
pub(crate) fn session_from_row(tenant: &TenantIdentifier, handle: &str, row: &Row) -> SResult<SessionRow> {
    session_from_row_at(tenant, handle, row, 0)
}

/// The seven `Sql::session_select` columns, starting at column `first`.
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

impl PgStorage {
    /// `update_session_atomically` after its unlocked first read: `snapshot` is that read's
    /// row with whatever else the read returned (`T`).
    pub(crate) async fn update_session_from<T>(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
        snapshot: Option<(SessionRow, T)>,
    ) -> SResult<Option<(SessionRow, T)>> {
        let sql = self.sql();
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let Some((snapshot, extra)) = snapshot else {
            return Ok(None);
        };
        match decide(&snapshot) {
            None => return Ok(Some((snapshot, extra))),
            Some(p) if p == SessionPatch::default() => return Ok(Some((snapshot, extra))),
            Some(_) => {}
        }
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let stmt = tx.prepare_cached(&sql.session_select_for_update).await.map_err(error::pg)?;
        let Some(row) = tx.query_opt(&stmt, &[&app, &t, &handle]).await.map_err(error::pg)? else {
            return Ok(None);
        };
        let current = session_from_row(tenant, handle, &row)?;
        if let Some(patch) = decide(&current) {
            if patch != SessionPatch::default() {
                tx_exec(
                    &tx,
                    &sql.session_patch,
                    &[&app, &t, &handle, &patch.refresh_token_hash_2, &patch.expires_at, &patch.use_static_key],
                )
                .await?;
            }
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(Some((current, extra)))
    }
}

#[async_trait]
impl SessionStorage for PgStorage {
    async fn create_session(&self, row: &SessionRow) -> SResult<()> {
        let text = InsertText::new(row)?;
        self.execute(&self.sql().session_insert, &insert_params(row, &text)).await.map(|_| ())
    }

    async fn get_session(&self, tenant: &TenantIdentifier, handle: &str) -> SResult<Option<SessionRow>> {
        let row = self
            .query_opt(&self.sql().session_select, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &handle])
            .await?;
        row.map(|r| session_from_row(tenant, handle, &r)).transpose()
    }

    async fn update_session_atomically(
        &self,
        tenant: &TenantIdentifier,
        handle: &str,
        decide: SessionDecider<'_>,
    ) -> SResult<Option<SessionRow>> {
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        let snapshot = match self.query_opt(&self.sql().session_select, &[&app, &t, &handle]).await? {
            Some(r) => Some((session_from_row(tenant, handle, &r)?, ())),
            None => None,
        };
        let found = self.update_session_from(tenant, handle, decide, snapshot).await?;
        Ok(found.map(|(row, ())| row))
    }

    async fn delete_sessions(&self, app: &AppId, handles: &[(TenantIdentifier, String)]) -> SResult<Vec<String>> {
        let wanted: Vec<&(TenantIdentifier, String)> = handles.iter().filter(|(t, _)| &t.app == app).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let tenants: Vec<&str> = wanted.iter().map(|(t, _)| t.tenant.as_str()).collect();
        let hs: Vec<&str> = wanted.iter().map(|(_, h)| h.as_str()).collect();
        let rows = self.query(&self.sql().session_delete_many, &[&app.as_str(), &tenants, &hs]).await?;
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
                self.query(&self.sql().session_handles_tenant, &[&app.as_str(), &t.tenant.as_str(), &user_ids, &now_ms])
                    .await?
            }
            None => self.query(&self.sql().session_handles_app, &[&app.as_str(), &user_ids, &now_ms]).await?,
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
                &self.sql().session_update_data,
                &[&tenant.app.as_str(), &tenant.tenant.as_str(), &handle, &text, &now_ms],
            )
            .await?;
        Ok(n > 0)
    }

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
                &self.sql().session_update_payload,
                &[&tenant.app.as_str(), &tenant.tenant.as_str(), &handle, &text, &now_ms],
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete_expired_sessions(&self, now_ms: i64) -> SResult<u64> {
        self.execute(&self.sql().session_delete_expired, &[&now_ms]).await
    }
}
