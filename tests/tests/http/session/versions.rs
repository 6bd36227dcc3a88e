//! The session APIs at every CDI version (docs/CDI_VERSIONS.md §2.2, §4, §5): the access-token
//! version by CDI (v2 below 2.21, v3 at 2.21, v4 for 3.x, v5 from 4.0), the legacy fields and
//! handshake of CDI < 2.21, the session JSON without `tenantId` (< 3.0) and `recipeUserId`
//! (< 4.0), `useDynamicSigningKey` on refresh, and CDI 5.6's refresh-time rotation, stateless
//! verify and `accessTokenValidity`. Tokens cross versions: what one SDK release was issued,
//! another verifies and refreshes.

use super::*;
use base64::engine::general_purpose::STANDARD;

/// A CDI call at version `v`, expecting 200 JSON.
async fn call(s: &TestServer, v: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, text) = s.request(method, path, body, &[("cdi-version", v)]).await;
    assert_eq!(status, 200, "{v} {method} {path} -> {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn create_at(s: &TestServer, v: &str, user: &str, jwt: Value) -> Value {
    let body = json!({"userId": user, "enableAntiCsrf": false, "userDataInJWT": jwt, "userDataInDatabase": {}});
    call(s, v, "POST", "/recipe/session", Some(body)).await
}

async fn verify_at(s: &TestServer, v: &str, token: &str, check_db: bool) -> Value {
    let body =
        json!({"accessToken": token, "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": check_db});
    call(s, v, "POST", "/recipe/session/verify", Some(body)).await
}

async fn refresh_at(s: &TestServer, v: &str, token: &str) -> Value {
    let body = json!({"refreshToken": token, "enableAntiCsrf": false, "useDynamicSigningKey": true});
    call(s, v, "POST", "/recipe/session/refresh", Some(body)).await
}

/// The two parts of a legacy token decoded (standard base64 with padding).
fn legacy_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let decode = |p: &str| serde_json::from_slice::<Value>(&STANDARD.decode(p).expect("standard base64")).unwrap();
    (decode(parts[0]), decode(parts[1]))
}

/// Does the legacy `jwtSigningPublicKey` (base64 SPKI DER) verify the token's signature, which
/// is standard base64 over the first two parts as sent?
fn legacy_signed_by(token: &str, public_key_b64: &str) -> bool {
    let key = st_core::crypto::SigningKey::parse("legacy", 0, &format!("{public_key_b64}|")).unwrap();
    let (signed, sig) = token.rsplit_once('.').unwrap();
    key.verify(signed.as_bytes(), &STANDARD.decode(sig).expect("standard base64 signature"))
}

const V2_HEADER: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0=";

