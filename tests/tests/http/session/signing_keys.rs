//! Signing-key rotation driven by the fake clock (§c.3), and (PostgreSQL only) two server
//! instances sharing one database: sessions, keys and rotation across instances, and an app
//! re-created through one of them.

use super::*;

/// U = 0.05 h = 180 s (allowed in test mode), overlap O = 60 s, access validity 10 s, so a key
/// verifies for U + 2 × 10 s = 200 s.
const ROTATION: &str = r#"{"access_token_dynamic_signing_key_update_interval": 0.05, "access_token_validity": 10}"#;

async fn key_rotation(b: Backend) {
    let Some(s) = TestServer::spawn(b, serde_json::from_str(ROTATION).unwrap()).await else { return };
    let k1 = format!("d-{START_MS}");
    let (keys, cc) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys), vec![k1.clone()]);
    assert_eq!(max_age(&cc), 120, "U - O");
    let jwt_k1 = s
        .post("/recipe/jwt", json!({"payload": {}, "algorithm": "RS256", "jwksDomain": "d", "validity": 1000, "useStaticSigningKey": false}))
        .await["jwt"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(kid(&jwt_k1), k1);

    // Before U - O nothing new.
    s.clock.advance_ms(119_000);
    let (keys, cc) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys), vec![k1.clone()]);
    assert_eq!(max_age(&cc), 1);

    // After U - O a new key is published, but the old one keeps signing during the overlap.
    s.clock.advance_ms(2_000);
    let k2 = format!("d-{}", START_MS + 121_000);
    let (keys, cc) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys), vec![k2.clone(), k1.clone()], "newest first");
    assert_eq!(max_age(&cc), 120);
    let early = new_session(&s, "u").await;
    assert_eq!(kid(&at(&early)), k1, "a key signs only once it is O old");
    s.clock.advance_ms(58_000); // t0 + 179 s
    let late = new_session(&s, "u").await;
    assert_eq!(kid(&at(&late)), k1);

    // After the overlap the new key signs.
    s.clock.advance_ms(3_000); // t0 + 182 s
    let fresh = new_session(&s, "u").await;
    assert_eq!(kid(&at(&fresh)), k2);
    let refreshed = refresh(&s, &rt(&early)).await;
    assert_eq!(kid(&at(&refreshed)), k2);
    assert_eq!(verify(&s, &at(&fresh), false).await["status"], "OK");
    // The old key still verifies its (unexpired) tokens.
    s.clock.advance_ms(6_000); // t0 + 188 s, `late` expires at t0 + 189 s
    assert_eq!(verify(&s, &at(&late), false).await["status"], "OK");

    // The old key is published until U + 2 × validity, then gone.
    s.clock.advance_ms(11_000); // t0 + 199 s
    let (keys, _) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys), vec![k2.clone(), k1.clone()]);
    assert!(verifies_with_jwks(&jwt_k1, &keys));
    s.clock.advance_ms(2_000); // t0 + 201 s
    let (keys, _) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys), vec![k2.clone()], "k1 is past its lifetime");
    assert!(kids(&keys)[1].starts_with("s-"), "the static key does not expire: {:?}", kids(&keys));
    assert!(!verifies_with_jwks(&jwt_k1, &keys));
    assert_eq!(verify(&s, &at(&late), false).await["status"], "TRY_REFRESH_TOKEN");
    s.stop().await;
}

