//! The user-metadata recipe: one JSON object per user id, shallow-merged on update.

use serde_json::{Map, Value};

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
