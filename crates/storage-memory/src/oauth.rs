//! The OAuth2 provider in memory ([`OAuthStorage`]): clients by (app, client id), the grants'
//! token bookkeeping (`oauth_sessions`) and the client-credentials token stats.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{
    traced_error, ClientUpdateOutcome, ClientUpdater, FlowTake, OAuthClientRow, OAuthFlowItem, OAuthLogoutChallenge,
    OAuthSessionUpsert, OAuthStorage, SResult,
};
use st_core::StorageError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::field::Empty;
use tracing::instrument;

/// (app, client id) -> client, ordered by client id within an app.
#[derive(Default)]
pub(crate) struct Tables {
    clients: BTreeMap<(AppId, String), OAuthClientRow>,
    /// (app, gid) -> the grant's row, its jtis in order.
    sessions: HashMap<(AppId, String), (OAuthSessionUpsert, Vec<String>)>,
    /// (app, client id, iat, exp) of client-credentials tokens.
    m2m: BTreeSet<(AppId, String, i64, i64)>,
    /// (app, kind, key) -> the flow item and whether it was used.
    flow: HashMap<(AppId, String, String), (OAuthFlowItem, bool)>,
    /// (app, challenge) -> logout challenge.
    logout: HashMap<(AppId, String), OAuthLogoutChallenge>,
}

impl Tables {
    /// A client's removal takes its tokens (the reference's foreign keys cascade).
    fn remove_client(&mut self, app: &AppId, client_id: &str) -> bool {
        self.sessions.retain(|(a, _), (row, _)| !(a == app && row.client_id == client_id));
        self.m2m.retain(|(a, c, _, _)| !(a == app && c == client_id));
        self.flow.retain(|(a, _, _), (item, _)| !(a == app && item.client_id == client_id));
        self.logout.retain(|(a, _), c| !(a == app && c.client_id == client_id));
        self.clients.remove(&(app.clone(), client_id.to_string())).is_some()
    }

    /// The grant's row upserted with `jti` appended (the client must exist).
    fn upsert_session(&mut self, app: &AppId, session: &OAuthSessionUpsert) -> SResult<()> {
        if !self.clients.contains_key(&(app.clone(), session.client_id.clone())) {
            // The reference's foreign key to `oauth_clients`.
            return Err(traced_error(StorageError::Query("the OAuth client is gone".into())));
        }
        let entry =
            self.sessions.entry((app.clone(), session.gid.clone())).or_insert_with(|| (session.clone(), Vec::new()));
        let mut jtis = std::mem::take(&mut entry.1);
        jtis.push(session.jti.clone());
        *entry = (session.clone(), jtis);
        Ok(())
    }

    fn put_flow(&mut self, app: &AppId, item: &OAuthFlowItem) -> SResult<()> {
        if !self.clients.contains_key(&(app.clone(), item.client_id.clone())) {
            return Err(traced_error(StorageError::Query("the OAuth client is gone".into())));
        }
        self.flow.insert((app.clone(), item.kind.clone(), item.key.clone()), (item.clone(), false));
        Ok(())
    }
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.clients.retain(|(a, _), _| a != app);
        self.sessions.retain(|(a, _), _| a != app);
        self.m2m.retain(|(a, _, _, _)| a != app);
        self.flow.retain(|(a, _, _), _| a != app);
        self.logout.retain(|(a, _), _| a != app);
    }
}

fn client_name(row: &OAuthClientRow) -> Option<&str> {
    row.config.as_ref()?.get("clientName")?.as_str()
}

