//! Session creation: the response shape, the JWT header and its exact claims, anti-CSRF, the
//! static key, and the claims a user payload may not set.

use super::*;

async fn create_shape_and_claims(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "user-1", false, json!({"role": "admin", "n": 1}), json!({"k": "v"})).await;
    assert_eq!(keys_of(&r), set(&["status", "session", "accessToken", "refreshToken"]), "{r}");
    let h = handle(&r);
    assert!(is_uuid(&h), "public-tenant handle is a bare UUID: {h}");
    assert_eq!(
        r["session"],
        json!({"handle": h, "userId": "user-1", "recipeUserId": "user-1", "userDataInJWT": {"role": "admin", "n": 1}, "tenantId": "public"})
    );
    assert_eq!(keys_of(&r["accessToken"]), set(&["token", "expiry", "createdTime"]));
    assert_eq!(keys_of(&r["refreshToken"]), set(&["token", "expiry", "createdTime"]));

    let token = at(&r);
    let header = jwt_header(&token);
    assert_eq!(keys_of(&header), set(&["alg", "kid", "typ", "version"]), "{header}");
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str(), header["version"].as_str()),
        (Some("RS256"), Some("JWT"), Some("5"))
    );
    assert_eq!(header["kid"], format!("d-{START_MS}"), "dynamic kid is d-<creation ms>; the first key is made now");

    let p = jwt_payload(&token);
    assert_eq!(
        keys_of(&p),
        set(&[
            "sub",
            "rsub",
            "tId",
            "sessionHandle",
            "refreshTokenHash1",
            "parentRefreshTokenHash1",
            "antiCsrfToken",
            "iat",
            "exp",
            "role",
            "n"
        ]),
        "{p}"
    );
    assert!(p["parentRefreshTokenHash1"].is_null() && p["antiCsrfToken"].is_null(), "explicit nulls: {p}");
    assert_eq!(
        (p["sub"].as_str(), p["rsub"].as_str(), p["tId"].as_str()),
        (Some("user-1"), Some("user-1"), Some("public"))
    );
    assert_eq!(p["sessionHandle"], h.as_str());
    assert_eq!(p["refreshTokenHash1"], sha256_hex(&rt(&r)).as_str());
    assert_eq!((p["role"].as_str(), p["n"].as_i64()), (Some("admin"), Some(1)));
    let (iat, exp) = (p["iat"].as_i64().unwrap(), p["exp"].as_i64().unwrap());
    assert_eq!(iat, START_MS / 1000, "iat in seconds");
    assert!((3420..=3600).contains(&(exp - iat)), "exp = iat + access_token_validity (jitter ≤ 5%): {}", exp - iat);
    assert_eq!(r["accessToken"]["expiry"], json!(exp * 1000));
    assert_eq!(r["accessToken"]["createdTime"], json!(iat * 1000));
    assert_eq!(r["refreshToken"]["createdTime"], json!(START_MS));
    assert_eq!(r["refreshToken"]["expiry"], json!(START_MS + DEFAULT_REFRESH_MS));
    let rtok = rt(&r);
    assert!(rtok.ends_with(".V2") && rtok.split('.').count() == 3, "refresh token format <enc>.<nonce>.V2: {rtok}");

    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&token, &keys), "access token verifies with the published key");

    // Anti-CSRF on: a UUID in the response and the claim.
    let r = create(&s, "", "user-1", true, json!({}), json!({})).await;
    assert_eq!(keys_of(&r), set(&["status", "session", "accessToken", "refreshToken", "antiCsrfToken"]));
    let anti = r["antiCsrfToken"].as_str().unwrap();
    assert!(is_uuid(anti), "{anti}");
    assert_eq!(jwt_payload(&at(&r))["antiCsrfToken"], anti);

    // Static key: kid s-<uuid>, published in the JWKS, and verify accepts it.
    let r = s
        .post(
            "/recipe/session",
            json!({"userId": "user-2", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "useDynamicSigningKey": false}),
        )
        .await;
    assert_eq!(r["status"], "OK");
    let static_token = at(&r);
    let k = kid(&static_token);
    assert!(k.starts_with("s-") && is_uuid(&k[2..]), "static kid s-<uuid>: {k}");
    let (keys, _) = jwks(&s, "").await;
    assert_eq!(kids(&keys), vec![format!("d-{START_MS}"), k.clone()], "dynamic keys first, then the static key");
    assert!(verifies_with_jwks(&static_token, &keys));
    let v = verify(&s, &static_token, true).await;
    assert_eq!(v["status"], "OK", "{v}");
    // The static key is created once.
    let r2 = s
        .post(
            "/recipe/session",
            json!({"userId": "user-2", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "useDynamicSigningKey": false}),
        )
        .await;
    assert_eq!(kid(&at(&r2)), k);
    s.stop().await;
}

async fn protected_claims_rejected(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    // The reference's list, written out here on purpose (not the server's constant), so that a
    // claim dropped from the server's list fails this test.
    for claim in [
        "sub",
        "exp",
        "iat",
        "sessionHandle",
        "refreshTokenHash1",
        "parentRefreshTokenHash1",
        "antiCsrfToken",
        "tId",
        "rsub",
    ] {
        let body = json!({"userId": "u-prot", "enableAntiCsrf": false, "userDataInJWT": {claim: "x"}, "userDataInDatabase": {}});
        let (st, text) = raw(&s, "POST", "/recipe/session", Some(body)).await;
        assert_eq!((st, text.as_str()), (400, "The user payload contains protected field\n"), "claim {claim}");
    }
    let v = s.get("/recipe/session/user?userId=u-prot").await;
    assert_eq!(v["sessionHandles"], json!([]), "no session was created");
    // A protected name nested deeper is fine.
    create(&s, "", "u-prot", false, json!({"inner": {"sub": "x"}}), json!({})).await;
    s.stop().await;
}

st_tests::both_backends! {
    create_shape_and_claims => create_shape_and_claims;
    protected_claims_rejected => protected_claims_rejected;
}
