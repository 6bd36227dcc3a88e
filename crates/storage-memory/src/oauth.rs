//! The OAuth2 provider in memory ([`OAuthStorage`]): clients by (app, client id).

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::AppId;
use st_core::storage::{ClientUpdateOutcome, ClientUpdater, OAuthClientRow, OAuthStorage, SResult};
use std::collections::BTreeMap;
use tracing::field::Empty;
use tracing::instrument;

/// (app, client id) -> client, ordered by client id within an app.
#[derive(Default)]
pub(crate) struct Tables {
    clients: BTreeMap<(AppId, String), OAuthClientRow>,
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.clients.retain(|(a, _), _| a != app);
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
        Ok(self.lock().oauth.clients.remove(&(app.clone(), client_id.to_string())).is_some())
    }
}
