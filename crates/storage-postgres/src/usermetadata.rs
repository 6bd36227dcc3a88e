//! [`UserMetadataStorage`]: `user_metadata`, one JSON object per user and app.
//!
//! An update merges into the stored object under a row lock (the row is created first when
//! missing), so concurrent updates of one user apply one after the other.

use crate::query::{col, tx_exec, tx_query};
use crate::{error, PgStorage, TableNames};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::AppId;
use st_core::storage::{SResult, UserMetadataStorage};
use tracing::field::Empty;
use tracing::instrument;

/// Statement texts of the usermetadata recipe.
#[derive(Debug)]
pub(crate) struct UserMetadataSql {
    md_select: String,
    md_select_many: String,
    md_ensure: String,
    md_lock: String,
    md_set: String,
    md_delete: String,
}

impl UserMetadataSql {
    pub(crate) fn new(t: &TableNames) -> UserMetadataSql {
        let md = t.qualified("user_metadata");
        UserMetadataSql {
            md_select: format!("SELECT user_metadata FROM {md} WHERE app_id = $1 AND user_id = $2"),
            md_select_many: format!(
                "SELECT user_id::TEXT, user_metadata FROM {md} WHERE app_id = $1 AND user_id = ANY($2::TEXT[])"
            ),
            md_ensure: format!(
                "INSERT INTO {md} (app_id, user_id, user_metadata) VALUES ($1, $2, '{{}}') ON CONFLICT DO NOTHING"
            ),
            md_lock: format!("SELECT user_metadata FROM {md} WHERE app_id = $1 AND user_id = $2 FOR UPDATE"),
            md_set: format!("UPDATE {md} SET user_metadata = $3 WHERE app_id = $1 AND user_id = $2"),
            md_delete: format!("DELETE FROM {md} WHERE app_id = $1 AND user_id = $2"),
        }
    }
}

impl PgStorage {
    fn md_sql(&self) -> &UserMetadataSql {
        &self.sql().usermetadata
    }
}

/// A stored `user_metadata` value; NULL and JSON `null` read as an empty object.
fn parse_metadata(text: Option<String>) -> SResult<Map<String, Value>> {
    match text {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str::<Value>(&t) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(Value::Null) => Ok(Map::new()),
            Ok(other) => Err(error::bad_row("user_metadata", format!("not a JSON object: {other}"))),
            Err(e) => Err(error::bad_row("user_metadata", e)),
        },
    }
}

#[async_trait]
impl UserMetadataStorage for PgStorage {
    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_user_metadata", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>> {
        let row = self.query_opt(&self.md_sql().md_select, &[&app.as_str(), &user_id]).await?;
        row.map(|r| parse_metadata(col(&r, 0)?)).transpose()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.get_user_metadata_many", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn get_user_metadata_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<std::collections::HashMap<String, Map<String, Value>>> {
        let rows = self.query(&self.md_sql().md_select_many, &[&app.as_str(), &user_ids]).await?;
        rows.iter().map(|r| Ok((col(r, 0)?, parse_metadata(col(r, 1)?)?))).collect()
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.update_user_metadata", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>> {
        let s = self.md_sql();
        let app = app.as_str();
        self.retrying(|| async {
            let mut conn = self.conn().await?;
            let tx = conn.transaction().await.map_err(error::pg)?;
            // Make sure a row exists to lock, so concurrent updates merge one after the other.
            tx_exec(&tx, &s.md_ensure, &[&app, &user_id]).await?;
            let rows = tx_query(&tx, &s.md_lock, &[&app, &user_id]).await?;
            let current = match rows.first() {
                Some(row) => parse_metadata(col(row, 0)?)?,
                None => Map::new(),
            };
            let merged = st_core::usermetadata::merge_metadata(current, update);
            let text = serde_json::to_string(&merged)
                .map_err(|e| error::query(format!("cannot serialise user metadata: {e}")))?;
            tx_exec(&tx, &s.md_set, &[&app, &user_id, &text]).await?;
            tx.commit().await.map_err(error::pg)?;
            Ok(merged)
        })
        .await
    }

    #[instrument(
        level = "debug", target = "st_storage", name = "storage.delete_user_metadata", skip_all,
        fields(otel.kind = "client", db.system = "postgresql", app_id = %app,
            otel.status_code = Empty, error.type = Empty)
    )]
    async fn delete_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        Ok(self.execute(&self.md_sql().md_delete, &[&app.as_str(), &user_id]).await? > 0)
    }
}
