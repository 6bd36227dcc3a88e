//! SAML in memory ([`SamlStorage`]): each tenant's IdP clients (with their creation time, for
//! the listing order), relay states, claims by code, and the assertion ids each app accepted.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use st_core::ids::{AppId, TenantIdentifier};
use st_core::storage::{SResult, SamlClaimsRow, SamlClientRow, SamlClientUpsert, SamlRelayStateRow, SamlStorage};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

#[derive(Default)]
pub(crate) struct Tables {
    /// tenant → client id → (client, created at).
    clients: HashMap<TenantIdentifier, HashMap<String, (SamlClientRow, i64)>>,
    /// tenant → relay state → (row, expires at).
    relay_states: HashMap<TenantIdentifier, HashMap<String, (SamlRelayStateRow, i64)>>,
    /// tenant → code → (claims, expires at).
    claims: HashMap<TenantIdentifier, HashMap<String, (SamlClaimsRow, i64)>>,
    /// app → assertion id → remembered until.
    assertion_ids: HashMap<AppId, HashMap<String, i64>>,
}

impl Cascade for Tables {
    fn remove_tenant(&mut self, tenant: &TenantIdentifier) {
        self.clients.remove(tenant);
        self.relay_states.remove(tenant);
        self.claims.remove(tenant);
    }
    fn remove_app(&mut self, app: &AppId) {
        self.clients.retain(|t, _| &t.app != app);
        self.relay_states.retain(|t, _| &t.app != app);
        self.claims.retain(|t, _| &t.app != app);
        self.assertion_ids.remove(app);
    }
}

#[async_trait]
impl SamlStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.upsert_saml_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn upsert_saml_client(
        &self,
        tenant: &TenantIdentifier,
        row: &SamlClientRow,
        now_ms: i64,
    ) -> SResult<SamlClientUpsert> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let clients = s.saml.clients.entry(tenant.clone()).or_default();
        if clients.values().any(|(c, _)| c.idp_entity_id == row.idp_entity_id && c.client_id != row.client_id) {
            return Ok(SamlClientUpsert::DuplicateEntityId);
        }
        let created = clients.get(&row.client_id).map_or(now_ms, |(_, created)| *created);
        clients.insert(row.client_id.clone(), (row.clone(), created));
        Ok(SamlClientUpsert::Saved)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_saml_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> SResult<Option<SamlClientRow>> {
        Ok(self.lock().saml.clients.get(tenant).and_then(|c| c.get(client_id)).map(|(c, _)| c.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_saml_client_by_entity_id", skip_all,
        fields(otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_saml_client_by_entity_id(
        &self,
        tenant: &TenantIdentifier,
        idp_entity_id: &str,
    ) -> SResult<Option<SamlClientRow>> {
        let s = self.lock();
        let found = s.saml.clients.get(tenant).and_then(|c| c.values().find(|(c, _)| c.idp_entity_id == idp_entity_id));
        Ok(found.map(|(c, _)| c.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.list_saml_clients", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn list_saml_clients(&self, tenant: &TenantIdentifier) -> SResult<Vec<SamlClientRow>> {
        let s = self.lock();
        let mut all: Vec<&(SamlClientRow, i64)> =
            s.saml.clients.get(tenant).map(|c| c.values().collect()).unwrap_or_default();
        all.sort_by(|a, b| (a.1, &a.0.client_id).cmp(&(b.1, &b.0.client_id)));
        Ok(all.into_iter().map(|(c, _)| c.clone()).collect())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.remove_saml_client", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn remove_saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> SResult<bool> {
        Ok(self.lock().saml.clients.get_mut(tenant).and_then(|c| c.remove(client_id)).is_some())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.save_saml_relay_state", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn save_saml_relay_state(
        &self,
        tenant: &TenantIdentifier,
        row: &SamlRelayStateRow,
        _now_ms: i64,
        expires_at: i64,
    ) -> SResult<()> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        s.saml
            .relay_states
            .entry(tenant.clone())
            .or_default()
            .insert(row.relay_state.clone(), (row.clone(), expires_at));
        Ok(())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_saml_relay_state", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn get_saml_relay_state(
        &self,
        tenant: &TenantIdentifier,
        relay_state: &str,
        now_ms: i64,
    ) -> SResult<Option<SamlRelayStateRow>> {
        let s = self.lock();
        let found = s.saml.relay_states.get(tenant).and_then(|r| r.get(relay_state));
        Ok(found.filter(|(_, expires)| *expires >= now_ms).map(|(r, _)| r.clone()))
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.save_saml_claims_once", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn save_saml_claims_once(
        &self,
        tenant: &TenantIdentifier,
        assertion_id: &str,
        assertion_valid_until: i64,
        claims: &SamlClaimsRow,
        now_ms: i64,
        expires_at: i64,
    ) -> SResult<bool> {
        let mut s = self.lock();
        s.require_tenant(tenant)?;
        let seen = s.saml.assertion_ids.entry(tenant.app.clone()).or_default();
        if seen.get(assertion_id).is_some_and(|until| *until >= now_ms) {
            return Ok(false);
        }
        seen.insert(assertion_id.to_string(), assertion_valid_until);
        s.saml.claims.entry(tenant.clone()).or_default().insert(claims.code.clone(), (claims.clone(), expires_at));
        Ok(true)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.take_saml_claims", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %tenant.app, tenant_id = %tenant.tenant,
        otel.status_code = Empty, error.type = Empty))]
    async fn take_saml_claims(
        &self,
        tenant: &TenantIdentifier,
        code: &str,
        now_ms: i64,
    ) -> SResult<Option<SamlClaimsRow>> {
        let mut s = self.lock();
        let Some(codes) = s.saml.claims.get_mut(tenant) else { return Ok(None) };
        if codes.get(code).is_some_and(|(_, expires)| *expires >= now_ms) {
            return Ok(codes.remove(code).map(|(row, _)| row));
        }
        Ok(None)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_expired_saml_data", skip_all, fields(
        otel.kind = "client", db.system = "memory", otel.status_code = Empty, error.type = Empty))]
    async fn delete_expired_saml_data(&self, now_ms: i64) -> SResult<u64> {
        let mut s = self.lock();
        let mut n = 0u64;
        for states in s.saml.relay_states.values_mut() {
            let before = states.len();
            states.retain(|_, (_, expires)| *expires > now_ms);
            n += (before - states.len()) as u64;
        }
        for codes in s.saml.claims.values_mut() {
            let before = codes.len();
            codes.retain(|_, (_, expires)| *expires > now_ms);
            n += (before - codes.len()) as u64;
        }
        for ids in s.saml.assertion_ids.values_mut() {
            let before = ids.len();
            ids.retain(|_, until| *until >= now_ms);
            n += (before - ids.len()) as u64;
        }
        Ok(n)
    }
}