/// Below 2.21: a v2 token (fixed header, standard base64, ms times, nested user data), the
/// `idRefreshToken`, the signing key to verify it with (and the list from 2.9), no `tenantId`
/// or `recipeUserId`; the token verifies at that version and at any later one.
async fn legacy_sessions_below_2_21(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for v in ["2.7", "2.8", "2.9", "2.20"] {
        // Protected names of later tokens are plain claims here (nested under userData).
        let r = create_at(&s, v, "u1", json!({"sub": "x", "rsub": 1, "a": [1]})).await;
        let mut keys = set(&["status", "session", "accessToken", "refreshToken", "idRefreshToken"]);
        keys.extend(set(&["jwtSigningPublicKey", "jwtSigningPublicKeyExpiryTime"]));
        if v != "2.7" && v != "2.8" {
            keys.insert("jwtSigningPublicKeyList".into());
        }
        assert_eq!(keys_of(&r), keys, "{v}: {r}");
        assert_eq!(keys_of(&r["session"]), set(&["handle", "userId", "userDataInJWT"]), "{v}");
        let token = at(&r);
        assert!(token.starts_with(&format!("{V2_HEADER}.")), "{v}: {token}");
        let (header, payload) = legacy_parts(&token);
        assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "version": "2"}));
        let now = START_MS;
        assert_eq!(
            payload,
            json!({"userId": "u1", "expiryTime": now + 3_600_000, "timeCreated": now, "sessionHandle": handle(&r),
                   "refreshTokenHash1": sha256_hex(&rt(&r)), "userData": {"sub": "x", "rsub": 1, "a": [1]}}),
            "{v}"
        );
        assert_eq!(r["accessToken"]["expiry"], json!(now + 3_600_000), "ms, not truncated");
        assert!(is_uuid(r["idRefreshToken"]["token"].as_str().unwrap()), "{r}");
        assert_eq!(r["idRefreshToken"]["expiry"], r["refreshToken"]["expiry"]);
        let key = r["jwtSigningPublicKey"].as_str().unwrap();
        assert!(legacy_signed_by(&token, key), "{v}: the handed-out key verifies the token");
        // The dynamic key signs until the next rotation (a time, not a duration).
        assert!(r["jwtSigningPublicKeyExpiryTime"].as_i64().unwrap() > now, "{r}");
        if let Some(list) = r["jwtSigningPublicKeyList"].as_array() {
            assert_eq!(list[0]["publicKey"], r["jwtSigningPublicKey"], "{r}");
            assert_eq!(keys_of(&list[0]), set(&["publicKey", "expiryTime", "createdAt"]));
        }

        // Verify at the same version: OK with the key fields, the session without tenant.
        let ok = verify_at(&s, v, &token, false).await;
        assert_eq!(ok["status"], "OK", "{ok}");
        assert_eq!(
            ok["session"],
            json!({"handle": handle(&r), "userId": "u1", "userDataInJWT": {"sub": "x", "rsub": 1, "a": [1]}})
        );
        assert_eq!(ok["jwtSigningPublicKey"], r["jwtSigningPublicKey"]);
        // The same token at 5.4 (an SDK upgraded while the session is live).
        let ok = verify_at(&s, "5.4", &token, true).await;
        assert_eq!(ok["status"], "OK", "{ok}");
        assert_eq!(ok["session"]["tenantId"], "public");
        assert_eq!(ok["session"]["recipeUserId"], "u1");
        assert!(ok.get("jwtSigningPublicKey").is_none());
    }
    // A tampered legacy token, or one claiming version 2 in a parsed header, is refused.
    let r = create_at(&s, "2.8", "u2", json!({})).await;
    let token = at(&r);
    let (sig_less, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{sig_less}.{}", STANDARD.encode([7u8; 256]));
    let bad = verify_at(&s, "2.8", &forged, false).await;
    assert_eq!(bad["status"], "TRY_REFRESH_TOKEN", "{bad}");
    assert!(bad["jwtSigningPublicKey"].is_string(), "TRY_REFRESH_TOKEN carries the key too: {bad}");
    let (_, payload) = legacy_parts(&token);
    let rewritten = format!(
        "{}.{}.{}",
        encode(&json!({"alg":"RS256","typ":"JWT","version":"2","kid":"x"})),
        encode(&payload),
        "AA"
    );
    assert_eq!(verify_at(&s, "5.4", &rewritten, false).await["status"], "TRY_REFRESH_TOKEN");
    // Expired: TRY_REFRESH_TOKEN; the refresh token (format unchanged) still refreshes, and a
    // newer SDK gets a token of its own version.
    s.clock.advance_ms(3_600_001);
    let expired = verify_at(&s, "2.8", &token, false).await;
    assert_eq!(expired["status"], "TRY_REFRESH_TOKEN");
    assert_eq!(expired["message"], "Access token expired", "{expired}");
    let refreshed = call(
        &s,
        "2.8",
        "POST",
        "/recipe/session/refresh",
        Some(json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": "not read below 3.0"})),
    )
    .await;
    assert_eq!(refreshed["status"], "OK", "{refreshed}");
    assert!(refreshed["idRefreshToken"].is_object(), "kept below 2.21: {refreshed}");
    assert!(refreshed.get("jwtSigningPublicKey").is_none(), "no key info in refresh responses");
    assert!(at(&refreshed).starts_with(V2_HEADER));
    let newer = refresh_at(&s, "5.4", &rt(&refreshed)).await;
    assert_eq!(jwt_header(&at(&newer))["version"], "5", "{newer}");
    s.stop().await;
}

/// The access-token version by CDI, and the session JSON by version.
async fn token_and_session_shape_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let cases = [
        (
            "2.21",
            "3",
            &["sub", "exp", "iat", "sessionHandle", "refreshTokenHash1", "parentRefreshTokenHash1", "antiCsrfToken"][..],
            &["handle", "userId", "userDataInJWT"][..],
        ),
        (
            "3.0",
            "4",
            &[
                "sub",
                "exp",
                "iat",
                "tId",
                "sessionHandle",
                "refreshTokenHash1",
                "parentRefreshTokenHash1",
                "antiCsrfToken",
            ][..],
            &["handle", "userId", "userDataInJWT", "tenantId"][..],
        ),
        (
            "3.1",
            "4",
            &[
                "sub",
                "exp",
                "iat",
                "tId",
                "sessionHandle",
                "refreshTokenHash1",
                "parentRefreshTokenHash1",
                "antiCsrfToken",
            ][..],
            &["handle", "userId", "userDataInJWT", "tenantId"][..],
        ),
        (
            "4.0",
            "5",
            &[
                "sub",
                "exp",
                "iat",
                "tId",
                "rsub",
                "sessionHandle",
                "refreshTokenHash1",
                "parentRefreshTokenHash1",
                "antiCsrfToken",
            ][..],
            &["handle", "userId", "recipeUserId", "userDataInJWT", "tenantId"][..],
        ),
    ];
    let (keys, _) = jwks(&s, "").await;
    for (v, token_version, claims, session_keys) in cases {
        let r = create_at(&s, v, "u", json!({})).await;
        assert_eq!(keys_of(&r), set(&["status", "session", "accessToken", "refreshToken"]), "{v}: {r}");
        assert_eq!(keys_of(&r["session"]), set(session_keys), "{v}");
        let token = at(&r);
        assert_eq!(jwt_header(&token)["version"], token_version, "{v}");
        assert_eq!(keys_of(&jwt_payload(&token)), set(claims), "{v}");
        let (keys2, _) = jwks(&s, "").await;
        assert!(verifies_with_jwks(&token, &keys2) || verifies_with_jwks(&token, &keys), "{v}");
        // GET /recipe/session by version.
        let info = call(&s, v, "GET", &format!("/recipe/session?sessionHandle={}", handle(&r)), None).await;
        let mut info_keys =
            set(&["status", "sessionHandle", "userId", "userDataInDatabase", "expiry", "userDataInJWT", "timeCreated"]);
        if v != "2.21" {
            info_keys.insert("tenantId".into());
        }
        if v == "4.0" {
            info_keys.insert("recipeUserId".into());
        }
        assert_eq!(keys_of(&info), info_keys, "{v}: {info}");
        // Verify and regenerate at the same version: the same session shape; regenerate
        // keeps the token's version.
        let ok = verify_at(&s, v, &token, true).await;
        assert_eq!(keys_of(&ok["session"]), set(session_keys), "{v}: {ok}");
        let g = call(
            &s,
            v,
            "POST",
            "/recipe/session/regenerate",
            Some(json!({"accessToken": token, "userDataInJWT": {"z": 1}})),
        )
        .await;
        assert_eq!(keys_of(&g["session"]), set(session_keys), "{v}: {g}");
        assert_eq!(jwt_header(&at(&g))["version"], token_version);
        // A refresh at 5.4 of a session made at v issues a v5 token (the CDI decides).
        let newer = refresh_at(&s, "5.4", &rt(&r)).await;
        assert_eq!(jwt_header(&at(&newer))["version"], "5");
        // A 5.4 token verifies at v too (verification does not depend on the CDI).
        assert_eq!(verify_at(&s, v, &at(&newer), false).await["status"], "OK");
    }
    // Theft keeps `recipeUserId` at every version, as the reference.
    let r = create_at(&s, "3.1", "u", json!({})).await;
    let child = refresh_at(&s, "3.1", &rt(&r)).await;
    refresh_at(&s, "3.1", &rt(&child)).await;
    assert_eq!(refresh_at(&s, "3.1", &rt(&r)).await, theft(&handle(&r), "u"));
    s.stop().await;
}