async fn key_rotation_short_test_interval(b: Backend) {
    // 0.001 h = 3.6 s: accepted in test mode, keys rotate every few seconds.
    let cfg = json!({"access_token_dynamic_signing_key_update_interval": 0.001});
    let Some(s) = TestServer::spawn(b, cfg).await else { return };
    let first = new_session(&s, "u").await;
    let (keys, _) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys), vec![format!("d-{START_MS}")]);
    s.clock.advance_ms(3_700);
    let (keys, _) = jwks(&s, "").await;
    assert_eq!(dynamic_kids(&keys).len(), 2, "a new key after one interval: {:?}", dynamic_kids(&keys));
    assert!(dynamic_kids(&keys).contains(&format!("d-{START_MS}")), "the old key still verifies");
    assert_eq!(verify(&s, &at(&first), false).await["status"], "OK");
    let second = new_session(&s, "u").await;
    assert_eq!(verify(&s, &at(&second), false).await["status"], "OK");
    s.clock.advance_ms(3_700);
    let third = new_session(&s, "u").await;
    assert_eq!(verify(&s, &at(&third), false).await["status"], "OK");
    assert_eq!(verify(&s, &at(&first), false).await["status"], "OK", "lifetime = U + 2 × 3600 s");
    let (keys, _) = jwks(&s, "").await;
    assert!(dynamic_kids(&keys).len() >= 3 && verifies_with_jwks(&at(&third), &keys), "{:?}", dynamic_kids(&keys));
    s.stop().await;

    // The SDK suites set the interval per app (0.0004 h = 1.44 s, as a string).
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let cfg = json!({"access_token_dynamic_signing_key_update_interval": "0.0004"});
    assert_eq!(
        s.put("/recipe/multitenancy/app/v2", json!({"appId": "fast", "coreConfig": cfg})).await["createdNew"],
        true
    );
    let first = create(&s, "/appid-fast", "u", false, json!({}), json!({})).await;
    let base_keys = jwks(&s, "").await.0;
    assert_eq!(dynamic_kids(&jwks(&s, "/appid-fast").await.0).len(), 1);
    s.clock.advance_ms(1_500);
    let fast = jwks(&s, "/appid-fast").await.0;
    assert_eq!(dynamic_kids(&fast).len(), 2, "the app rotated: {:?}", kids(&fast));
    assert_eq!(jwks(&s, "").await.0, base_keys, "the public app did not");
    let v = s
        .post("/appid-fast/recipe/session/verify", json!({"accessToken": at(&first), "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": true}))
        .await;
    assert_eq!(v["status"], "OK", "{v}");
    s.stop().await;
}

st_tests::both_backends! {
    key_rotation => key_rotation;
    key_rotation_short_test_interval => key_rotation_short_test_interval;
}

// ---------------------------------------------------------------------------------------------
// Two instances on one PostgreSQL database
// ---------------------------------------------------------------------------------------------

