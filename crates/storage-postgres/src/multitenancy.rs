//! [`TenantStorage`]: `apps`, `tenants`, `tenant_configs` (+ the two factor tables), and the
//! health check.
//!
//! A tenant is listed when it has a `tenant_configs` row (the registry, as in the Java core);
//! `upsert_tenant` writes `apps` (public tenant only), `tenants` and `tenant_configs` and
//! replaces the factor rows in one transaction. Third-party provider rows are left alone.
//! Factor lists come back sorted (the tables are sets). `first_factors` is `None` when
//! `is_first_factors_null`; `required_secondary_factors` is `None` when there are no rows (the
//! reference has no flag for it).

use crate::query::{col, tx_exec};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::{SResult, TenantRecord, TenantStorage};
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
    config_delete: String,
    activity_delete: String,
    tenant_delete: String,
    app_configs_delete: String,
    app_activity_delete: String,
    app_delete: String,
    /// The base tenant's configuration row, inserted at start-up (see `migrate`).
    pub(crate) base_config_insert: String,
}

impl TenantSql {
    pub(crate) fn new(t: &TableNames) -> TenantSql {
        let tenant_columns = |filter: &str| {
            format!(
                "SELECT c.app_id, c.tenant_id, c.core_config, c.email_password_enabled, c.passwordless_enabled, \
                 c.third_party_enabled, c.is_first_factors_null, \
                 ARRAY(SELECT f.factor_id::TEXT FROM {ff} f WHERE f.connection_uri_domain = c.connection_uri_domain \
                       AND f.app_id = c.app_id AND f.tenant_id = c.tenant_id ORDER BY f.factor_id), \
                 ARRAY(SELECT s.factor_id::TEXT FROM {sf} s WHERE s.connection_uri_domain = c.connection_uri_domain \
                       AND s.app_id = c.app_id AND s.tenant_id = c.tenant_id ORDER BY s.factor_id) \
                 FROM {tc} c WHERE c.connection_uri_domain = '' {filter} ORDER BY c.app_id, c.tenant_id",
                ff = t.tenant_first_factors,
                sf = t.tenant_required_secondary_factors,
                tc = t.tenant_configs,
            )
        };
        TenantSql {
            health: "SELECT 1".into(),
            select_all: tenant_columns(""),
            select_one: tenant_columns("AND c.app_id = $1 AND c.tenant_id = $2"),
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
                 VALUES ('', $1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (connection_uri_domain, app_id, tenant_id) DO UPDATE SET \
                 core_config = EXCLUDED.core_config, email_password_enabled = EXCLUDED.email_password_enabled, \
                 passwordless_enabled = EXCLUDED.passwordless_enabled, \
                 third_party_enabled = EXCLUDED.third_party_enabled, \
                 is_first_factors_null = EXCLUDED.is_first_factors_null",
                t.tenant_configs
            ),
            first_factors_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = '' AND app_id = $1 AND tenant_id = $2",
                t.tenant_first_factors
            ),
            secondary_factors_delete: format!(
                "DELETE FROM {} WHERE connection_uri_domain = '' AND app_id = $1 AND tenant_id = $2",
                t.tenant_required_secondary_factors
            ),
            first_factors_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, factor_id) \
                 SELECT '', $1, $2, f FROM UNNEST($3::TEXT[]) AS f ON CONFLICT DO NOTHING",
                t.tenant_first_factors
            ),
            secondary_factors_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, factor_id) \
                 SELECT '', $1, $2, f FROM UNNEST($3::TEXT[]) AS f ON CONFLICT DO NOTHING",
                t.tenant_required_secondary_factors
            ),
            config_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2", t.tenant_configs),
            activity_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2", t.activity_log),
            tenant_delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2", t.tenants),
            app_configs_delete: format!("DELETE FROM {} WHERE app_id = $1", t.tenant_configs),
            app_activity_delete: format!("DELETE FROM {} WHERE app_id = $1", t.activity_log),
            app_delete: format!("DELETE FROM {} WHERE app_id = $1", t.apps),
            base_config_insert: format!(
                "INSERT INTO {} (connection_uri_domain, app_id, tenant_id, core_config, email_password_enabled, \
                 passwordless_enabled, third_party_enabled, is_first_factors_null) \
                 VALUES ('', 'public', 'public', '{{}}', TRUE, TRUE, TRUE, TRUE) ON CONFLICT DO NOTHING",
                t.tenant_configs
            ),
        }
    }
}

impl PgStorage {
    fn tenant_sql(&self) -> &TenantSql {
        &self.sql().tenants
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

/// A `tenant_configs` row with its factor arrays. `None` when the stored ids are not valid
/// ids of this server (logged and skipped).
fn tenant_from_row(row: &Row) -> SResult<Option<TenantRecord>> {
    let app: String = col(row, 0)?;
    let tenant: String = col(row, 1)?;
    let (Ok(app_id), Ok(tenant_id)) = (AppId::parse(&app), TenantId::parse(&tenant)) else {
        tracing::warn!("ignoring tenant ({app}, {tenant}) stored in tenant_configs: not a valid app/tenant id");
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
    Ok(Some(TenantRecord {
        id: TenantIdentifier::new(app_id, tenant_id),
        core_config,
        // JDBC's getBoolean reads NULL as false.
        email_password_enabled: email_password_enabled.unwrap_or(false),
        passwordless_enabled: passwordless_enabled.unwrap_or(false),
        third_party_enabled: third_party_enabled.unwrap_or(false),
        first_factors,
        required_secondary_factors,
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
        let row = self.query_opt(&self.tenant_sql().select_one, &[&id.app.as_str(), &id.tenant.as_str()]).await?;
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

        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        if record.id.tenant.is_public() {
            tx_exec(&tx, &sql.app_insert, &[&app, &now_ms]).await?;
        }
        let created = tx_exec(&tx, &sql.tenant_insert, &[&app, &tenant, &now_ms]).await? == 1;
        tx_exec(
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
            ],
        )
        .await?;
        for (delete, insert, factors) in [
            (&sql.first_factors_delete, &sql.first_factors_insert, &first),
            (&sql.secondary_factors_delete, &sql.secondary_factors_insert, &secondary),
        ] {
            tx_exec(&tx, delete, &[&app, &tenant]).await?;
            if !factors.is_empty() {
                tx_exec(&tx, insert, &[&app, &tenant, factors]).await?;
            }
        }
        tx.commit().await.map_err(error::pg)?;
        Ok(created)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_tenant", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %id.app, tenant_id = %id.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        let sql = self.tenant_sql();
        let (app, tenant) = (id.app.as_str(), id.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        // tenant_configs has no FK (its factor/provider rows cascade from it); activity_log
        // has none either. Everything else cascades from tenants.
        let configs = tx_exec(&tx, &sql.config_delete, &[&app, &tenant]).await?;
        tx_exec(&tx, &sql.activity_delete, &[&app, &tenant]).await?;
        let tenants = tx_exec(&tx, &sql.tenant_delete, &[&app, &tenant]).await?;
        let existed = configs + tenants > 0;
        tx.commit().await.map_err(error::pg)?;
        Ok(existed)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_app", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        let sql = self.tenant_sql();
        let app = app.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        let configs = tx_exec(&tx, &sql.app_configs_delete, &[&app]).await?;
        tx_exec(&tx, &sql.app_activity_delete, &[&app]).await?;
        let apps = tx_exec(&tx, &sql.app_delete, &[&app]).await?;
        let existed = configs + apps > 0;
        tx.commit().await.map_err(error::pg)?;
        Ok(existed)
    }
}