/// Protected claims follow the token version of the CDI: none below 2.21, `tId` free at 2.21,
/// `rsub` free for 3.x; the same for `PUT /recipe/jwt/data` and regenerate.
async fn protected_claims_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let protected = |v: &'static str, claim: &'static str| {
        let s = &s;
        async move {
            let body =
                json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {claim: 1}, "userDataInDatabase": {}});
            s.request("POST", "/recipe/session", Some(body), &[("cdi-version", v)]).await
        }
    };
    for (v, claim, refused) in [
        ("2.20", "sub", false),
        ("2.21", "sub", true),
        ("2.21", "tId", false),
        ("3.1", "tId", true),
        ("3.1", "rsub", false),
        ("4.0", "rsub", true),
    ] {
        let (st, text) = protected(v, claim).await;
        if refused {
            assert_eq!((st, text.trim_end()), (400, "The user payload contains protected field"), "{v} {claim}");
        } else {
            assert_eq!(st, 200, "{v} {claim}: {text}");
        }
    }
    let r = create_at(&s, "3.1", "u", json!({})).await;
    let put = |v: &'static str, claim: &'static str| {
        let s = &s;
        let h = handle(&r);
        async move {
            let body = json!({"sessionHandle": h, "userDataInJWT": {claim: 1}});
            s.request("PUT", "/recipe/jwt/data", Some(body), &[("cdi-version", v)]).await.0
        }
    };
    assert_eq!(put("2.20", "sub").await, 200);
    assert_eq!(put("3.1", "rsub").await, 200);
    assert_eq!(put("4.0", "rsub").await, 400);
    s.stop().await;
}

