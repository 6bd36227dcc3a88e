//! [`SamlStorage`]: the reference's `saml_clients` and `saml_relay_state`, written as the Java
//! core writes them (redirect URIs as a JSON array in TEXT), so either core reads the other's
//! rows. A client is saved by one upsert on its id; the tenant's unique IdP entity id refuses a
//! second client of the same IdP. Ours beside them (V7): `saml_relay_state_requests` (the
//! AuthnRequest ID and ACS URL of a relay state, written in its transaction) and
//! `saml_assertion_ids` (an accepted assertion id per app, inserted if absent in the
//! transaction that saves its claims, so a replay is refused across instances).

use crate::query::{col, is_state, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::TenantIdentifier;
use st_core::storage::{SResult, SamlClaimsRow, SamlClientRow, SamlClientUpsert, SamlRelayStateRow, SamlStorage};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the SAML recipe.
#[derive(Debug)]
pub(crate) struct SamlSql {
    client_upsert: String,
    client_select: String,
    client_by_entity: String,
    client_list: String,
    client_delete: String,
    relay_insert: String,
    relay_select: String,
    relay_delete_expired: String,
    claims_delete_expired: String,
    request_insert: String,
    request_delete_expired: String,
    assertion_claim: String,
    claims_insert: String,
    claims_take: String,
    assertion_delete_expired: String,
}

impl SamlSql {
    pub(crate) fn new(t: &TableNames) -> SamlSql {
        let clients = t.qualified("saml_clients");
        let relay = t.qualified("saml_relay_state");
        let claims = t.qualified("saml_claims");
        let requests = t.qualified("saml_relay_state_requests");
        let assertions = t.qualified("saml_assertion_ids");
        let columns = "client_id::TEXT, client_secret, sso_login_url, redirect_uris, default_redirect_uri, \
                       idp_entity_id::TEXT, idp_signing_certificate, allow_idp_initiated_login, enable_request_signing";
        SamlSql {
            client_upsert: format!(
                "INSERT INTO {clients} (app_id, tenant_id, client_id, client_secret, sso_login_url, redirect_uris, \
                 default_redirect_uri, idp_entity_id, idp_signing_certificate, allow_idp_initiated_login, \
                 enable_request_signing, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                 ON CONFLICT (app_id, tenant_id, client_id) DO UPDATE SET \
                 client_secret = EXCLUDED.client_secret, sso_login_url = EXCLUDED.sso_login_url, \
                 redirect_uris = EXCLUDED.redirect_uris, default_redirect_uri = EXCLUDED.default_redirect_uri, \
                 idp_entity_id = EXCLUDED.idp_entity_id, idp_signing_certificate = EXCLUDED.idp_signing_certificate, \
                 allow_idp_initiated_login = EXCLUDED.allow_idp_initiated_login, \
                 enable_request_signing = EXCLUDED.enable_request_signing, updated_at = EXCLUDED.updated_at"
            ),
            client_select: format!(
                "SELECT {columns} FROM {clients} WHERE app_id = $1 AND tenant_id = $2 AND client_id = $3"
            ),
            client_by_entity: format!(
                "SELECT {columns} FROM {clients} WHERE app_id = $1 AND tenant_id = $2 AND idp_entity_id = $3"
            ),
            client_list: format!(
                "SELECT {columns} FROM {clients} WHERE app_id = $1 AND tenant_id = $2 \
                 ORDER BY created_at ASC, client_id::TEXT COLLATE \"C\" ASC"
            ),
            client_delete: format!("DELETE FROM {clients} WHERE app_id = $1 AND tenant_id = $2 AND client_id = $3"),
            relay_insert: format!(
                "INSERT INTO {relay} (app_id, tenant_id, relay_state, client_id, state, redirect_uri, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            relay_select: format!(
                "SELECT r.relay_state::TEXT, r.client_id::TEXT, r.state, r.redirect_uri, q.request_id::TEXT, \
                 q.acs_url FROM {relay} r LEFT JOIN {requests} q ON q.app_id = r.app_id \
                 AND q.tenant_id = r.tenant_id AND q.relay_state = r.relay_state \
                 WHERE r.app_id = $1 AND r.tenant_id = $2 AND r.relay_state = $3 AND r.expires_at >= $4"
            ),
            request_insert: format!(
                "INSERT INTO {requests} (app_id, tenant_id, relay_state, request_id, acs_url, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            request_delete_expired: format!("DELETE FROM {requests} WHERE expires_at <= $1"),
            // Inserted, or an expired remembrance replaced; no row back: a replay.
            assertion_claim: format!(
                "INSERT INTO {assertions} AS a (app_id, assertion_id, valid_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (app_id, assertion_id) DO UPDATE SET valid_until = EXCLUDED.valid_until \
                 WHERE a.valid_until < $4 RETURNING 1"
            ),
            claims_insert: format!(
                "INSERT INTO {claims} (app_id, tenant_id, client_id, code, claims, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            claims_take: format!(
                "DELETE FROM {claims} WHERE app_id = $1 AND tenant_id = $2 AND code = $3 AND expires_at >= $4 \
                 RETURNING code::TEXT, client_id::TEXT, claims"
            ),
            assertion_delete_expired: format!("DELETE FROM {assertions} WHERE valid_until < $1"),
            relay_delete_expired: format!("DELETE FROM {relay} WHERE expires_at <= $1"),
            claims_delete_expired: format!("DELETE FROM {claims} WHERE expires_at <= $1"),
        }
    }
}

impl PgStorage {
    fn saml_sql(&self) -> &SamlSql {
        &self.sql().saml
    }
}

fn client_row(r: &Row) -> SResult<SamlClientRow> {
    let uris: String = col(r, 3)?;
    let redirect_uris: Vec<String> =
        serde_json::from_str(&uris).map_err(|e| error::bad_row("saml_clients.redirect_uris", e))?;
    Ok(SamlClientRow {
        client_id: col(r, 0)?,
        client_secret: col(r, 1)?,
        sso_login_url: col(r, 2)?,
        redirect_uris,
        default_redirect_uri: col(r, 4)?,
        idp_entity_id: col(r, 5)?,
        idp_signing_certificate: col(r, 6)?,
        allow_idp_initiated_login: col(r, 7)?,
        enable_request_signing: col(r, 8)?,
    })
}

#[async_trait]
impl SamlStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.upsert_saml_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn upsert_saml_client(
        &self,
        tenant: &TenantIdentifier,
        row: &SamlClientRow,
        now_ms: i64,
    ) -> SResult<SamlClientUpsert> {
        let s = self.saml_sql();
        let (a, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        // Gson's JsonArray.toString(): compact JSON.
        let uris = serde_json::to_string(&row.redirect_uris)
            .map_err(|e| error::query(format!("cannot serialise redirect URIs: {e}")))?;
        self.retrying(|| async {
            let c = self.conn().await?;
            let stmt = c.prepare_cached(&s.client_upsert).await.map_err(error::pg)?;
            let result = c
                .execute(
                    &stmt,
                    &[
                        &a,
                        &t,
                        &row.client_id,
                        &row.client_secret,
                        &row.sso_login_url,
                        &uris,
                        &row.default_redirect_uri,
                        &row.idp_entity_id,
                        &row.idp_signing_certificate,
                        &row.allow_idp_initiated_login,
                        &row.enable_request_signing,
                        &now_ms,
                    ],
                )
                .await;
            match result {
                Ok(_) => Ok(SamlClientUpsert::Saved),
                // The id's conflict is the upsert's; the only other key is the IdP entity id.
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) => Ok(SamlClientUpsert::DuplicateEntityId),
                Err(e) => Err(error::pg(e)),
            }
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_saml_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> SResult<Option<SamlClientRow>> {
        let row = self
            .query_opt(&self.saml_sql().client_select, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &client_id])
            .await?;
        row.as_ref().map(client_row).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_saml_client_by_entity_id", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_saml_client_by_entity_id(
        &self,
        tenant: &TenantIdentifier,
        idp_entity_id: &str,
    ) -> SResult<Option<SamlClientRow>> {
        let row = self
            .query_opt(
                &self.saml_sql().client_by_entity,
                &[&tenant.app.as_str(), &tenant.tenant.as_str(), &idp_entity_id],
            )
            .await?;
        row.as_ref().map(client_row).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.list_saml_clients", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn list_saml_clients(&self, tenant: &TenantIdentifier) -> SResult<Vec<SamlClientRow>> {
        let rows = self.query(&self.saml_sql().client_list, &[&tenant.app.as_str(), &tenant.tenant.as_str()]).await?;
        rows.iter().map(client_row).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_saml_client", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_saml_client(&self, tenant: &TenantIdentifier, client_id: &str) -> SResult<bool> {
        let n = self
            .execute(&self.saml_sql().client_delete, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &client_id])
            .await?;
        Ok(n > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.save_saml_relay_state", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn save_saml_relay_state(
        &self,
        tenant: &TenantIdentifier,
        row: &SamlRelayStateRow,
        now_ms: i64,
        expires_at: i64,
    ) -> SResult<()> {
        let s = self.saml_sql();
        let (a, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            tx_exec(
                &tx,
                &s.relay_insert,
                &[&a, &t, &row.relay_state, &row.client_id, &row.state, &row.redirect_uri, &now_ms, &expires_at],
            )
            .await?;
            if let (Some(request_id), Some(acs_url)) = (&row.request_id, &row.acs_url) {
                tx_exec(&tx, &s.request_insert, &[&a, &t, &row.relay_state, request_id, acs_url, &expires_at]).await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(())
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_saml_relay_state", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_saml_relay_state(
        &self,
        tenant: &TenantIdentifier,
        relay_state: &str,
        now_ms: i64,
    ) -> SResult<Option<SamlRelayStateRow>> {
        let row = self
            .query_opt(
                &self.saml_sql().relay_select,
                &[&tenant.app.as_str(), &tenant.tenant.as_str(), &relay_state, &now_ms],
            )
            .await?;
        row.as_ref()
            .map(|r| {
                Ok(SamlRelayStateRow {
                    relay_state: col(r, 0)?,
                    client_id: col(r, 1)?,
                    state: col(r, 2)?,
                    redirect_uri: col(r, 3)?,
                    request_id: col(r, 4)?,
                    acs_url: col(r, 5)?,
                })
            })
            .transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_expired_saml_data", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_expired_saml_data(&self, now_ms: i64) -> SResult<u64> {
        let s = self.saml_sql();
        let relay = self.execute(&s.relay_delete_expired, &[&now_ms]).await?;
        // Ours, not counted: the reference's job counts its two tables.
        self.execute(&s.request_delete_expired, &[&now_ms]).await?;
        let claims = self.execute(&s.claims_delete_expired, &[&now_ms]).await?;
        let assertions = self.execute(&s.assertion_delete_expired, &[&now_ms]).await?;
        Ok(relay + claims + assertions)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.save_saml_claims_once", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn save_saml_claims_once(
        &self,
        tenant: &TenantIdentifier,
        assertion_id: &str,
        assertion_valid_until: i64,
        claims: &SamlClaimsRow,
        now_ms: i64,
        expires_at: i64,
    ) -> SResult<bool> {
        let s = self.saml_sql();
        let (a, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let fresh =
                tx_query(&tx, &s.assertion_claim, &[&a, &assertion_id, &assertion_valid_until, &now_ms]).await?;
            if fresh.is_empty() {
                return Ok(false);
            }
            // A missing tenant: the foreign key's TenantOrAppNotFound.
            tx_exec(
                &tx,
                &s.claims_insert,
                &[&a, &t, &claims.client_id, &claims.code, &claims.claims, &now_ms, &expires_at],
            )
            .await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(true)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.take_saml_claims", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn take_saml_claims(
        &self,
        tenant: &TenantIdentifier,
        code: &str,
        now_ms: i64,
    ) -> SResult<Option<SamlClaimsRow>> {
        let row = self
            .query_opt(&self.saml_sql().claims_take, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &code, &now_ms])
            .await?;
        row.as_ref()
            .map(|r| Ok(SamlClaimsRow { code: col(r, 0)?, client_id: col(r, 1)?, claims: col(r, 2)? }))
            .transpose()
    }
}
