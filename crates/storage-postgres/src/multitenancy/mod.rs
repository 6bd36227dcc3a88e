//! [`TenantStorage`]: `apps`, `tenants`, `tenant_configs` (+ the two factor tables), and the
//! health check.
//!
//! A tenant is listed when it has a `tenant_configs` row (the registry, as in the Java core);
//! `upsert_tenant` writes `apps` (public tenant only), `tenants` and `tenant_configs` and
//! replaces the factor rows in one transaction. Third-party provider rows are left alone: a
//! provider is written (with its clients) by `upsert_thirdparty_provider`, which replaces its
//! rows in one transaction, and read with the tenant in the same statement (a JSON aggregate,
//! ordered by id and client type in byte order, as the memory store orders them).
//! Factor lists come back sorted (the tables are sets). `first_factors` is `None` when
//! `is_first_factors_null`; `required_secondary_factors` is `None` when there are no rows (the
//! reference has no flag for it).
//!
//! Users added to and taken out of a tenant are in [`tenant_users`].

mod tenant_users;

use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::{AppId, ConnectionUriDomain, TenantId, TenantIdentifier};
use st_core::storage::{
    traced_error, AddUserToTenant, ProviderClient, SResult, TenantRecord, TenantStorage, ThirdPartyProvider,
    UserInfoMap, UserInfoMapFields,
};
use st_core::StorageError;
use tokio_postgres::Row;
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the multitenancy recipe (and the health check).
#[derive(Debug)]
pub(crate) struct TenantSql {
    /// `health_check`: one round trip.
    health: String,
    /// Every tenant with its factor arrays (see `tenant_from_row`).
    select_all: String,
    select_one: String,
    pub(crate) app_insert: String,
    pub(crate) tenant_insert: String,
    config_upsert: String,
    first_factors_delete: String,
    secondary_factors_delete: String,
    first_factors_insert: String,
    secondary_factors_insert: String,
    /// Whether the domain has the app (its public tenant).
    app_in_domain: String,
    config_delete: String,
    app_configs_delete: String,
    domain_configs_delete: String,
    orphan_tenant_deletes: [String; 2],
    orphan_app_deletes: [String; 2],
    /// The base tenant's configuration row, inserted at start-up (see `migrate`).
    pub(crate) base_config_insert: String,
    /// The tenant's config row, locked: provider writes of one tenant take their turns (two
    /// concurrent first writes of one provider would otherwise both insert it).
    provider_lock: String,
    provider_delete: String,
    provider_insert: String,
    provider_client_insert: String,
    /// Users added to and taken out of a tenant.
    users: tenant_users::TenantUserSql,
}