/// The handshake of CDI < 2.21, and 404 from 2.21 on.
async fn handshake_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_blacklisting": true})).await else { return };
    let h = call(&s, "2.9", "POST", "/recipe/handshake", Some(json!({}))).await;
    assert_eq!(
        keys_of(&h),
        set(&[
            "status",
            "jwtSigningPublicKey",
            "jwtSigningPublicKeyExpiryTime",
            "jwtSigningPublicKeyList",
            "accessTokenBlacklistingEnabled",
            "accessTokenValidity",
            "refreshTokenValidity"
        ]),
        "{h}"
    );
    assert_eq!(h["accessTokenBlacklistingEnabled"], true);
    assert_eq!(h["accessTokenValidity"], 3_600_000);
    assert_eq!(h["refreshTokenValidity"], json!(DEFAULT_REFRESH_MS));
    let h8 = call(&s, "2.8", "POST", "/recipe/handshake", Some(json!({}))).await;
    assert!(h8.get("jwtSigningPublicKeyList").is_none(), "the list is from 2.9: {h8}");
    assert_eq!(h8["jwtSigningPublicKey"], h["jwtSigningPublicKey"]);
    for v in ["2.21", "3.1", "5.4"] {
        let (st, text) = s.request("POST", "/recipe/handshake", Some(json!({})), &[("cdi-version", v)]).await;
        assert_eq!((st, text.as_str()), (404, "Not found\n"), "{v}");
    }
    // Below 2.21 verify's checkDatabase is the app's access_token_blacklisting: a revoked
    // session's token is refused without the SDK asking.
    let r = create_at(&s, "2.8", "u", json!({})).await;
    s.post("/recipe/session/remove", json!({"sessionHandles": [handle(&r)]})).await;
    let v = call(
        &s,
        "2.8",
        "POST",
        "/recipe/session/verify",
        Some(json!({"accessToken": at(&r), "doAntiCsrfCheck": false, "enableAntiCsrf": false})),
    )
    .await;
    assert_eq!(v["status"], "UNAUTHORISED", "{v}");
    // From 2.21 checkDatabase is required.
    let (st, text) = s
        .request(
            "POST",
            "/recipe/session/verify",
            Some(json!({"accessToken": at(&r), "doAntiCsrfCheck": false, "enableAntiCsrf": false})),
            &[("cdi-version", "2.21")],
        )
        .await;
    assert_eq!((st, text.trim_end()), (400, "Field name 'checkDatabase' is invalid in JSON input"));
    s.stop().await;
}

/// With `access_token_signing_key_dynamic: false`, sessions of CDI < 2.21 (which cannot choose)
/// sign with the static key, handed out with the reference's ten-year duration.
async fn static_key_below_2_21(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_signing_key_dynamic": false})).await else { return };
    let r = create_at(&s, "2.9", "u", json!({})).await;
    assert_eq!(r["jwtSigningPublicKeyExpiryTime"], 315_360_000_000i64, "{r}");
    let list = r["jwtSigningPublicKeyList"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["expiryTime"].as_i64().unwrap() - list[0]["createdAt"].as_i64().unwrap(), 315_360_000_000i64);
    assert!(legacy_signed_by(&at(&r), r["jwtSigningPublicKey"].as_str().unwrap()));
    // The static key is the JWKS's `s-` key.
    let (keys, _) = jwks(&s, "").await;
    let stat: Vec<&Value> = keys.iter().filter(|k| k["kid"].as_str().unwrap().starts_with("s-")).collect();
    assert_eq!(STANDARD.encode(spki_of_jwk(stat[0])), r["jwtSigningPublicKey"].as_str().unwrap());
    // From 2.21 the SDK's own choice wins.
    let v = create_at(&s, "2.21", "u", json!({})).await;
    assert!(kid(&at(&v)).starts_with("d-"), "useDynamicSigningKey defaults to true from 2.21");
    s.stop().await;
}

