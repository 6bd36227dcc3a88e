//! The JWT recipe over HTTP: the public JWKS (`/.well-known/jwks.json`, its Cache-Control and
//! the keys of each app) and `/recipe/jwt` (signing, claims, input rules).

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

async fn jwks_shape_and_cache_control(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let (keys, cc) = jwks(&s, "").await;
    // As the reference, which creates both when it loads an app: the first key load creates
    // the dynamic key and the static one, published before anything signs with it.
    let published = kids(&keys);
    assert_eq!(published.len(), 2, "{published:?}");
    assert_eq!(published[0], format!("d-{START_MS}"), "one dynamic key, created on first use");
    assert!(published[1].starts_with("s-") && is_uuid(&published[1][2..]), "then the static key: {published:?}");
    let k = &keys[0];
    assert_eq!(keys_of(k), set(&["kty", "kid", "n", "e", "alg", "use"]));
    assert_eq!(
        (k["kty"].as_str(), k["alg"].as_str(), k["use"].as_str(), k["e"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"), Some("AQAB"))
    );
    let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
    assert_eq!(n.len(), 256, "RSA-2048 modulus, unsigned, no padding");
    // max-age counts down to the next key creation: U - O - age = 168 h - 60 s.
    assert_eq!(max_age(&cc), 168 * 3600 - 60);
    s.clock.advance_ms(1_000_000);
    let (keys2, cc) = jwks(&s, "/public").await;
    assert_eq!(keys2, keys);
    assert_eq!(max_age(&cc), 168 * 3600 - 60 - 1000);

    // The deprecated CDI endpoint returns the same keys; the public JWKS ignores the tenant.
    let v = s.get("/recipe/jwt/jwks").await;
    assert_eq!(v, json!({"status": "OK", "keys": keys}));
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    assert_eq!(jwks(&s, "/t1").await.0, keys);
    assert_eq!(raw(&s, "GET", "/t1/recipe/jwt/jwks", None).await.0, 403, "app-specific API");
    // Apps have their own keys; concurrent first uses create one dynamic and one static key.
    s.put("/recipe/multitenancy/app/v2", json!({"appId": "other"})).await;
    let body = |dynamic: bool| json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "useDynamicSigningKey": dynamic});
    let (a, b2, c, d) = tokio::join!(
        s.post("/appid-other/recipe/session", body(true)),
        s.post("/appid-other/recipe/session", body(true)),
        s.post("/appid-other/recipe/session", body(false)),
        s.post("/appid-other/recipe/session", body(false)),
    );
    assert_eq!(kid(&at(&a)), kid(&at(&b2)));
    assert_eq!(kid(&at(&c)), kid(&at(&d)), "one static key");
    assert!(!kids(&jwks(&s, "/appid-other").await.0).contains(&published[1]), "the other app has its own static key");
    let (other, _) = jwks(&s, "/appid-other").await;
    assert_eq!(kids(&other), vec![kid(&at(&a)), kid(&at(&c))], "one dynamic key, one static key");
    assert_ne!(other[0]["n"], keys[0]["n"]);
    assert!(!verifies_with_jwks(&at(&a), &keys), "signed with the other app's key");
    s.stop().await;
}