impl TenantSql {
    pub(crate) fn new(t: &TableNames) -> TenantSql {
        let tp = t.qualified("tenant_thirdparty_providers");
        let tpc = t.qualified("tenant_thirdparty_provider_clients");
        let tenant_columns = |filter: &str| {
            format!(
                "SELECT c.app_id, c.tenant_id, c.core_config, c.email_password_enabled, c.passwordless_enabled, \
                 c.third_party_enabled, c.is_first_factors_null, \
                 ARRAY(SELECT f.factor_id::TEXT FROM {ff} f WHERE f.connection_uri_domain = c.connection_uri_domain \
                       AND f.app_id = c.app_id AND f.tenant_id = c.tenant_id ORDER BY f.factor_id), \
                 ARRAY(SELECT s.factor_id::TEXT FROM {sf} s WHERE s.connection_uri_domain = c.connection_uri_domain \
                       AND s.app_id = c.app_id AND s.tenant_id = c.tenant_id ORDER BY s.factor_id), \
                 (SELECT json_agg(json_build_object('p', row_to_json(p), 'c', \
                      (SELECT json_agg(row_to_json(k) ORDER BY k.client_type COLLATE \"C\") FROM {tpc} k \
                       WHERE k.connection_uri_domain = p.connection_uri_domain AND k.app_id = p.app_id \
                         AND k.tenant_id = p.tenant_id AND k.third_party_id = p.third_party_id)) \
                    ORDER BY p.third_party_id COLLATE \"C\")::TEXT \
                  FROM {tp} p WHERE p.connection_uri_domain = c.connection_uri_domain AND p.app_id = c.app_id \
                    AND p.tenant_id = c.tenant_id), \
                 c.connection_uri_domain::TEXT \
                 FROM {tc} c {filter} ORDER BY c.connection_uri_domain, c.app_id, c.tenant_id",
                ff = t.tenant_first_factors,
                sf = t.tenant_required_secondary_factors,
                tc = t.tenant_configs,
            )
        };
        TenantSql {
            health: "SELECT 1".into(),
            select_all: tenant_columns(""),
            select_one: tenant_columns("WHERE c.app_id = $1 AND c.tenant_id = $2 AND c.connection_uri_domain = $3"),
            app_in_domain: format!(
                "SELECT 1 FROM {} WHERE connection_uri_domain = $1 AND app_id = $2 AND tenant_id = 'public'",
                t.tenant_configs
            ),
            app_insert: format!(
                "INSERT INTO {} (app_id, created_at_time) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                t.apps
            ),
            tenant_insert: format!(
                "INSERT INTO {} (app_id, tenant_id, created_at_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                t.tenants
            ),
            config_upsert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, core_config, email_password_enabled, \
                 passwordless_enabled, third_party_enabled, is_first_factors_null) \
                 VALUES ($8, $1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (connection_uri_domain, app_id, tenant_id) DO UPDATE SET \
                 core_config = EXCLUDED.core_config, email_password_enabled = EXCLUDED.email_password_enabled, \
                 passwordless_enabled = EXCLUDED.passwordless_enabled, \
                 third_party_enabled = EXCLUDED.third_party_enabled, \
                 is_first_factors_null = EXCLUDED.is_first_factors_null \
                 RETURNING (xmax = 0)",
                t.tenant_configs
            ),
            first_factors_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = $3 AND app_id = $1 AND tenant_id = $2",
                t.tenant_first_factors
            ),
            secondary_factors_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = $3 AND app_id = $1 AND tenant_id = $2",
                t.tenant_required_secondary_factors
            ),
            first_factors_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, factor_id) \
                 SELECT $4::TEXT, $1, $2, f FROM UNNEST($3::TEXT[]) AS f ON CONFLICT DO NOTHING",
                t.tenant_first_factors
            ),
            secondary_factors_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, factor_id) \
                 SELECT $4::TEXT, $1, $2, f FROM UNNEST($3::TEXT[]) AS f ON CONFLICT DO NOTHING",
                t.tenant_required_secondary_factors
            ),
            config_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = $3 AND app_id = $1 AND tenant_id = $2 \
                 RETURNING app_id, tenant_id",
                t.tenant_configs
            ),
            app_configs_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = $2 AND app_id = $1 RETURNING app_id, tenant_id",
                t.tenant_configs
            ),
            domain_configs_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = $1 RETURNING app_id, tenant_id",
                t.tenant_configs
            ),
            // The data of an (app, tenant), and of an app, that no domain names any more.
            orphan_tenant_deletes: [&t.activity_log, &t.tenants].map(|table| {
                format!(
                    "DELETE FROM {table} WHERE app_id = $1 AND tenant_id = $2 AND NOT EXISTS \
                     (SELECT 1 FROM {tc} c WHERE c.app_id = $1 AND c.tenant_id = $2)",
                    tc = t.tenant_configs
                )
            }),
            orphan_app_deletes: [&t.activity_log, &t.apps].map(|table| {
                format!(
                    "DELETE FROM {table} WHERE app_id = $1 AND NOT EXISTS \
                     (SELECT 1 FROM {tc} c WHERE c.app_id = $1)",
                    tc = t.tenant_configs
                )
            }),
            base_config_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, core_config, email_password_enabled, \
                 passwordless_enabled, third_party_enabled, is_first_factors_null) \
                 VALUES ('', 'public', 'public', '{{}}', TRUE, TRUE, TRUE, TRUE) ON CONFLICT DO NOTHING",
                t.tenant_configs
            ),
            provider_lock: format!(
                "SELECT 1 FROM {} WHERE connection_uri_domain = $3 AND app_id = $1 AND tenant_id = $2 FOR UPDATE",
                t.tenant_configs
            ),
            provider_delete: format!(
                "DELETE FROM {tp} WHERE connection_uri_domain = $4 AND app_id = $1 AND tenant_id = $2 \
                 AND third_party_id = $3"
            ),
            provider_insert: format!(
                "INSERT INTO {tp} (connection_uri_domain, app_id, tenant_id, third_party_id, name, \
                 authorization_endpoint, authorization_endpoint_query_params, token_endpoint, \
                 token_endpoint_body_params, user_info_endpoint, user_info_endpoint_query_params, \
                 user_info_endpoint_headers, jwks_uri, oidc_discovery_endpoint, require_email, \
                 user_info_map_from_id_token_payload_user_id, user_info_map_from_id_token_payload_email, \
                 user_info_map_from_id_token_payload_email_verified, user_info_map_from_user_info_endpoint_user_id, \
                 user_info_map_from_user_info_endpoint_email, user_info_map_from_user_info_endpoint_email_verified) \
                 VALUES ($21, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
            ),
            provider_client_insert: format!(
                "INSERT INTO {tpc} (connection_uri_domain, app_id, tenant_id, third_party_id, client_type, client_id, \
                 client_secret, scope, force_pkce, additional_config) \
                 VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            users: tenant_users::TenantUserSql::new(t),
        }
    }
}