/// Refresh: `useDynamicSigningKey` required from 5.0, optional for 3.x/4.0 (absent: the
/// session keeps its key), not read below 3.0.
async fn refresh_use_dynamic_key_by_version(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let body = |token: String, extra: Value| {
        let mut b = json!({"refreshToken": token, "enableAntiCsrf": false});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let c = s
        .post("/recipe/session", json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "useDynamicSigningKey": false}))
        .await;
    for v in ["5.0", "5.4"] {
        let (st, text) =
            s.request("POST", "/recipe/session/refresh", Some(body(rt(&c), json!({}))), &[("cdi-version", v)]).await;
        assert_eq!((st, text.trim_end()), (400, "Field name 'useDynamicSigningKey' is invalid in JSON input"), "{v}");
    }
    for v in ["3.0", "4.0", "2.21"] {
        let r = call(&s, v, "POST", "/recipe/session/refresh", Some(body(rt(&c), json!({})))).await;
        assert_eq!(r["status"], "OK", "{v}: {r}");
        assert!(kid(&at(&r)).starts_with("s-"), "{v}: the session keeps its static key");
    }
    let r =
        call(&s, "4.0", "POST", "/recipe/session/refresh", Some(body(rt(&c), json!({"useDynamicSigningKey": true}))))
            .await;
    assert!(kid(&at(&r)).starts_with("d-"), "optional but honoured");
    s.stop().await;
}

/// Below 5.0 the app-wide APIs ignore a non-public tenant in the path; from 5.0 they refuse it.
async fn app_apis_with_a_tenant_before_5_0(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let meta = json!({"userId": "u", "metadataUpdate": {"a": 1}});
    for (v, want) in [("3.0", 200), ("4.0", 200), ("5.0", 403), ("5.4", 403)] {
        let (st, text) = s.request("PUT", "/t1/recipe/user/metadata", Some(meta.clone()), &[("cdi-version", v)]).await;
        assert_eq!(st, want, "{v}: {text}");
        let (st, _) = s.request("GET", "/t1/recipe/jwt/jwks", None, &[("cdi-version", v)]).await;
        assert_eq!(st, want, "{v} jwks");
    }
    // Stored app-wide, as through the public tenant.
    assert_eq!(s.get("/recipe/user/metadata?userId=u").await["metadata"], json!({"a": 1}));
    s.stop().await;
}

async fn create_56(s: &TestServer, user: &str, extra: Value) -> Value {
    let mut body =
        json!({"userId": user, "enableAntiCsrf": false, "userDataInJWT": {"k": 1}, "userDataInDatabase": {}});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    call(s, "5.6", "POST", "/recipe/session", Some(body)).await
}

