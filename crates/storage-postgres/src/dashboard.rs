//! [`DashboardStorage`]: the reference's `dashboard_users` (an e-mail unique per app) and
//! `dashboard_user_sessions` (a foreign key to the user that removes its sessions with it).
//! The `CHAR(36)` ids are read as text (without the padding a shorter id would get).

use crate::query::{col, is_state};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{
    CreateDashboardSessionResult, CreateDashboardUserResult, DashboardSessionRow, DashboardStorage, DashboardUserRow,
    SResult, UpdateDashboardUserResult,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the dashboard recipe.
#[derive(Debug)]
pub(crate) struct DashboardSql {
    user_insert: String,
    users_of_app: String,
    user_by_email: String,
    user_update: String,
    user_delete: String,
    sessions_of_user_delete: String,
    session_insert: String,
    session_with_email: String,
    sessions_of_user: String,
    session_delete: String,
    sessions_expired_delete: String,
}

const USER_COLUMNS: &str = "user_id::TEXT, email, password_hash, time_joined";
const SESSION_COLUMNS: &str = "session_id::TEXT, user_id::TEXT, time_created, expiry";

impl DashboardSql {
    pub(crate) fn new(t: &TableNames) -> DashboardSql {
        let users = t.qualified("dashboard_users");
        let sessions = t.qualified("dashboard_user_sessions");
        DashboardSql {
            user_insert: format!(
                "INSERT INTO {users} (app_id, user_id, email, password_hash, time_joined) VALUES ($1, $2, $3, $4, $5)"
            ),
            users_of_app: format!("SELECT {USER_COLUMNS} FROM {users} WHERE app_id = $1 ORDER BY time_joined, user_id"),
            user_by_email: format!("SELECT {USER_COLUMNS} FROM {users} WHERE app_id = $1 AND email = $2"),
            user_update: format!(
                "UPDATE {users} SET email = COALESCE($3, email), password_hash = COALESCE($4, password_hash) \
                 WHERE app_id = $1 AND user_id = $2 RETURNING {USER_COLUMNS}"
            ),
            user_delete: format!("DELETE FROM {users} WHERE app_id = $1 AND user_id = $2"),
            sessions_of_user_delete: format!("DELETE FROM {sessions} WHERE app_id = $1 AND user_id = $2"),
            session_insert: format!(
                "INSERT INTO {sessions} (app_id, session_id, user_id, time_created, expiry) VALUES ($1, $2, $3, $4, $5)"
            ),
            session_with_email: format!(
                "SELECT s.session_id::TEXT, s.user_id::TEXT, s.time_created, s.expiry, u.email FROM {sessions} s \
                 JOIN {users} u ON u.app_id = s.app_id AND u.user_id = s.user_id \
                 WHERE s.app_id = $1 AND s.session_id = $2"
            ),
            sessions_of_user: format!(
                "SELECT {SESSION_COLUMNS} FROM {sessions} WHERE app_id = $1 AND user_id = $2 \
                 ORDER BY time_created, session_id"
            ),
            session_delete: format!("DELETE FROM {sessions} WHERE app_id = $1 AND session_id = $2"),
            sessions_expired_delete: format!("DELETE FROM {sessions} WHERE expiry < $1"),
        }
    }
}

impl PgStorage {
    fn dash_sql(&self) -> &DashboardSql {
        &self.sql().dashboard
    }
}

fn user_row(r: &Row) -> SResult<DashboardUserRow> {
    Ok(DashboardUserRow { user_id: col(r, 0)?, email: col(r, 1)?, password_hash: col(r, 2)?, time_joined: col(r, 3)? })
}

fn session_row(r: &Row) -> SResult<DashboardSessionRow> {
    Ok(DashboardSessionRow {
        session_id: col(r, 0)?,
        user_id: col(r, 1)?,
        time_created: col(r, 2)?,
        expiry: col(r, 3)?,
    })
}

#[async_trait]
impl DashboardStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_dashboard_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_dashboard_user(&self, app: &AppId, user: &DashboardUserRow) -> SResult<CreateDashboardUserResult> {
        let s = self.dash_sql();
        let a = app.as_str();
        let c = self.conn().await?;
        let stmt = c.prepare_cached(&s.user_insert).await.map_err(error::pg)?;
        let params: [&(dyn ToSql + Sync); 5] = [&a, &user.user_id, &user.email, &user.password_hash, &user.time_joined];
        match c.execute(&stmt, &params).await {
            Ok(_) => Ok(CreateDashboardUserResult::Created),
            // Which key: the e-mail if a row holds it now, else the id.
            Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                let stmt = c.prepare_cached(&s.user_by_email).await.map_err(error::pg)?;
                let taken = c.query_opt(&stmt, &[&a, &user.email]).await.map_err(error::pg)?.is_some();
                Ok(if taken { CreateDashboardUserResult::EmailExists } else { CreateDashboardUserResult::UserIdExists })
            }
            // The app is missing: its foreign key.
            Err(e) => Err(error::pg(e)),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.dashboard_users", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn dashboard_users(&self, app: &AppId) -> SResult<Vec<DashboardUserRow>> {
        let rows = self.query(&self.dash_sql().users_of_app, &[&app.as_str()]).await?;
        rows.iter().map(user_row).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.dashboard_user_by_email", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn dashboard_user_by_email(&self, app: &AppId, email: &str) -> SResult<Option<DashboardUserRow>> {
        let row = self.query_opt(&self.dash_sql().user_by_email, &[&app.as_str(), &email]).await?;
        row.as_ref().map(user_row).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_dashboard_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_dashboard_user(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateDashboardUserResult> {
        let s = self.dash_sql();
        let a = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let stmt = tx.prepare_cached(&s.user_update).await.map_err(error::pg)?;
            let updated = match tx.query_opt(&stmt, &[&a, &user_id, &email, &password_hash]).await {
                Ok(Some(row)) => user_row(&row)?,
                Ok(None) => return Ok(UpdateDashboardUserResult::UnknownUser),
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => {
                    return Ok(UpdateDashboardUserResult::EmailExists)
                }
                Err(e) => return Err(error::pg(e)),
            };
            let stmt = tx.prepare_cached(&s.sessions_of_user_delete).await.map_err(error::pg)?;
            tx.execute(&stmt, &[&a, &user_id]).await.map_err(error::pg)?;
            tx.commit().await.map_err(error::pg)?;
            Ok(UpdateDashboardUserResult::Updated(updated))
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_dashboard_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_dashboard_user(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        // Its sessions go by their foreign key.
        Ok(self.execute(&self.dash_sql().user_delete, &[&app.as_str(), &user_id]).await? > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.create_dashboard_session", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn create_dashboard_session(
        &self,
        app: &AppId,
        session: &DashboardSessionRow,
    ) -> SResult<CreateDashboardSessionResult> {
        let c = self.conn().await?;
        let stmt = c.prepare_cached(&self.dash_sql().session_insert).await.map_err(error::pg)?;
        let params: [&(dyn ToSql + Sync); 5] =
            [&app.as_str(), &session.session_id, &session.user_id, &session.time_created, &session.expiry];
        match c.execute(&stmt, &params).await {
            Ok(_) => Ok(CreateDashboardSessionResult::Created),
            // The session's only foreign key is its user's.
            Err(e) if is_state(&e, &SqlState::FOREIGN_KEY_VIOLATION) => Ok(CreateDashboardSessionResult::UnknownUser),
            Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => Ok(CreateDashboardSessionResult::SessionIdExists),
            Err(e) => Err(error::pg(e)),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.dashboard_session", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn dashboard_session(&self, app: &AppId, session_id: &str) -> SResult<Option<(DashboardSessionRow, String)>> {
        let row = self.query_opt(&self.dash_sql().session_with_email, &[&app.as_str(), &session_id]).await?;
        row.map(|r| Ok((session_row(&r)?, col(&r, 4)?))).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.dashboard_sessions_of_user", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn dashboard_sessions_of_user(&self, app: &AppId, user_id: &str) -> SResult<Vec<DashboardSessionRow>> {
        let rows = self.query(&self.dash_sql().sessions_of_user, &[&app.as_str(), &user_id]).await?;
        rows.iter().map(session_row).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.revoke_dashboard_session", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn revoke_dashboard_session(&self, app: &AppId, session_id: &str) -> SResult<bool> {
        Ok(self.execute(&self.dash_sql().session_delete, &[&app.as_str(), &session_id]).await? > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_dashboard_sessions", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_dashboard_sessions(&self, now: i64) -> SResult<u64> {
        self.execute(&self.dash_sql().sessions_expired_delete, &[&now]).await
    }
}
