//! [`KeyValueStorage`]: per-tenant key-values, get-or-insert under concurrency.

use crate::helpers::*;
use st_core::ids::TenantIdentifier;
use st_core::storage::*;

async fn key_values(st: &dyn Storage) {
    let base = TenantIdentifier::base();
    add_app(st, "a1").await;
    let other = tid("a1", "public");
    assert_eq!(st.get_key_value(&base, "x").await.unwrap(), None);
    st.set_key_value(&base, "x", "1", 1).await.unwrap();
    assert_eq!(st.get_key_value(&base, "x").await.unwrap().as_deref(), Some("1"));
    assert_eq!(st.get_key_value(&other, "x").await.unwrap(), None, "key-values are per tenant");
    st.set_key_value(&base, "x", "2", 2).await.unwrap();
    assert_eq!(st.get_key_value(&base, "x").await.unwrap().as_deref(), Some("2"), "set replaces");
    assert!(st.delete_key_value(&base, "x").await.unwrap());
    assert!(!st.delete_key_value(&base, "x").await.unwrap());
    assert_eq!(st.get_key_value(&base, "x").await.unwrap(), None);

    assert_eq!(st.get_or_insert_key_value(&base, "y", "first", 1).await.unwrap(), "first");
    assert_eq!(st.get_or_insert_key_value(&base, "y", "second", 2).await.unwrap(), "first", "an existing value wins");
    assert_eq!(st.get_key_value(&base, "y").await.unwrap().as_deref(), Some("first"));
    st.set_key_value(&base, "empty", "", 1).await.unwrap();
    assert_eq!(st.get_key_value(&base, "empty").await.unwrap().as_deref(), Some(""));

    // Concurrent get-or-insert: everyone gets the one stored value.
    let values: Vec<String> = (0..8).map(|i| format!("candidate-{i}")).collect();
    let got = join_all(values.iter().map(|v| st.get_or_insert_key_value(&other, "z", v, 1)).collect()).await;
    let got: Vec<String> = got.into_iter().map(|r| r.unwrap()).collect();
    let stored = st.get_key_value(&other, "z").await.unwrap().unwrap();
    assert!(got.iter().all(|g| *g == stored), "{got:?} vs {stored}");
    assert!(values.contains(&stored));

    let missing = tid("nope", "public");
    assert!(is_not_found(&st.set_key_value(&missing, "x", "1", 1).await));
    assert!(is_not_found(&st.get_or_insert_key_value(&missing, "x", "1", 1).await));
}

conformance! {
    key_values,
}