/// CDI 5.6 refresh: every refresh rotates in the row; the previous token may rotate again
/// within the grace period; afterwards it, its other children and older tokens are reuse,
/// which revokes the session.
async fn refresh_rotation_5_6(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"refresh_token_rotation_grace_period": 30})).await else { return };
    let r1 = create_56(&s, "u", json!({})).await;
    let h = handle(&r1);
    s.clock.advance_ms(1_000);
    let r2 = refresh_at(&s, "5.6", &rt(&r1)).await;
    assert_eq!(r2["status"], "OK", "{r2}");
    let p2 = jwt_payload(&at(&r2));
    assert_eq!(p2["parentRefreshTokenHash1"], Value::Null, "a rotated token has nothing to promote");
    assert_eq!(p2["refreshTokenHash1"], sha256_hex(&rt(&r2)).as_str());
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + 1_000 + DEFAULT_REFRESH_MS), "rotated now");
    // Within the grace period the previous token rotates again (a retried request).
    s.clock.advance_ms(10_000);
    let r2b = refresh_at(&s, "5.6", &rt(&r1)).await;
    assert_eq!(r2b["status"], "OK", "{r2b}");
    // ...which displaced r2's token: reusing it is an orphaned branch? No: r2's token is
    // neither current nor the previous one, and its parent is the previous one.
    let orphan = refresh_at(&s, "5.6", &rt(&r2)).await;
    assert_eq!(orphan["status"], "TOKEN_THEFT_DETECTED", "{orphan}");
    assert_eq!(orphan["recentTokenReuseSubtype"], "ORPHANED_BRANCH");
    assert_eq!(orphan["session"], json!({"handle": h, "userId": "u", "recipeUserId": "u"}));
    assert_eq!(session_info(&s, &h).await["status"], "UNAUTHORISED", "a 5.6 reuse revokes");

    // After the grace period the previous token is RECENT_PREV.
    let r1 = create_56(&s, "u", json!({})).await;
    let r2 = refresh_at(&s, "5.6", &rt(&r1)).await;
    s.clock.advance_ms(30_001);
    let again = refresh_at(&s, "5.6", &rt(&r1)).await;
    assert_eq!(again["recentTokenReuseSubtype"], "RECENT_PREV", "{again}");
    assert_eq!(refresh_at(&s, "5.6", &rt(&r2)).await["status"], "UNAUTHORISED", "revoked: {r2}");

    // Anything older is STALE_LINEAGE.
    let r1 = create_56(&s, "u", json!({})).await;
    let r2 = refresh_at(&s, "5.6", &rt(&r1)).await;
    let r3 = refresh_at(&s, "5.6", &rt(&r2)).await;
    assert_eq!(r3["status"], "OK");
    let stale = refresh_at(&s, "5.6", &rt(&r1)).await;
    assert_eq!(stale["recentTokenReuseSubtype"], "STALE_LINEAGE", "{stale}");
    s.stop().await;

    // recent_token_reuse_behaviour: UNAUTHORISED answers recent reuse as UNAUTHORISED (still
    // revoking); stale lineage stays theft.
    let cfg = json!({"recent_token_reuse_behaviour": "UNAUTHORISED", "refresh_token_rotation_grace_period": 0});
    let Some(s) = TestServer::spawn(b, cfg).await else { return };
    let r1 = create_56(&s, "u", json!({})).await;
    let h = handle(&r1);
    refresh_at(&s, "5.6", &rt(&r1)).await;
    s.clock.advance_ms(1);
    let again = refresh_at(&s, "5.6", &rt(&r1)).await;
    assert_eq!(
        again,
        json!({"status": "UNAUTHORISED", "message": "refresh token reuse detected", "recentTokenReuseSubtype": "RECENT_PREV"})
    );
    assert_eq!(session_info(&s, &h).await["status"], "UNAUTHORISED");
    s.stop().await;
}

/// Sessions cross versions: a 5.4 child promoted, then 5.6 rotations, then a 5.4 SDK again.
async fn rotation_across_versions(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r1 = create_at(&s, "5.4", "u", json!({})).await;
    let h = handle(&r1);
    let r2 = refresh_at(&s, "5.4", &rt(&r1)).await;
    // A 5.6 refresh of the un-promoted child rotates (case 2).
    let r3 = refresh_at(&s, "5.6", &rt(&r2)).await;
    assert_eq!(r3["status"], "OK", "{r3}");
    // The 5.6 token verifies at 5.4 without promotion (nothing to promote).
    let v = verify_at(&s, "5.4", &at(&r3), true).await;
    assert_eq!(v["status"], "OK");
    assert!(v.get("accessToken").is_none(), "{v}");
    // A 5.4 SDK refreshing the current token keeps the legacy semantics.
    let r4 = refresh_at(&s, "5.4", &rt(&r3)).await;
    assert_eq!(r4["status"], "OK", "{r4}");
    // Its child's first use at 5.4 promotes (dual write); the replaced token is then the
    // previous one for a 5.6 refresh within the grace period.
    let r5 = refresh_at(&s, "5.4", &rt(&r4)).await;
    assert_eq!(r5["status"], "OK");
    assert_eq!(refresh_at(&s, "5.6", &rt(&r3)).await["status"], "OK", "r3 is the previous token, within grace");
    assert_eq!(session_info(&s, &h).await["status"], "OK");
    s.stop().await;
}