#[async_trait]
impl OAuthStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.create_oauth_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_oauth_client(&self, app: &AppId, row: &OAuthClientRow) -> SResult<bool> {
        let mut s = self.lock();
        s.require_tenant(&st_core::ids::TenantIdentifier::app_public(app))?;
        let key = (app.clone(), row.client_id.clone());
        if s.oauth.clients.contains_key(&key) {
            return Ok(false);
        }
        s.oauth.clients.insert(key, row.clone());
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_oauth_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_oauth_client(&self, app: &AppId, client_id: &str) -> SResult<Option<OAuthClientRow>> {
        Ok(self.lock().oauth.clients.get(&(app.clone(), client_id.to_string())).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_oauth_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn update_oauth_client(
        &self,
        app: &AppId,
        client_id: &str,
        update: ClientUpdater<'_>,
    ) -> SResult<ClientUpdateOutcome> {
        let mut s = self.lock();
        let Some(current) = s.oauth.clients.get_mut(&(app.clone(), client_id.to_string())) else {
            return Ok(ClientUpdateOutcome::NotFound);
        };
        match update(current) {
            Ok(row) => {
                *current = row.clone();
                Ok(ClientUpdateOutcome::Updated(row))
            }
            Err(r) => Ok(ClientUpdateOutcome::Refused(r)),
        }
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.list_oauth_clients", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn list_oauth_clients(
        &self,
        app: &AppId,
        name: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> SResult<Vec<OAuthClientRow>> {
        let s = self.lock();
        Ok(s.oauth
            .clients
            .iter()
            .filter(|((a, id), row)| {
                a == app
                    && after.is_none_or(|after| id.as_str() > after)
                    && name.is_none_or(|n| client_name(row) == Some(n))
            })
            .take(limit)
            .map(|(_, row)| row.clone())
            .collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_oauth_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_oauth_client(&self, app: &AppId, client_id: &str) -> SResult<bool> {
        Ok(self.lock().oauth.remove_client(app, client_id))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.record_oauth_tokens", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn record_oauth_tokens(
        &self,
        app: &AppId,
        session: &OAuthSessionUpsert,
        m2m: Option<(i64, i64)>,
    ) -> SResult<()> {
        let mut s = self.lock();
        let t = &mut s.oauth;
        t.upsert_session(app, session)?;
        if let Some((iat, exp)) = m2m {
            t.m2m.insert((app.clone(), session.client_id.clone(), iat, exp));
        }
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.oauth_jti_active", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn oauth_jti_active(&self, app: &AppId, gid: &str, jti: &str) -> SResult<bool> {
        let s = self.lock();
        Ok(s.oauth.sessions.get(&(app.clone(), gid.to_string())).is_some_and(|(_, jtis)| jtis.iter().any(|j| j == jti)))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.revoke_oauth_jti", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn revoke_oauth_jti(&self, app: &AppId, gid: &str, jti: &str) -> SResult<()> {
        if let Some((_, jtis)) = self.lock().oauth.sessions.get_mut(&(app.clone(), gid.to_string())) {
            jtis.retain(|j| j != jti);
        }
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.revoke_oauth_tokens_of_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn revoke_oauth_tokens_of_client(&self, app: &AppId, client_id: &str) -> SResult<()> {
        self.lock().oauth.sessions.retain(|(a, _), (row, _)| !(a == app && row.client_id == client_id));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.revoke_oauth_tokens_of_session", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn revoke_oauth_tokens_of_session(&self, app: &AppId, session_handle: &str) -> SResult<()> {
        self.lock()
            .oauth
            .sessions
            .retain(|(a, _), (row, _)| !(a == app && row.session_handle.as_deref() == Some(session_handle)));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_oauth_tokens", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_oauth_tokens(&self, before_s: i64) -> SResult<u64> {
        let mut s = self.lock();
        let t = &mut s.oauth;
        let before = t.sessions.len() + t.m2m.len();
        t.sessions.retain(|_, (row, _)| row.exp >= before_s);
        t.m2m.retain(|(_, _, _, exp)| *exp >= before_s);
        let gone = before - t.sessions.len() - t.m2m.len();
        let before_ms = before_s.saturating_mul(1000);
        t.flow.retain(|_, (item, _)| item.expires_at >= before_ms);
        t.logout.retain(|_, c| c.time_created >= before_ms);
        Ok(u64::try_from(gone).unwrap_or(u64::MAX))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.put_oauth_flow_item", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn put_oauth_flow_item(&self, app: &AppId, item: &OAuthFlowItem) -> SResult<()> {
        self.lock().oauth.put_flow(app, item)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_oauth_flow_item", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_oauth_flow_item(&self, app: &AppId, kind: &str, key: &str, now: i64) -> SResult<Option<String>> {
        let s = self.lock();
        Ok(s.oauth
            .flow
            .get(&(app.clone(), kind.to_string(), key.to_string()))
            .filter(|(item, used)| !*used && item.expires_at > now)
            .map(|(item, _)| item.value.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.take_oauth_flow_item", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn take_oauth_flow_item(
        &self,
        app: &AppId,
        kind: &str,
        key: &str,
        now: i64,
        follow: &[OAuthFlowItem],
        session: Option<&OAuthSessionUpsert>,
    ) -> SResult<FlowTake> {
        let mut s = self.lock();
        let t = &mut s.oauth;
        let k = (app.clone(), kind.to_string(), key.to_string());
        let value = match t.flow.get(&k) {
            Some((item, _)) if item.expires_at <= now => return Ok(FlowTake::Missing),
            Some((item, true)) => return Ok(FlowTake::Used(item.value.clone())),
            Some((item, false)) => item.value.clone(),
            None => return Ok(FlowTake::Missing),
        };
        // Checked before anything is written, so a refusal leaves no trace.
        let clients_present = follow
            .iter()
            .map(|f| &f.client_id)
            .chain(session.map(|x| &x.client_id))
            .all(|c| t.clients.contains_key(&(app.clone(), c.clone())));
        if !clients_present {
            return Err(traced_error(StorageError::Query("the OAuth client is gone".into())));
        }
        if let Some(entry) = t.flow.get_mut(&k) {
            entry.1 = true;
        }
        for f in follow {
            t.put_flow(app, f)?;
        }
        if let Some(x) = session {
            t.upsert_session(app, x)?;
        }
        Ok(FlowTake::Taken(value))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.oauth_grant_active", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn oauth_grant_active(&self, app: &AppId, gid: &str) -> SResult<bool> {
        Ok(self.lock().oauth.sessions.contains_key(&(app.clone(), gid.to_string())))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.revoke_oauth_grant", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn revoke_oauth_grant(&self, app: &AppId, gid: &str) -> SResult<()> {
        self.lock().oauth.sessions.remove(&(app.clone(), gid.to_string()));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.create_oauth_logout_challenge", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn create_oauth_logout_challenge(&self, app: &AppId, c: &OAuthLogoutChallenge) -> SResult<bool> {
        let mut s = self.lock();
        let t = &mut s.oauth;
        if !t.clients.contains_key(&(app.clone(), c.client_id.clone())) {
            return Err(traced_error(StorageError::Query("the OAuth client is gone".into())));
        }
        let k = (app.clone(), c.challenge.clone());
        if t.logout.contains_key(&k) {
            return Ok(false);
        }
        t.logout.insert(k, c.clone());
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.take_oauth_logout_challenge", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn take_oauth_logout_challenge(&self, app: &AppId, challenge: &str) -> SResult<Option<OAuthLogoutChallenge>> {
        Ok(self.lock().oauth.logout.remove(&(app.clone(), challenge.to_string())))
    }
}
