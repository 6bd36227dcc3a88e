//! Dashboard users and sessions in memory ([`DashboardStorage`]): per app, users by id (an
//! e-mail unique per app) and sessions by id; a user's sessions go with it, as the reference's
//! foreign key removes them.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{
    CreateDashboardSessionResult, CreateDashboardUserResult, DashboardSessionRow, DashboardStorage, DashboardUserRow,
    SResult, UpdateDashboardUserResult,
};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    /// (app, user id) -> user.
    users: HashMap<(AppId, String), DashboardUserRow>,
    /// (app, session id) -> session.
    sessions: HashMap<(AppId, String), DashboardSessionRow>,
}

impl Tables {
    fn by_email(&self, app: &AppId, email: &str) -> Option<&DashboardUserRow> {
        self.users.iter().find(|((a, _), u)| a == app && u.email == email).map(|(_, u)| u)
    }

    fn revoke_sessions_of(&mut self, app: &AppId, user_id: &str) {
        self.sessions.retain(|(a, _), s| !(a == app && s.user_id == user_id));
    }
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.users.retain(|(a, _), _| a != app);
        self.sessions.retain(|(a, _), _| a != app);
    }
}

#[async_trait]
impl DashboardStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_dashboard_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_dashboard_user(&self, app: &AppId, user: &DashboardUserRow) -> SResult<CreateDashboardUserResult> {
        let mut s = self.lock();
        s.require_tenant(&st_core::ids::TenantIdentifier::app_public(app))?;
        let t = &mut s.dashboard;
        if t.by_email(app, &user.email).is_some() {
            return Ok(CreateDashboardUserResult::EmailExists);
        }
        let key = (app.clone(), user.user_id.clone());
        if t.users.contains_key(&key) {
            return Ok(CreateDashboardUserResult::UserIdExists);
        }
        t.users.insert(key, user.clone());
        Ok(CreateDashboardUserResult::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.dashboard_users", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn dashboard_users(&self, app: &AppId) -> SResult<Vec<DashboardUserRow>> {
        let s = self.lock();
        let mut users: Vec<DashboardUserRow> =
            s.dashboard.users.iter().filter(|((a, _), _)| a == app).map(|(_, u)| u.clone()).collect();
        users.sort_by(|a, b| (a.time_joined, &a.user_id).cmp(&(b.time_joined, &b.user_id)));
        Ok(users)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.dashboard_user_by_email", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn dashboard_user_by_email(&self, app: &AppId, email: &str) -> SResult<Option<DashboardUserRow>> {
        Ok(self.lock().dashboard.by_email(app, email).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_dashboard_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn update_dashboard_user(
        &self,
        app: &AppId,
        user_id: &str,
        email: Option<&str>,
        password_hash: Option<&str>,
    ) -> SResult<UpdateDashboardUserResult> {
        let mut s = self.lock();
        let t = &mut s.dashboard;
        let key = (app.clone(), user_id.to_string());
        if !t.users.contains_key(&key) {
            return Ok(UpdateDashboardUserResult::UnknownUser);
        }
        if let Some(e) = email {
            if t.by_email(app, e).is_some_and(|other| other.user_id != user_id) {
                return Ok(UpdateDashboardUserResult::EmailExists);
            }
        }
        let Some(user) = t.users.get_mut(&key) else { return Ok(UpdateDashboardUserResult::UnknownUser) };
        if let Some(e) = email {
            user.email = e.to_string();
        }
        if let Some(h) = password_hash {
            user.password_hash = h.to_string();
        }
        let updated = user.clone();
        t.revoke_sessions_of(app, user_id);
        Ok(UpdateDashboardUserResult::Updated(updated))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_dashboard_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_dashboard_user(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        let mut s = self.lock();
        let t = &mut s.dashboard;
        let existed = t.users.remove(&(app.clone(), user_id.to_string())).is_some();
        t.revoke_sessions_of(app, user_id);
        Ok(existed)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.create_dashboard_session", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_dashboard_session(
        &self,
        app: &AppId,
        session: &DashboardSessionRow,
    ) -> SResult<CreateDashboardSessionResult> {
        let mut s = self.lock();
        let t = &mut s.dashboard;
        if !t.users.contains_key(&(app.clone(), session.user_id.clone())) {
            return Ok(CreateDashboardSessionResult::UnknownUser);
        }
        let key = (app.clone(), session.session_id.clone());
        if t.sessions.contains_key(&key) {
            return Ok(CreateDashboardSessionResult::SessionIdExists);
        }
        t.sessions.insert(key, session.clone());
        Ok(CreateDashboardSessionResult::Created)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.dashboard_session", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn dashboard_session(&self, app: &AppId, session_id: &str) -> SResult<Option<(DashboardSessionRow, String)>> {
        let s = self.lock();
        let t = &s.dashboard;
        let Some(session) = t.sessions.get(&(app.clone(), session_id.to_string())) else { return Ok(None) };
        Ok(t.users.get(&(app.clone(), session.user_id.clone())).map(|u| (session.clone(), u.email.clone())))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.dashboard_sessions_of_user", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn dashboard_sessions_of_user(&self, app: &AppId, user_id: &str) -> SResult<Vec<DashboardSessionRow>> {
        let s = self.lock();
        let mut sessions: Vec<DashboardSessionRow> = s
            .dashboard
            .sessions
            .iter()
            .filter(|((a, _), session)| a == app && session.user_id == user_id)
            .map(|(_, session)| session.clone())
            .collect();
        sessions.sort_by(|a, b| (a.time_created, &a.session_id).cmp(&(b.time_created, &b.session_id)));
        Ok(sessions)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.revoke_dashboard_session", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn revoke_dashboard_session(&self, app: &AppId, session_id: &str) -> SResult<bool> {
        Ok(self.lock().dashboard.sessions.remove(&(app.clone(), session_id.to_string())).is_some())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_dashboard_sessions", skip_all,
        fields(otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_dashboard_sessions(&self, now: i64) -> SResult<u64> {
        let mut s = self.lock();
        let sessions = &mut s.dashboard.sessions;
        let before = sessions.len();
        sessions.retain(|_, session| session.expiry >= now);
        Ok((before - sessions.len()) as u64)
    }
}