impl PgStorage {
    fn tenant_sql(&self) -> &TenantSql {
        &self.sql().tenants
    }

    /// Delete the `tenant_configs` rows `delete` returns (`app_id, tenant_id`; their factor and
    /// provider rows cascade), then, in the same transaction, the data of each (app, tenant) and
    /// app that no domain names any more (`activity_log` has no foreign key; everything else
    /// cascades from `tenants` and `apps`). Whether a row was deleted.
    async fn delete_configs(
        &self,
        delete: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> SResult<bool> {
        let sql = self.tenant_sql();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            let deleted = tx_query(&tx, delete, params).await?;
            let mut apps: Vec<String> = Vec::new();
            for row in &deleted {
                let (app, tenant): (String, String) = (col(row, 0)?, col(row, 1)?);
                for orphan in &sql.orphan_tenant_deletes {
                    tx_exec(&tx, orphan, &[&app, &tenant]).await?;
                }
                if !apps.contains(&app) {
                    apps.push(app);
                }
            }
            for app in &apps {
                for orphan in &sql.orphan_app_deletes {
                    tx_exec(&tx, orphan, &[app]).await?;
                }
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(!deleted.is_empty())
        })
        .await
    }
}

fn parse_core_config(text: Option<String>) -> SResult<Map<String, Value>> {
    match text.as_deref().map(str::trim) {
        None | Some("") | Some("null") => Ok(Map::new()),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(other) => Err(error::bad_row("core_config", format!("not a JSON object: {other}"))),
            Err(e) => Err(error::bad_row("core_config", e)),
        },
    }
}

/// A JSON object stored as text (the provider's parameter maps, a client's additional config):
/// absent or not an object reads as `None`, as the reference's `stringToJsonObject` cannot read
/// anything else either.
fn json_object(v: Option<&Value>) -> Option<Map<String, Value>> {
    let text = v?.as_str()?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Some(m),
        _ => {
            tracing::warn!("ignoring a third-party provider parameter that is not a JSON object");
            None
        }
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The providers of a tenant from the aggregate column: `[{"p": <provider row>, "c": [<client
/// row>…] | null}…]` or NULL.
fn providers_from_json(json: Option<String>) -> SResult<Vec<ThirdPartyProvider>> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let rows: Vec<Value> = serde_json::from_str(&json).map_err(|e| error::bad_row("provider rows", e))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let p = &row["p"];
        let fields = |prefix: &str| UserInfoMapFields {
            user_id: text(p, &format!("{prefix}_user_id")),
            email: text(p, &format!("{prefix}_email")),
            email_verified: text(p, &format!("{prefix}_email_verified")),
        };
        let clients = row["c"].as_array().map(Vec::as_slice).unwrap_or_default();
        out.push(ThirdPartyProvider {
            third_party_id: text(p, "third_party_id").unwrap_or_default(),
            name: text(p, "name"),
            clients: clients
                .iter()
                .map(|c| ProviderClient {
                    client_type: text(c, "client_type").filter(|t| !t.is_empty()),
                    client_id: text(c, "client_id").unwrap_or_default(),
                    client_secret: text(c, "client_secret"),
                    scope: c["scope"]
                        .as_array()
                        .map(|items| items.iter().map(|i| i.as_str().map(str::to_string)).collect()),
                    force_pkce: c["force_pkce"].as_bool(),
                    additional_config: json_object(c.get("additional_config")),
                })
                .collect(),
            authorization_endpoint: text(p, "authorization_endpoint"),
            authorization_endpoint_query_params: json_object(p.get("authorization_endpoint_query_params")),
            token_endpoint: text(p, "token_endpoint"),
            token_endpoint_body_params: json_object(p.get("token_endpoint_body_params")),
            user_info_endpoint: text(p, "user_info_endpoint"),
            user_info_endpoint_query_params: json_object(p.get("user_info_endpoint_query_params")),
            user_info_endpoint_headers: json_object(p.get("user_info_endpoint_headers")),
            jwks_uri: text(p, "jwks_uri"),
            oidc_discovery_endpoint: text(p, "oidc_discovery_endpoint"),
            require_email: p["require_email"].as_bool(),
            user_info_map: UserInfoMap {
                from_id_token_payload: fields("user_info_map_from_id_token_payload"),
                from_user_info_api: fields("user_info_map_from_user_info_endpoint"),
            },
        });
    }
    Ok(out)
}