/// CDI 5.6 verify: stateless (no promotion, no new token), `payloadUpdateAvailable` with
/// `checkDatabase`, a rotated-out branch refused, public tenant only.
async fn stateless_verify_5_6(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r1 = create_at(&s, "5.4", "u", json!({"k": 1})).await;
    let h = handle(&r1);
    let r2 = refresh_at(&s, "5.4", &rt(&r1)).await;
    // The 5.4 child token has a parent hash: 5.4 would promote, 5.6 does not.
    let v = verify_at(&s, "5.6", &at(&r2), true).await;
    assert_eq!(
        v,
        json!({"status": "OK", "session": {"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {"k": 1}, "tenantId": "public"}, "payloadUpdateAvailable": false})
    );
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + DEFAULT_REFRESH_MS), "no write");
    let v = verify_at(&s, "5.6", &at(&r2), false).await;
    assert!(v.get("payloadUpdateAvailable").is_none(), "only with checkDatabase: {v}");
    // A changed payload is reported, not re-issued.
    s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"k": 2}})).await;
    let v = verify_at(&s, "5.6", &at(&r2), true).await;
    assert_eq!(v["payloadUpdateAvailable"], true, "{v}");
    assert!(v.get("accessToken").is_none());
    assert_eq!(v["session"]["userDataInJWT"], json!({"k": 1}), "from the token");
    // Two rotations later the first token's lineage is gone.
    let r3 = refresh_at(&s, "5.6", &rt(&r2)).await;
    refresh_at(&s, "5.6", &rt(&r3)).await;
    let v = verify_at(&s, "5.6", &at(&r1), true).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "rotated-out token branch; refresh required"}));
    // Public tenant only, from 5.6.
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let body =
        json!({"accessToken": at(&r3), "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": false});
    let (st, text) =
        s.request("POST", "/t1/recipe/session/verify", Some(body.clone()), &[("cdi-version", "5.6")]).await;
    assert_eq!((st, text.trim_end()), (403, "Only public tenantId can call this app specific API"));
    let (st, _) = s.request("POST", "/t1/recipe/session/verify", Some(body), &[("cdi-version", "5.5")]).await;
    assert_eq!(st, 200, "5.5 keeps the 5.4 rules");
    s.stop().await;
}

/// CDI 5.6 `accessTokenValidity`: a shorter token on create and refresh, bounds checked after
/// the refresh token; not read before 5.6.
async fn access_token_validity_5_6(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create_56(&s, "u", json!({"accessTokenValidity": 60_000})).await;
    assert_eq!(r["accessToken"]["expiry"], json!(START_MS + 60_000), "{r}");
    assert_eq!(jwt_payload(&at(&r))["exp"], json!((START_MS + 60_000) / 1000));
    let body = |validity: Value| json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "accessTokenValidity": validity});
    let msg =
        "accessTokenValidity must be greater than 0 and at most the configured access_token_validity (3600000 ms)";
    for bad in [json!(0), json!(-5), json!(3_600_001)] {
        let (st, text) = s.request("POST", "/recipe/session", Some(body(bad.clone())), &[("cdi-version", "5.6")]).await;
        assert_eq!((st, text.trim_end()), (400, msg), "{bad}");
    }
    let (st, _) = s.request("POST", "/recipe/session", Some(body(json!(0))), &[("cdi-version", "5.5")]).await;
    assert_eq!(st, 200, "not read before 5.6");
    // Refresh: applied to the rotated token; out of range is a 400 only once the token is good.
    let refresh_body = |token: &str, validity: i64| json!({"refreshToken": token, "enableAntiCsrf": false, "useDynamicSigningKey": true, "accessTokenValidity": validity});
    let r2 = call(&s, "5.6", "POST", "/recipe/session/refresh", Some(refresh_body(&rt(&r), 120_000))).await;
    assert_eq!(r2["accessToken"]["expiry"], json!(START_MS + 120_000));
    let (st, text) =
        s.request("POST", "/recipe/session/refresh", Some(refresh_body("garbage", 0)), &[("cdi-version", "5.6")]).await;
    assert_eq!(st, 200, "the bad token first: {text}");
    assert!(text.contains("UNAUTHORISED"), "{text}");
    let (st, text) =
        s.request("POST", "/recipe/session/refresh", Some(refresh_body(&rt(&r2), 0)), &[("cdi-version", "5.6")]).await;
    assert_eq!((st, text.trim_end()), (400, msg));
    s.stop().await;
}