async fn jwt_signing(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    s.clock.advance_ms(7_000);
    let now_s = (START_MS + 7_000) / 1000;
    let r = s
        .post("/recipe/jwt", json!({"payload": {"a": 1}, "algorithm": "RS256", "jwksDomain": "https://api.example.com", "validity": 100}))
        .await;
    assert_eq!(keys_of(&r), set(&["status", "jwt"]), "{r}");
    let jwt = r["jwt"].as_str().unwrap().to_string();
    let h = jwt_header(&jwt);
    assert_eq!((h["alg"].as_str(), h["typ"].as_str()), (Some("RS256"), Some("JWT")));
    let k = kid(&jwt);
    assert!(k.starts_with("s-") && is_uuid(&k[2..]), "static key by default: {k}");
    let p = jwt_payload(&jwt);
    assert_eq!(
        p,
        json!({"a": 1, "iss": "https://api.example.com", "iat": now_s, "exp": now_s + 100}),
        "iss = jwksDomain, exp = iat + validity"
    );
    let (keys, _) = jwks(&s, "").await;
    assert!(kids(&keys).contains(&k), "the static key is published");
    assert!(verifies_with_jwks(&jwt, &keys));
    assert!(!verifies_with_jwks(&tamper_signature(&jwt), &keys), "the verification helper really checks");

    // An own iss is kept; the algorithm is case-insensitive; the static key is reused.
    let r = s
        .post(
            "/recipe/jwt",
            json!({"payload": {"iss": "mine"}, "algorithm": "rs256", "jwksDomain": "d", "validity": 5}),
        )
        .await;
    let jwt2 = r["jwt"].as_str().unwrap();
    assert_eq!(jwt_payload(jwt2)["iss"], "mine");
    assert_eq!(kid(jwt2), k);

    // The current dynamic key on request.
    let r = s
        .post("/recipe/jwt", json!({"payload": {}, "algorithm": "RS256", "jwksDomain": "d", "validity": 5, "useStaticSigningKey": false}))
        .await;
    let jwt3 = r["jwt"].as_str().unwrap();
    assert!(kid(jwt3).starts_with("d-"), "{jwt3}");
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(jwt3, &keys));

    let r = s.post("/recipe/jwt", json!({"payload": {}, "algorithm": "HS256", "jwksDomain": "d", "validity": 5})).await;
    assert_eq!(r, json!({"status": "UNSUPPORTED_ALGORITHM_ERROR"}));
    let (st, _) = raw(
        &s,
        "POST",
        "/recipe/jwt",
        Some(json!({"payload": {}, "algorithm": "RS256", "jwksDomain": "d", "validity": 0})),
    )
    .await;
    assert_eq!(st, 400, "validity must be > 0");
    // Fields are checked in the reference's order: algorithm, jwksDomain, payload, validity.
    for (body, field) in [
        (json!({}), "algorithm"),
        (json!({"algorithm": "RS256"}), "jwksDomain"),
        (json!({"algorithm": "RS256", "jwksDomain": "d"}), "payload"),
        (json!({"algorithm": "RS256", "jwksDomain": "d", "payload": {}}), "validity"),
    ] {
        let (st, text) = raw(&s, "POST", "/recipe/jwt", Some(body)).await;
        assert_eq!((st, text), (400, format!("Field name '{field}' is invalid in JSON input\n")));
    }
    // The caller's iat and exp win, as its iss does.
    let r = s
        .post(
            "/recipe/jwt",
            json!({"payload": {"exp": 42, "iat": "early"}, "algorithm": "RS256", "jwksDomain": "d", "validity": 5}),
        )
        .await;
    let p = jwt_payload(r["jwt"].as_str().unwrap());
    assert_eq!(p, json!({"exp": 42, "iat": "early", "iss": "d"}));
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let (st, _) = raw(
        &s,
        "POST",
        "/t1/recipe/jwt",
        Some(json!({"payload": {}, "algorithm": "RS256", "jwksDomain": "d", "validity": 5})),
    )
    .await;
    assert_eq!(st, 403, "app-specific API");
    // Before 2.21 `useStaticSigningKey` did not exist: the static key always signs, and
    // before 5.0 the tenant segment is ignored.
    let body =
        json!({"payload": {}, "algorithm": "RS256", "jwksDomain": "d", "validity": 5, "useStaticSigningKey": false});
    for (v, path, prefix) in
        [("2.20", "/recipe/jwt", "s-"), ("2.21", "/recipe/jwt", "d-"), ("4.0", "/t1/recipe/jwt", "d-")]
    {
        let (st, text) = s.request("POST", path, Some(body.clone()), &[("cdi-version", v)]).await;
        assert_eq!(st, 200, "{v}: {text}");
        let jwt = serde_json::from_str::<Value>(&text).unwrap()["jwt"].as_str().unwrap().to_string();
        assert!(kid(&jwt).starts_with(prefix), "{v}: {jwt}");
    }
    s.stop().await;
}

st_tests::both_backends! {
    jwks_shape_and_cache_control => jwks_shape_and_cache_control;
    jwt_signing => jwt_signing;
}
