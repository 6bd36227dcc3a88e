//! [`KeyValueStorage`]: `key_value`, named string values per tenant (the reference's
//! key-value store: the refresh-token key, the telemetry id).
//!
//! A missing row reads as `None`; a row whose value is NULL reads as the empty string.

use crate::query::col;
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use st_core::ids::TenantIdentifier;
use st_core::storage::{KeyValueStorage, SResult};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the key-value recipe.
#[derive(Debug)]
pub(crate) struct KeyValueSql {
    get: String,
    set: String,
    delete: String,
    insert_if_absent: String,
}

impl KeyValueSql {
    pub(crate) fn new(t: &TableNames) -> KeyValueSql {
        KeyValueSql {
            get: format!("SELECT value FROM {} WHERE app_id = $1 AND tenant_id = $2 AND name = $3", t.key_value),
            set: format!(
                "INSERT INTO {} (app_id, tenant_id, name, value, created_at_time) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, tenant_id, name) DO UPDATE SET value = EXCLUDED.value, \
                 created_at_time = EXCLUDED.created_at_time",
                t.key_value
            ),
            delete: format!("DELETE FROM {} WHERE app_id = $1 AND tenant_id = $2 AND name = $3", t.key_value),
            insert_if_absent: format!(
                "INSERT INTO {} (app_id, tenant_id, name, value, created_at_time) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, tenant_id, name) DO NOTHING",
                t.key_value
            ),
        }
    }
}

impl PgStorage {
    fn kv_sql(&self) -> &KeyValueSql {
        &self.sql().key_value
    }

    /// The stored value of `name` (see `get_key_value`), without a span of its own: both
    /// `get_key_value` and `get_or_insert_key_value` read it.
    async fn read_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        let row = self.query_opt(&self.kv_sql().get, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &name]).await?;
        match row {
            Some(row) => Ok(col::<Option<String>>(&row, 0)?.or(Some(String::new()))),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl KeyValueStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_key_value", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<Option<String>> {
        self.read_key_value(tenant, name).await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.set_key_value", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn set_key_value(&self, tenant: &TenantIdentifier, name: &str, value: &str, now_ms: i64) -> SResult<()> {
        self.execute(&self.kv_sql().set, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &name, &value, &now_ms])
            .await
            .map(|_| ())
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_key_value", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_key_value(&self, tenant: &TenantIdentifier, name: &str) -> SResult<bool> {
        let n = self.execute(&self.kv_sql().delete, &[&tenant.app.as_str(), &tenant.tenant.as_str(), &name]).await?;
        Ok(n > 0)
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_or_insert_key_value", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %tenant.app, tenant_id = %tenant.tenant,
            otel.status_code = Empty, error.type = Empty)
    )]
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
            self.execute(&self.kv_sql().insert_if_absent, &[&app, &t, &name, &value, &now_ms]).await?;
            if let Some(stored) = self.read_key_value(tenant, name).await? {
                return Ok(stored);
            }
        }
        Err(error::query(format!("key_value {name} vanished while being created")))
    }
}