async fn dynamic_key_rows(url: &str) -> Vec<i64> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    let task = tokio::spawn(conn);
    let rows = client
        .query("SELECT created_at_time FROM session_access_token_signing_keys WHERE app_id = 'public' ORDER BY 1", &[])
        .await
        .expect("query keys");
    drop(client);
    let _ = task.await;
    rows.iter().map(|r| r.get::<_, i64>(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database() {
    if st_tests::pg_url().is_none() {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    }
    let cfg: Value = serde_json::from_str(ROTATION).unwrap();
    let a = TestServer::spawn(Backend::Postgres, cfg.clone()).await.expect("server A");
    let url = a.db_url.clone().expect("A uses a database");
    let b = TestServer::spawn_on(Backend::Postgres, cfg, Some(url.clone())).await.expect("server B");
    // B's clock runs 1 ms ahead, so the two instances' candidate keys never share a created_at.
    b.clock.advance_ms(1);
    let both = |ms: i64| {
        a.clock.advance_ms(ms);
        b.clock.advance_ms(ms);
    };

    // A session made on A works on B, both ways round.
    let r = new_session(&a, "u").await;
    let v = verify(&b, &at(&r), true).await;
    assert_eq!(v["status"], "OK", "{v}");
    let r2 = refresh(&b, &rt(&r)).await;
    assert_eq!(r2["status"], "OK", "the refresh-token key is shared: {r2}");
    let v = verify(&a, &at(&r2), false).await;
    assert_eq!(v["status"], "OK", "A promotes B's child: {v}");
    assert_eq!(refresh(&b, &rt(&r)).await["status"], "TOKEN_THEFT_DETECTED", "B sees A's promotion");
    assert_eq!(dynamic_key_rows(&url).await, vec![START_MS], "one key for the first slot");
    let (ka, _) = jwks(&a, "").await;
    let (kb, _) = jwks(&b, "").await;
    assert_eq!(ka, kb);

    // Rotation: both instances ask for keys at once, several times.
    both(121_000);
    for _ in 0..3 {
        let (x, y) = tokio::join!(jwks(&a, ""), jwks(&b, ""));
        assert_eq!(dynamic_kids(&x.0).len(), 2, "{:?}", kids(&x.0));
        assert_eq!(kids(&x.0), kids(&y.0));
    }
    let (x, y) = tokio::join!(new_session(&a, "u"), new_session(&b, "u"));
    assert_eq!(dynamic_key_rows(&url).await.len(), 2, "never two keys for one rotation slot");
    assert_eq!(kid(&at(&x)), format!("d-{START_MS}"), "old key still signs during the overlap (A)");
    assert_eq!(kid(&at(&y)), format!("d-{START_MS}"), "old key still signs during the overlap (B)");

    // After the overlap both sign with the new key, and each verifies the other's tokens.
    both(61_000);
    let (x, y) = tokio::join!(new_session(&a, "u"), new_session(&b, "u"));
    assert_eq!(kid(&at(&x)), kid(&at(&y)));
    assert_ne!(kid(&at(&x)), format!("d-{START_MS}"));
    assert_eq!(verify(&b, &at(&x), true).await["status"], "OK");
    assert_eq!(verify(&a, &at(&y), true).await["status"], "OK");
    assert_eq!(refresh(&a, &rt(&y)).await["status"], "OK");
    assert_eq!(refresh(&b, &rt(&x)).await["status"], "OK");
    // Another slot later: still one key per slot.
    both(121_000);
    let _ = tokio::join!(new_session(&a, "u"), new_session(&b, "u"), jwks(&a, ""), jwks(&b, ""));
    assert_eq!(dynamic_key_rows(&url).await.len(), 3);
    a.stop().await;
    b.stop().await;
}

/// An app deleted and re-created under the same id through one instance gets new keys; the
/// other instance, which had the old ones cached, picks them up at its next re-sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreated_app_keys_reach_other_instances() {
    if st_tests::pg_url().is_none() {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    }
    let a = TestServer::spawn(Backend::Postgres, json!({})).await.expect("server A");
    let url = a.db_url.clone().expect("A uses a database");
    let b = TestServer::spawn_on(Backend::Postgres, json!({}), Some(url)).await.expect("server B");
    a.put("/recipe/multitenancy/app/v2", json!({"appId": "a1"})).await;
    b.core.sync_tenants().await.unwrap();
    let old = create(&a, "/appid-a1/public", "u", false, json!({}), json!({})).await;
    assert_eq!(refresh_in(&b, rt(&old)).await["status"], "OK", "B loads a1's refresh-token key");

    a.post("/recipe/multitenancy/app/remove", json!({"appId": "a1"})).await;
    a.put("/recipe/multitenancy/app/v2", json!({"appId": "a1"})).await;
    let new = create(&a, "/appid-a1/public", "u", false, json!({}), json!({})).await;
    assert_eq!(refresh_in(&b, rt(&new)).await["status"], "UNAUTHORISED", "B still has the old key");
    b.core.sync_tenants().await.unwrap();
    assert_eq!(refresh_in(&b, rt(&new)).await["status"], "OK", "after the re-sync B has the new key");
    let token = at(&refresh_in(&b, rt(&new)).await);
    let v = a
        .post(
            "/appid-a1/recipe/session/verify",
            json!({"accessToken": token, "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": true}),
        )
        .await;
    assert_eq!(v["status"], "OK", "and signs with keys A knows: {v}");
    a.stop().await;
    b.stop().await;
}

async fn refresh_in(s: &TestServer, token: String) -> Value {
    s.post(
        "/appid-a1/recipe/session/refresh",
        json!({"refreshToken": token, "enableAntiCsrf": false, "useDynamicSigningKey": true}),
    )
    .await
}
