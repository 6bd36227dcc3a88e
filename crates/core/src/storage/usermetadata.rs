//! User-metadata storage: one JSON object per user id.

use super::compose;
use super::SResult;
use crate::ids::AppId;
use async_trait::async_trait;
use serde_json::{Map, Value};

#[async_trait]
pub trait UserMetadataStorage: Send + Sync {
    async fn get_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<Option<Map<String, Value>>>;
    /// The metadata of several users (those without any are absent from the map).
    async fn get_user_metadata_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> SResult<std::collections::HashMap<String, Map<String, Value>>> {
        compose::get_user_metadata_many(self, app, user_ids).await
    }
    /// Shallow-merge `update` into the stored metadata atomically (`null` deletes a key), with
    /// [`crate::usermetadata::merge_metadata`]; returns the result.
    async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> SResult<Map<String, Value>>;
    async fn delete_user_metadata(&self, app: &AppId, user_id: &str) -> SResult<bool>;
}
