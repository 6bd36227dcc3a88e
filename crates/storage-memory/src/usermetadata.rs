//! User metadata in memory ([`UserMetadataStorage`]): one JSON object per user id.

use crate::{Cascade, MemoryStorage};
use async_trait::async_trait;
use serde_json::{Map, Value};
use st_core::ids::AppId;
use st_core::storage::{compose, SResult, UserMetadataStorage};
use std::collections::HashMap;
use tracing::field::Empty;
use tracing::instrument;

/// (app, user id) -> metadata.
#[derive(Default)]
pub(crate) struct Tables {
    pub(crate) rows: HashMap<(AppId, String), Map<String, Value>>,
}

impl Tables {
    /// Whether metadata is stored under the user id.
    pub fn holds_user(&self, app: &AppId, user_id: &str) -> bool {
        self.rows.contains_key(&(app.clone(), user_id.to_string()))
    }
}

impl Cascade for Tables {
    fn remove_app(&mut self, app: &AppId) {
        self.rows.retain(|(a, _), _| a != app);
    }

    fn remove_user(&mut self, app: &AppId, _user_id: &str, ids: &[String]) {
        self.rows.retain(|(a, id), _| !(a == app && ids.contains(id)));
    }
}

#[async_trait]
impl UserMetadataStorage for MemoryStorage {
    #[instrument(level = "debug", target = "st_storage", name = "storage.get_user_metadata_many", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_user_metadata_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<HashMap<String, Map<String, Value>>> {
        compose::get_user_metadata_many(self, app, user_ids).await
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.get_user_metadata", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn get_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>> {
        Ok(self.lock().usermetadata.rows.get(&(app.clone(), user_id.to_string())).cloned())
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.update_user_metadata", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>> {
        let mut s = self.lock();
        let rows = &mut s.usermetadata.rows;
        let key = (app.clone(), user_id.to_string());
        let current = rows.remove(&key).unwrap_or_default();
        let merged = st_core::usermetadata::merge_metadata(current, update);
        rows.insert(key, merged.clone());
        Ok(merged)
    }

    #[instrument(level = "debug", target = "st_storage", name = "storage.delete_user_metadata", skip_all, fields(
        otel.kind = "client", db.system = "memory", app_id = %app, otel.status_code = Empty, error.type = Empty))]
    async fn delete_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<bool> {
        Ok(self.lock().usermetadata.rows.remove(&(app.clone(), user_id.to_string())).is_some())
    }
}
