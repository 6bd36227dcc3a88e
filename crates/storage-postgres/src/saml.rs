//! [`SamlStorage`]: the reference's `saml_clients` and `saml_relay_state`, written as the Java
//! core writes them (redirect URIs as a JSON array in TEXT), so either core reads the other's
//! rows. A client is saved by one upsert on its id; the tenant's unique IdP entity id refuses a
//! second client of the same IdP.

use crate::query::{col, is_state};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::TenantIdentifier;
use st_core::storage::{SResult, SamlClientRow, SamlClientUpsert, SamlRelayStateRow, SamlStorage};
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
}

impl SamlSql {
    pub(crate) fn new(t: &TableNames) -> SamlSql {
        let clients = t.qualified("saml_clients");
        let relay = t.qualified("saml_relay_state");
        let claims = t.qualified("saml_claims");
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
                "SELECT relay_state::TEXT, client_id::TEXT, state, redirect_uri FROM {relay} \
                 WHERE app_id = $1 AND tenant_id = $2 AND relay_state = $3 AND expires_at >= $4"
            ),
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
        self.execute(
            &self.saml_sql().relay_insert,
            &[
                &tenant.app.as_str(),
                &tenant.tenant.as_str(),
                &row.relay_state,
                &row.client_id,
                &row.state,
                &row.redirect_uri,
                &now_ms,
                &expires_at,
            ],
        )
        .await?;
        Ok(())
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
        let claims = self.execute(&s.claims_delete_expired, &[&now_ms]).await?;
        Ok(relay + claims)
    }
}
