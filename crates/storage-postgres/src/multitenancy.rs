//! [`TenantStorage`]: `apps`, `tenants`, `tenant_configs` (+ the two factor tables) and
//! `key_value`.
//!
//! A tenant is listed when it has a `tenant_configs` row (the registry, as in the Java core);
//! `upsert_tenant` writes `apps` (public tenant only), `tenants` and `tenant_configs` and
//! replaces the factor rows in one transaction. Third-party provider rows are left alone.
//! Factor lists come back sorted (the tables are sets). `first_factors` is `None` when
//! `is_first_factors_null`; `required_secondary_factors` is `None` when there are no rows (the
//! reference has no flag for it).

use crate::{col, error, tx_exec, PgStorage};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::{AppId, TenantId, TenantIdentifier};
use st_core::storage::{KeyValueStorage, SResult, TenantRecord, TenantStorage};
use st_core::StorageError;
use tokio_postgres::Row;

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
    async fn health_check(&self) -> SResult<()> {
        self.query(&self.sql().health, &[]).await.map(|_| ())
    }

    async fn list_tenants(&self) -> SResult<Vec<TenantRecord>> {
        let rows = self.query(&self.sql().tenant_select_all, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(t) = tenant_from_row(row)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn get_tenant(&self, id: &TenantIdentifier) -> SResult<Option<TenantRecord>> {
        let row = self.query_opt(&self.sql().tenant_select_one, &[&id.app.as_str(), &id.tenant.as_str()]).await?;
        match row {
            Some(row) => tenant_from_row(&row),
            None => Ok(None),
        }
    }

    async fn upsert_tenant(&self, record: &TenantRecord, now_ms: i64) -> SResult<bool> {
        let sql = self.sql();
        let app = record.id.app.as_str();
        let tenant = record.id.tenant.as_str();
        let core_config = serde_json::to_string(&record.core_config)
            .map_err(|e| StorageError::Query(format!("cannot serialise core_config: {e}")))?;
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
            &sql.tenant_config_upsert,
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

    async fn delete_tenant(&self, id: &TenantIdentifier) -> SResult<bool> {
        let sql = self.sql();
        let (app, tenant) = (id.app.as_str(), id.tenant.as_str());
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(error::pg)?;
        // tenant_configs has no FK (its factor/provider rows cascade from it); activity_log
        // has none either. Everything else cascades from tenants.
        let configs = tx_exec(&tx, &sql.tenant_config_delete, &[&app, &tenant]).await?;
        tx_exec(&tx, &sql.tenant_activity_delete, &[&app, &tenant]).await?;
        let tenants = tx_exec(&tx, &sql.tenant_delete, &[&app, &tenant]).await?;
        let existed = configs + tenants > 0;
        tx.commit().await.map_err(error::pg)?;
        Ok(existed)
    }

    async fn delete_app(&self, app: &AppId) -> SResult<bool> {
        let sql = self.sql();
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

#[async_trait]
impl KeyValueStorage for PgStorage {
    async fn get_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        let row = self.query_opt(&self.sql().kv_get, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &name]).await?;
        match row {
            Some(row) => Ok(col::<Option<String>>(&row, 0)?.or(Some(String::new()))),
            None => Ok(None),
        }
    }

    async fn set_key_value(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()> {
        self.execute(&self.sql().kv_set, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &name, &value, &now_ms])
            .await
            .map(|_| ())
    }

    async fn delete_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool> {
        let n = self.execute(&self.sql().kv_delete, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &name]).await?;
        Ok(n > 0)
    }

    async fn get_or_insert_key_value(
        &self,
        tenant: &TenantIdentifier,
        name: &str,
        value: &str,
        now_ms: i64,
    ) -> SResult<String> {
        let (app, t) = (tenant.app.as_str(), tenant.tenant.as_str());
        // Two statements on purpose: the SELECT gets a fresh snapshot, so it sees a row a
        // concurrent writer committed after our INSERT found the conflict.
        for _ in 0..3 {
            self.execute(&self.sql().kv_insert_if_absent, &[&app, &t, &name, &value, &now_ms]).await?;
            if let Some(stored) = self.get_key_value(tenant, name).await? {
                return Ok(stored);
            }
        }
        Err(StorageError::Query(format!("key_value {name} vanished while being created")))
    }
}