/// A parameter map as the reference stores it: JSON text, `NULL` for none.
fn json_text(m: &Option<Map<String, Value>>) -> Option<String> {
    m.as_ref().map(|m| Value::Object(m.clone()).to_string())
}

/// A `tenant_configs` row with its factor arrays. `None` when the stored ids are not valid
/// ids of this server (logged and skipped).
fn tenant_from_row(row: &Row) -> SResult<Option<TenantRecord>> {
    let app: String = col(row, 0)?;
    let tenant: String = col(row, 1)?;
    let domain: String = col(row, 10)?;
    let domain =
        if domain.is_empty() { Ok(ConnectionUriDomain::default_domain()) } else { ConnectionUriDomain::parse(&domain) };
    let (Ok(app_id), Ok(tenant_id), Ok(domain)) = (AppId::parse(&app), TenantId::parse(&tenant), domain) else {
        tracing::warn!("ignoring tenant ({app}, {tenant}) stored in tenant_configs: not a valid domain/app/tenant id");
        return Ok(None);
    };
    let core_config = parse_core_config(col(row, 2)?)?;
    let email_password_enabled: Option<bool> = col(row, 3)?;
    let passwordless_enabled: Option<bool> = col(row, 4)?;
    let third_party_enabled: Option<bool> = col(row, 5)?;
    let is_first_factors_null: Option<bool> = col(row, 6)?;
    let first: Vec<String> = col(row, 7)?;
    let secondary: Vec<String> = col(row, 8)?;
    let first_factors = if is_first_factors_null.unwrap_or(first.is_empty()) { None } else { Some(first) };
    let required_secondary_factors = if secondary.is_empty() { None } else { Some(secondary) };
    let third_party_providers = providers_from_json(col(row, 9)?)?;
    Ok(Some(TenantRecord {
        id: TenantIdentifier::new(app_id.in_domain(domain), tenant_id),
        core_config,
        // JDBC's getBoolean reads NULL as false.
        email_password_enabled: email_password_enabled.unwrap_or(false),
        passwordless_enabled: passwordless_enabled.unwrap_or(false),
        third_party_enabled: third_party_enabled.unwrap_or(false),
        first_factors,
        required_secondary_factors,
        third_party_providers,
    }))
}

