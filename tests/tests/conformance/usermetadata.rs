//! [`UserMetadataStorage`]: metadata merged on update (no lost update under concurrency), removal.

use crate::helpers::*;
use serde_json::{json, Map, Value};
use st_core::ids::AppId;
use st_core::storage::*;
use std::sync::Arc;

/// An update merges into the stored object (`null` removes a key); concurrent updates of one
/// user lose none; removal reports whether there was any.
async fn user_metadata(st: &Arc<dyn Storage>) {
    let app = AppId::public();
    assert_eq!(st.get_user_metadata(&app, "u").await.unwrap(), None);
    let m = st.update_user_metadata(&app, "u", &obj(json!({"a": 1, "b": {"c": 2}}))).await.unwrap();
    assert_eq!(Value::Object(m), json!({"a": 1, "b": {"c": 2}}));
    let m = st.update_user_metadata(&app, "u", &obj(json!({"a": null, "b": {"d": 3}, "e": []}))).await.unwrap();
    assert_eq!(Value::Object(m.clone()), json!({"b": {"d": 3}, "e": []}));
    assert_eq!(st.get_user_metadata(&app, "u").await.unwrap(), Some(m));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            let mut update = Map::new();
            update.insert(format!("k{i}"), json!(i));
            st.update_user_metadata(&AppId::public(), "v", &update).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(st.get_user_metadata(&app, "v").await.unwrap().unwrap().len(), 10, "no lost update");
    assert!(st.delete_user_metadata(&app, "u").await.unwrap());
    assert!(!st.delete_user_metadata(&app, "u").await.unwrap());
}

conformance! {
    user_metadata,
}
