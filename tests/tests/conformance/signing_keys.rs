//! [`SigningKeyStorage`]: dynamic-key rotation (insert only when no key can sign, once under
//! concurrency), the cron's cleanup, and the static key.

use crate::helpers::*;
use st_core::ids::AppId;
use st_core::storage::*;

fn created(keys: &[StoredKey]) -> Vec<i64> {
    keys.iter().map(|k| k.created_at).collect()
}

async fn dynamic_keys(st: &dyn Storage) {
    let a = AppId::public();
    assert_eq!(st.dynamic_keys_rotate(&a, 0, 100, None).await.unwrap(), (vec![], false));
    let (keys, inserted) = st.dynamic_keys_rotate(&a, 0, 100, Some(&key(1_000))).await.unwrap();
    assert!(inserted);
    assert_eq!(keys, vec![key(1_000)], "kid d-<created>, value stored as given");
    // A key that can still sign exists (created >= sign_after): no insert.
    let (keys, inserted) = st.dynamic_keys_rotate(&a, 0, 1_000, Some(&key(2_000))).await.unwrap();
    assert!(!inserted);
    assert_eq!(keys, vec![key(1_000)]);
    // None can sign any more: insert; newest first.
    let (keys, inserted) = st.dynamic_keys_rotate(&a, 0, 1_001, Some(&key(2_000))).await.unwrap();
    assert!(inserted);
    assert_eq!(keys, vec![key(2_000), key(1_000)]);
    // verify_after filters old keys from the answer (they stay stored).
    assert_eq!(created(&st.dynamic_keys_rotate(&a, 1_500, 0, None).await.unwrap().0), vec![2_000]);
    assert_eq!(created(&st.dynamic_keys_rotate(&a, 1_000, 0, None).await.unwrap().0), vec![2_000, 1_000], "inclusive");

    // Many instances rotating at once insert exactly one key.
    let candidates: Vec<StoredKey> = (0..8).map(|i| key(3_000 + i)).collect();
    let results = join_all(candidates.iter().map(|c| st.dynamic_keys_rotate(&a, 0, 2_500, Some(c))).collect()).await;
    let inserted: Vec<bool> = results.iter().map(|r| r.as_ref().unwrap().1).collect();
    assert_eq!(inserted.iter().filter(|x| **x).count(), 1, "{inserted:?}");
    let all = st.dynamic_keys_rotate(&a, 0, 0, None).await.unwrap().0;
    assert_eq!(all.len(), 3);
    assert!(all[0].created_at >= 3_000 && all[1..] == [key(2_000), key(1_000)], "{all:?}");
    for (r, c) in results.iter().zip(&candidates) {
        let (keys, ins) = r.as_ref().unwrap();
        assert!(keys.iter().any(|k| k.created_at >= 2_500), "every caller sees a signing key: {keys:?}");
        assert_eq!(*ins, keys.contains(c));
    }

    // Per app, and the cron's cleanup.
    add_app(st, "a1").await;
    assert!(st.dynamic_keys_rotate(&app("a1"), 0, 0, None).await.unwrap().0.is_empty());
    assert_eq!(st.delete_dynamic_keys_before(&a, 2_000).await.unwrap(), 1);
    assert_eq!(created(&st.dynamic_keys_rotate(&a, 0, 0, None).await.unwrap().0)[1..], [2_000]);
    assert_eq!(st.delete_dynamic_keys_before(&a, 2_000).await.unwrap(), 0);
    let orphan = st.dynamic_keys_rotate(&app("nope"), 0, 100, Some(&key(1))).await;
    assert!(is_not_found(&orphan), "{orphan:?}");
}

async fn static_key(st: &dyn Storage) {
    let a = AppId::public();
    assert_eq!(st.static_key_get_or_insert(&a, None).await.unwrap(), None);
    let first =
        StoredKey { kid: "s-11111111-1111-4111-8111-111111111111".into(), value: "pub|priv".into(), created_at: 7 };
    let second =
        StoredKey { kid: "s-22222222-2222-4222-8222-222222222222".into(), value: "pub2|priv2".into(), created_at: 8 };
    assert_eq!(st.static_key_get_or_insert(&a, Some(&first)).await.unwrap(), Some(first.clone()));
    assert_eq!(st.static_key_get_or_insert(&a, Some(&second)).await.unwrap(), Some(first.clone()), "created once");
    assert_eq!(st.static_key_get_or_insert(&a, None).await.unwrap(), Some(first));
    add_app(st, "a1").await;
    assert_eq!(st.static_key_get_or_insert(&app("a1"), None).await.unwrap(), None, "per app");
    let orphan = st.static_key_get_or_insert(&app("nope"), Some(&second)).await;
    assert!(is_not_found(&orphan), "{orphan:?}");
}

/// The key of a core older than 3.0, in `key_value`, moves once (whichever instance gets it) to
/// the dynamic keys (as created when it was) or to the static key.
async fn legacy_key_transfer(st: &dyn Storage) {
    let a = AppId::public();
    let public = st_core::ids::TenantIdentifier::base();
    assert!(!st.transfer_legacy_signing_key(&a, true, "s-x").await.unwrap(), "nothing to move");
    st.set_key_value(&public, LEGACY_KEY_NAME, "pub;priv", 1_234).await.unwrap();
    let moves = join_all((0..4).map(|_| st.transfer_legacy_signing_key(&a, true, "s-x")).collect()).await;
    assert_eq!(moves.iter().filter(|m| *m.as_ref().unwrap()).count(), 1, "{moves:?}");
    assert_eq!(st.get_key_value(&public, LEGACY_KEY_NAME).await.unwrap(), None, "deleted");
    let keys = st.dynamic_keys_rotate(&a, 0, 0, None).await.unwrap().0;
    assert_eq!(keys, vec![StoredKey { kid: "d-1234".into(), value: "pub;priv".into(), created_at: 1_234 }]);
    assert_eq!(st.static_key_get_or_insert(&a, None).await.unwrap(), None);

    // With static keys configured, it becomes the static key.
    add_app(st, "a1").await;
    let a1 = app("a1");
    st.set_key_value(&st_core::ids::TenantIdentifier::app_public(&a1), LEGACY_KEY_NAME, "p2;q2", 99).await.unwrap();
    assert!(st.transfer_legacy_signing_key(&a1, false, "s-legacy").await.unwrap());
    let stat = st.static_key_get_or_insert(&a1, None).await.unwrap();
    assert_eq!(stat, Some(StoredKey { kid: "s-legacy".into(), value: "p2;q2".into(), created_at: 99 }));
    assert!(st.dynamic_keys_rotate(&a1, 0, 0, None).await.unwrap().0.is_empty());
}

conformance! {
    dynamic_keys,
    static_key,
    legacy_key_transfer,
}
