//! The user-metadata recipe over HTTP (§a.11): updates merged in the reference's order, bulk
//! reads and their limits, removal.

use crate::helpers::*;
use serde_json::{json, Value};

async fn metadata_update_bulk_and_remove(b: Backend) {
    let Some(s) = TestServer::spawn(b, cheap_hashing()).await else { return };
    assert_eq!(s.get("/recipe/user/metadata?userId=u1").await["metadata"], json!({}));
    let m = s.put("/recipe/user/metadata", json!({"userId": "u1", "metadataUpdate": {"a": 1, "b": {"c": 2}}})).await;
    assert_eq!(m["metadata"], json!({"a": 1, "b": {"c": 2}}));
    let m = s.put("/recipe/user/metadata", json!({"userId": "u1", "metadataUpdate": {"a": null, "b": {"d": 3}}})).await;
    assert_eq!(m["metadata"], json!({"b": {"d": 3}}));
    // The reference's merge order: a removed key leaves the others in order; an updated key
    // moves to the end (and is stored so).
    let keys = |m: &Value| m.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    s.put("/recipe/user/metadata", json!({"userId": "u3", "metadataUpdate": {"a": 1, "b": 2, "c": 3}})).await;
    let m = s.put("/recipe/user/metadata", json!({"userId": "u3", "metadataUpdate": {"a": null}})).await;
    assert_eq!(keys(&m["metadata"]), ["b", "c"]);
    let m = s.put("/recipe/user/metadata", json!({"userId": "u3", "metadataUpdate": {"b": 9}})).await;
    assert_eq!(keys(&m["metadata"]), ["c", "b"]);
    assert_eq!(keys(&s.get("/recipe/user/metadata?userId=u3").await["metadata"]), ["c", "b"]);
    s.put("/recipe/user/metadata", json!({"userId": "u2", "metadataUpdate": {"z": true}})).await;
    let bulk = s.post("/recipe/user/metadata/bulk", json!({"userIds": ["u2", "nobody", "u1"]})).await;
    assert_eq!(
        bulk["users"],
        json!([
            {"userId": "u2", "metadata": {"z": true}},
            {"userId": "nobody", "metadata": null},
            {"userId": "u1", "metadata": {"b": {"d": 3}}}
        ])
    );
    assert_eq!(s.post("/recipe/user/metadata/bulk", json!({"userIds": []})).await["users"], json!([]));
    let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let (st, text) = s
        .request("POST", "/recipe/user/metadata/bulk", Some(json!({"userIds": too_many})), &[("cdi-version", "5.4")])
        .await;
    assert_eq!((st, text.trim_end()), (400, "You can only query up to 500 users at a time."));
    let (st, text) =
        s.request("POST", "/recipe/user/metadata/bulk", Some(json!({"userIds": [1]})), &[("cdi-version", "5.4")]).await;
    assert_eq!((st, text.trim_end()), (400, "userIds array must contain only strings"));
    s.post("/recipe/user/metadata/remove", json!({"userId": "u1"})).await;
    assert_eq!(s.get("/recipe/user/metadata?userId=u1").await["metadata"], json!({}));
    s.stop().await;
}

st_tests::both_backends! {
    metadata_update_bulk_and_remove => metadata_update_bulk_and_remove;
}