#[async_trait]
impl TenantStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.health_check", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn health_check(&self) -> SResult<()> {
        self.query(&self.tenant_sql().health, &[]).await.map(|_| ())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.list_tenants", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>> {
        let rows = self.query(&self.tenant_sql().select_all, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(t) = tenant_from_row(row)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_tenant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %id.app, tenant_id = %id.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>> {
        let row = self
            .query_opt(&self.tenant_sql().select_one, &[&id.app.as_str(), &id.tenant.as_str(), &id.domain().as_str()])
            .await?;
        match row {
            Some(row) => tenant_from_row(&row),
            None => Ok(None),
        }
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.upsert_tenant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %record.id.app, tenant_id = %record.id.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool> {
        let sql = self.tenant_sql();
        let app = record.id.app.as_str();
        let tenant = record.id.tenant.as_str();
        let core_config = serde_json::to_string(&record.core_config)
            .map_err(|e| error::query(format!("cannot serialise core_config: {e}")))?;
        let first: Vec<&str> = record.first_factors.iter().flatten().map(String::as_str).collect();
        let secondary: Vec<&str> = record.required_secondary_factors.iter().flatten().map(String::as_str).collect();

        let domain = record.id.domain().as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            if record.id.tenant.is_public() {
                tx_exec(&tx, &sql.app_insert, &[&app, &now_ms]).await?;
            } else if tx_query(&tx, &sql.app_in_domain, &[&domain, &app]).await?.is_empty() {
                return Err(traced_error(StorageError::TenantOrAppNotFound));
            }
            // The user pool's row: another domain may have made it already.
            tx_exec(&tx, &sql.tenant_insert, &[&app, &tenant, &now_ms]).await?;
            let created = tx_query(
                &tx,
                &sql.config_upsert,
                &[
                    &app,
                    &tenant,
                    &core_config,
                    &record.email_password_enabled,
                    &record.passwordless_enabled,
                    &record.third_party_enabled,
                    &record.first_factors.is_none(),
                    &domain,
                ],
            )
            .await?
            .first()
            .map(|row| col::<bool>(row, 0))
            .transpose()?
            .unwrap_or(false);
            for (delete, insert, factors) in [
                (&sql.first_factors_delete, &sql.first_factors_insert, &first),
                (&sql.secondary_factors_delete, &sql.secondary_factors_insert, &secondary),
            ] {
                tx_exec(&tx, delete, &[&app, &tenant, &domain]).await?;
                if !factors.is_empty() {
                    tx_exec(&tx, insert, &[&app, &tenant, factors, &domain]).await?;
                }
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(created)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_tenant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %id.app, tenant_id = %id.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        let (app, tenant, domain) = (id.app.as_str(), id.tenant.as_str(), id.domain().as_str());
        self.delete_configs(&self.tenant_sql().config_delete, &[&app, &tenant, &domain]).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_app", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        let domain = app.domain().as_str();
        self.delete_configs(&self.tenant_sql().app_configs_delete, &[&app.as_str(), &domain]).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_connection_uri_domain", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_connection_uri_domain(&self, domain: &ConnectionUriDomain) -> SResult<bool> {
        self.delete_configs(&self.tenant_sql().domain_configs_delete, &[&domain.as_str()]).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.upsert_thirdparty_provider", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %id.app, tenant_id = %id.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn upsert_thirdparty_provider(&self, id: &TenantIdentifier, p: &ThirdPartyProvider) -> SResult<bool> {
        let sql = self.tenant_sql();
        let (app, tenant, tp_id) = (id.app.as_str(), id.tenant.as_str(), p.third_party_id.as_str());
        let (idt, uia) = (&p.user_info_map.from_id_token_payload, &p.user_info_map.from_user_info_api);
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // The clients go with their provider (ON DELETE CASCADE).
            let domain = id.domain().as_str();
            tx_exec(&tx, &sql.provider_lock, &[&app, &tenant, &domain]).await?;
            let existed = tx_exec(&tx, &sql.provider_delete, &[&app, &tenant, &tp_id, &domain]).await? > 0;
            tx_exec(
                &tx,
                &sql.provider_insert,
                &[
                    &app,
                    &tenant,
                    &tp_id,
                    &p.name,
                    &p.authorization_endpoint,
                    &json_text(&p.authorization_endpoint_query_params),
                    &p.token_endpoint,
                    &json_text(&p.token_endpoint_body_params),
                    &p.user_info_endpoint,
                    &json_text(&p.user_info_endpoint_query_params),
                    &json_text(&p.user_info_endpoint_headers),
                    &p.jwks_uri,
                    &p.oidc_discovery_endpoint,
                    &p.require_email,
                    &idt.user_id,
                    &idt.email,
                    &idt.email_verified,
                    &uia.user_id,
                    &uia.email,
                    &uia.email_verified,
                    &domain,
                ],
            )
            .await?;
            for c in &p.clients {
                tx_exec(
                    &tx,
                    &sql.provider_client_insert,
                    &[
                        &app,
                        &tenant,
                        &tp_id,
                        &c.client_type.as_deref().unwrap_or(""),
                        &c.client_id,
                        &c.client_secret,
                        &c.scope,
                        &c.force_pkce,
                        &json_text(&c.additional_config),
                        &domain,
                    ],
                )
                .await?;
            }
            tx.commit().await.map_err(error::pg)?;
            Ok(!existed)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_thirdparty_provider", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %id.app, tenant_id = %id.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_thirdparty_provider(&self, id: &TenantIdentifier, third_party_id: &str) -> SResult<bool> {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&id.app.as_str(), &id.tenant.as_str(), &third_party_id, &id.domain().as_str()];
        let n = self.execute(&self.tenant_sql().provider_delete, &params).await?;
        Ok(n > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.add_user_to_tenant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn add_user_to_tenant(&self, tenant: &TenantIdentifier, recipe_user_id: &str) -> SResult<AddUserToTenant> {
        self.add_user_to_tenant_tx(tenant, recipe_user_id).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.remove_user_from_tenant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn remove_user_from_tenant(
        &self,
        tenant: &TenantIdentifier,
        recipe_user_id: Option<&str>,
        data_ids: &[String],
    ) -> SResult<bool> {
        self.remove_user_from_tenant_tx(tenant, recipe_user_id, data_ids).await
    }
}