/// A database a core older than 3.0 served: its one signing key is still in `key_value`. It
/// moves to today's tables when the app's keys load, and the v2 tokens it signed keep
/// verifying, at old and new versions.
async fn legacy_key_in_key_value_keeps_verifying(url: String) {
    let b = Backend::Postgres;
    let Some(s) = TestServer::spawn_on(b, json!({}), Some(url.clone())).await else { return };
    // Mint a v2 token with the app's current key, then put that key back into key_value as a
    // pre-3.0 core stored it (`;`-separated), with nothing in today's tables, and let a new
    // server take over the database.
    let r = create_at(&s, "2.8", "u", json!({"a": 1})).await;
    let token = at(&r);
    let public_key = r["jwtSigningPublicKey"].as_str().unwrap().to_string();
    s.stop().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT value, created_at_time FROM session_access_token_signing_keys ORDER BY created_at_time DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    let (value, created): (String, i64) = (row.get(0), row.get(1));
    client.execute("DELETE FROM session_access_token_signing_keys", &[]).await.unwrap();
    client
        .execute(
            "INSERT INTO key_value (app_id, tenant_id, name, value, created_at_time) \
             VALUES ('public', 'public', 'access_token_signing_key', $1, $2)",
            &[&value.replace('|', ";"), &created],
        )
        .await
        .unwrap();
    let s = TestServer::spawn_on(b, json!({}), Some(url)).await.unwrap();
    let v = verify_at(&s, "2.8", &token, false).await;
    assert_eq!(v["status"], "OK", "{v}");
    assert_eq!(v["session"]["userDataInJWT"], json!({"a": 1}));
    assert_eq!(verify_at(&s, "5.4", &token, false).await["status"], "OK");
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM key_value WHERE name = 'access_token_signing_key'").await, 0);
    let moved: i64 = client
        .query_one("SELECT count(*) FROM session_access_token_signing_keys WHERE created_at_time = $1", &[&created])
        .await
        .unwrap()
        .get(0);
    assert_eq!(moved, 1, "a dynamic key created when it was");
    // The session refreshes with a 5.4 SDK, and 2.8 SDKs are handed the same key meanwhile.
    assert_eq!(refresh_at(&s, "5.4", &rt(&r)).await["status"], "OK");
    let h = call(&s, "2.8", "POST", "/recipe/handshake", Some(json!({}))).await;
    assert_eq!(h["jwtSigningPublicKey"], public_key.as_str());
    s.stop().await;
}

/// On PostgreSQL only: a database that a Java core served (the in-memory store starts empty;
/// both backends' `transfer_legacy_signing_key` is in the conformance suite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_legacy_key_in_key_value_keeps_verifying() {
    let Some(url) = st_tests::fresh_database().await else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    };
    legacy_key_in_key_value_keeps_verifying(url).await;
}

/// `access_token_validity_jitter` (12.1, every CDI): fresh tokens of create and refresh live
/// between `(1 - jitter)` and all of the validity; a requested validity (5.6) is not jittered.
async fn validity_jitter(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity_jitter": 0.25})).await else { return };
    let mut lifetimes = std::collections::BTreeSet::new();
    for v in ["2.8", "3.1", "5.4", "5.6"] {
        for _ in 0..4 {
            let r = create_at(&s, v, "u", json!({})).await;
            let life = r["accessToken"]["expiry"].as_i64().unwrap() - START_MS;
            assert!((2_700_000..=3_600_000).contains(&life), "{v}: {life}");
            lifetimes.insert(life);
            let r2 = refresh_at(&s, v, &rt(&r)).await;
            let life = r2["accessToken"]["expiry"].as_i64().unwrap() - START_MS;
            assert!((2_700_000..=3_600_000).contains(&life), "{v} refresh: {life}");
            lifetimes.insert(life);
        }
    }
    assert!(lifetimes.len() > 8, "random: {lifetimes:?}");
    let r = create_56(&s, "u", json!({"accessTokenValidity": 60_000})).await;
    assert_eq!(r["accessToken"]["expiry"], json!(START_MS + 60_000), "a requested validity is exact");
    s.stop().await;
}

st_tests::both_backends! {
    validity_jitter => validity_jitter;
    legacy_sessions_below_2_21 => legacy_sessions_below_2_21;
    token_and_session_shape_by_version => token_and_session_shape_by_version;
    protected_claims_by_version => protected_claims_by_version;
    handshake_by_version => handshake_by_version;
    static_key_below_2_21 => static_key_below_2_21;
    refresh_use_dynamic_key_by_version => refresh_use_dynamic_key_by_version;
    app_apis_with_a_tenant_before_5_0 => app_apis_with_a_tenant_before_5_0;
    refresh_rotation_5_6 => refresh_rotation_5_6;
    rotation_across_versions => rotation_across_versions;
    stateless_verify_5_6 => stateless_verify_5_6;
    access_token_validity_5_6 => access_token_validity_5_6;
}
