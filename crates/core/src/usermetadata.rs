//! The user-metadata recipe: one JSON object per user id, shallow-merged on update.

use crate::core::Core;
use crate::error::CoreResult;
use crate::ids::AppId;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Shallow merge: each top-level key of `update` replaces the stored one; `null` deletes it.
pub fn merge_metadata(mut current: Map<String, Value>, update: &Map<String, Value>) -> Map<String, Value> {
    for (k, v) in update {
        // As the reference: the key is removed (the others keep their order), and a non-null
        // value is added back at the end.
        current.shift_remove(k);
        if !v.is_null() {
            current.insert(k.clone(), v.clone());
        }
    }
    current
}

impl Core {
    /// The user's metadata (`{}` when there is none).
    pub async fn user_metadata(&self, app: &AppId, user_id: &str) -> CoreResult<Map<String, Value>> {
        Ok(self.storage.get_user_metadata(app, user_id).await?.unwrap_or_default())
    }

    /// The metadata of several users (those without any are absent from the map).
    pub async fn user_metadata_many(
        &self,
        app: &AppId,
        user_ids: &[String],
    ) -> CoreResult<HashMap<String, Map<String, Value>>> {
        Ok(self.storage.get_user_metadata_many(app, user_ids).await?)
    }

    /// Shallow-merge `update` into the user's metadata ([`merge_metadata`]); returns the result.
    pub async fn update_user_metadata(
        &self,
        app: &AppId,
        user_id: &str,
        update: &Map<String, Value>,
    ) -> CoreResult<Map<String, Value>> {
        Ok(self.storage.update_user_metadata(app, user_id, update).await?)
    }

    /// Remove the user's metadata.
    pub async fn remove_user_metadata(&self, app: &AppId, user_id: &str) -> CoreResult<()> {
        self.storage.delete_user_metadata(app, user_id).await?;
        Ok(())
    }
}
