//! Session and JWT recipes over HTTP with CDI 5.4 semantics (reference notes §a.3, §a.4, §c, §i):
//! create (response shape, JWT header and exact claims), verify (signature, expiry, anti-csrf,
//! `checkDatabase`, verify-time promotion), refresh (lazy promotion and token-theft detection
//! exactly where the reference raises it, concurrency, expiry, tenants), regenerate, session
//! reads/removal/data, JWKS and `/recipe/jwt`, signing-key rotation driven by the fake clock, and
//! (PostgreSQL only) two server instances sharing one database.
//!
//! Every JWT the server mints is also checked against the public JWKS: the JWK's `n`/`e` are
//! turned into an SPKI public key and the RS256 signature is verified with it.

mod common;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::{jwt_header, jwt_payload, Backend, TestServer, START_MS};
use serde_json::{json, Value};
use st_core::random::sha256_hex;
use std::collections::BTreeSet;

const H: [(&str, &str); 1] = [("cdi-version", "5.4")];
/// Default `refresh_token_validity` (144000 minutes) in ms.
const DEFAULT_REFRESH_MS: i64 = 144_000 * 60_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn create(s: &TestServer, prefix: &str, user: &str, anti_csrf: bool, jwt: Value, db: Value) -> Value {
    let r = s
        .post(
            &format!("{prefix}/recipe/session"),
            json!({"userId": user, "enableAntiCsrf": anti_csrf, "userDataInJWT": jwt, "userDataInDatabase": db}),
        )
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

async fn new_session(s: &TestServer, user: &str) -> Value {
    create(s, "", user, false, json!({}), json!({})).await
}

async fn verify(s: &TestServer, access_token: &str, check_db: bool) -> Value {
    s.post(
        "/recipe/session/verify",
        json!({"accessToken": access_token, "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": check_db}),
    )
    .await
}

async fn refresh(s: &TestServer, refresh_token: &str) -> Value {
    s.post(
        "/recipe/session/refresh",
        json!({"refreshToken": refresh_token, "enableAntiCsrf": false, "useDynamicSigningKey": true}),
    )
    .await
}

async fn session_info(s: &TestServer, handle: &str) -> Value {
    s.get(&format!("/recipe/session?sessionHandle={handle}")).await
}

/// A CDI request that may fail; returns (status, body).
async fn raw(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    s.request(method, path, body, &H).await
}

fn at(r: &Value) -> String {
    r["accessToken"]["token"].as_str().unwrap_or_else(|| panic!("no accessToken in {r}")).to_string()
}

fn rt(r: &Value) -> String {
    r["refreshToken"]["token"].as_str().unwrap_or_else(|| panic!("no refreshToken in {r}")).to_string()
}

fn handle(r: &Value) -> String {
    r["session"]["handle"].as_str().unwrap().to_string()
}

fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn str_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

fn theft(handle: &str, user: &str) -> Value {
    json!({"status": "TOKEN_THEFT_DETECTED", "session": {"handle": handle, "userId": user, "recipeUserId": user}})
}

/// Replace one character in the middle of the signature (never a padding-only position).
fn tamper_signature(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mid = sig.len() / 2;
    let c = sig.as_bytes()[mid];
    let replacement = if c == b'A' { 'B' } else { 'A' };
    format!("{head}.{}{replacement}{}", &sig[..mid], &sig[mid + 1..])
}

fn encode(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn with_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], encode(payload), parts[2])
}

fn with_header(token: &str, header: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", encode(header), parts[1], parts[2])
}

/// GET the public JWKS: (keys, Cache-Control header).
async fn jwks(s: &TestServer, prefix: &str) -> (Vec<Value>, String) {
    let resp = s.client.get(format!("{}{prefix}/.well-known/jwks.json", s.url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cc = resp.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(keys_of(&body), set(&["keys"]), "JWKS has no status field: {body}");
    (body["keys"].as_array().unwrap().clone(), cc)
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// The published dynamic keys (`d-…`), leaving out the app's static key.
fn dynamic_kids(keys: &[Value]) -> Vec<String> {
    kids(keys).into_iter().filter(|k| k.starts_with("d-")).collect()
}

fn max_age(cache_control: &str) -> i64 {
    let rest = cache_control.strip_prefix("max-age=").unwrap_or_else(|| panic!("bad Cache-Control {cache_control:?}"));
    let (n, tail) = rest.split_once(',').unwrap_or_else(|| panic!("bad Cache-Control {cache_control:?}"));
    assert_eq!(tail, " must-revalidate", "Cache-Control {cache_control:?}");
    n.parse().unwrap()
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 128 {
        v.push(n as u8);
    } else if n < 256 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(body);
    v
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len() - 1);
    let mut body = Vec::new();
    if bytes[first] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(&bytes[first..]);
    der(0x02, &body)
}

/// SubjectPublicKeyInfo DER of an RSA JWK.
fn spki_of_jwk(jwk: &Value) -> Vec<u8> {
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).expect("n is base64url without padding");
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).expect("e is base64url without padding");
    let rsa = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
    let alg: [u8; 15] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0u8];
    bits.extend(rsa);
    der(0x30, &[alg.to_vec(), der(0x03, &bits)].concat())
}

/// Does `token` carry a valid RS256 signature by `jwk`?
fn signed_by(token: &str, jwk: &Value) -> bool {
    let stored = format!("{}|", STANDARD.encode(spki_of_jwk(jwk)));
    let key = st_core::crypto::SigningKey::parse("jwk", 0, &stored).expect("JWKS key is a valid RSA public key");
    let parsed = st_core::crypto::parse_jwt(token).expect("token is a JWS");
    key.verify(parsed.signed.as_bytes(), &parsed.signature)
}

/// The token's kid is published in `keys` and that key verifies its signature.
fn verifies_with_jwks(token: &str, keys: &[Value]) -> bool {
    let kid = jwt_header(token)["kid"].as_str().unwrap().to_string();
    match keys.iter().find(|k| k["kid"] == kid.as_str()) {
        Some(jwk) => signed_by(token, jwk),
        None => false,
    }
}

fn kid(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

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

async fn tenant_sessions(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await["status"], "OK");
    let r = create(&s, "/t1", "u", false, json!({}), json!({})).await;
    let h = handle(&r);
    let (uuid, suffix) = h.split_once('_').expect("non-public handle is <uuid>_<tenant>");
    assert!(is_uuid(uuid) && suffix == "t1", "{h}");
    assert_eq!(r["session"]["tenantId"], "t1");
    assert_eq!(jwt_payload(&at(&r))["tId"], "t1");

    // Verify, refresh, read through the public path: the token's / handle's tenant is used.
    let v = verify(&s, &at(&r), true).await;
    assert_eq!((v["status"].as_str(), v["session"]["tenantId"].as_str()), (Some("OK"), Some("t1")), "{v}");
    let r2 = s
        .post(
            "/public/recipe/session/refresh",
            json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(r2["status"], "OK", "{r2}");
    assert_eq!((r2["session"]["handle"].as_str(), r2["session"]["tenantId"].as_str()), (Some(h.as_str()), Some("t1")));
    assert_eq!(jwt_payload(&at(&r2))["tId"], "t1");
    assert_eq!(session_info(&s, &h).await["tenantId"], "t1");
    let r3 = s
        .post(
            "/t1/recipe/session/refresh",
            json!({"refreshToken": rt(&r2), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(r3["session"]["tenantId"], "t1", "{r3}");

    // A public session refreshed through /t1 stays public.
    let p = new_session(&s, "u").await;
    let p2 = s
        .post(
            "/t1/recipe/session/refresh",
            json!({"refreshToken": rt(&p), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!((p2["status"].as_str(), p2["session"]["tenantId"].as_str()), (Some("OK"), Some("public")), "{p2}");

    // The path tenant must exist.
    let (st, _) = raw(
        &s,
        "POST",
        "/nope/recipe/session/refresh",
        Some(json!({"refreshToken": rt(&p2), "enableAntiCsrf": false, "useDynamicSigningKey": true})),
    )
    .await;
    assert_eq!(st, 400);

    // Query flags as the reference reads them: exactly "true" in any case, the first of repeats.
    let handles = |q: &'static str| {
        let s = &s;
        async move { str_set(&s.get(&format!("/recipe/session/user?userId=u{q}")).await["sessionHandles"]) }
    };
    let everywhere = set(&[h.as_str(), handle(&p).as_str()]);
    let public_only = set(&[handle(&p).as_str()]);
    assert_eq!(handles("").await, everywhere);
    assert_eq!(handles("&fetchAcrossAllTenants=TRUE").await, everywhere);
    assert_eq!(handles("&fetchAcrossAllTenants=%20true").await, public_only);
    assert_eq!(handles("&fetchAcrossAllTenants=false&fetchAcrossAllTenants=true").await, public_only);
    s.stop().await;
}

/// A session whose tenant is gone (or whose handle names no tenant) is the reference's 400
/// `AppId or tenantId not found`, not UNAUTHORISED: its storage lookup for that tenant fails.
async fn sessions_of_a_deleted_tenant(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    assert_eq!(s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await["status"], "OK");
    let r = create(&s, "/t1", "u", false, json!({}), json!({})).await;
    let h = handle(&r);
    let public = handle(&new_session(&s, "u").await);
    let gone = s.post("/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await;
    assert_eq!(gone["status"], "OK", "{gone}");

    let t1_missing = "AppId or tenantId not found => Tenant with the following connectionURIDomain, appId and \
                      tenantId combination not found: (, public, t1)\n";
    let refresh_body = json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": true});
    let verify_body = |check: bool| json!({"accessToken": at(&r), "enableAntiCsrf": false, "doAntiCsrfCheck": false, "checkDatabase": check});
    let mut wrong = Vec::new();
    for (method, path, body) in [
        ("POST", "/recipe/session/verify".to_string(), Some(verify_body(false))),
        ("POST", "/recipe/session/verify".to_string(), Some(verify_body(true))),
        ("POST", "/recipe/session/refresh".to_string(), Some(refresh_body)),
        ("POST", "/recipe/session/regenerate".to_string(), Some(json!({"accessToken": at(&r)}))),
        ("GET", format!("/recipe/session?sessionHandle={h}"), None),
        ("GET", format!("/recipe/session/data?sessionHandle={h}"), None),
        ("PUT", "/recipe/session/data".to_string(), Some(json!({"sessionHandle": h, "userDataInDatabase": {}}))),
        ("GET", format!("/recipe/jwt/data?sessionHandle={h}"), None),
        // The tenant is looked up before the payload is checked.
        ("PUT", "/recipe/jwt/data".to_string(), Some(json!({"sessionHandle": h, "userDataInJWT": {"sub": "x"}}))),
        ("POST", "/recipe/session/remove".to_string(), Some(json!({"sessionHandles": [public, h]}))),
    ] {
        let (st, text) = raw(&s, method, &path, body).await;
        if (st, text.as_str()) != (400, t1_missing) {
            wrong.push(format!("{method} {path}: {st} {text:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(session_info(&s, &public).await["status"], "OK", "a refused removal revokes nothing");

    // The handle's tenant is its second `_` part, lower-cased; trailing empty parts do not count.
    let uuid = public.clone();
    let (st, text) = raw(&s, "GET", &format!("/recipe/session?sessionHandle={uuid}_Ghost_x"), None).await;
    assert_eq!((st, text.as_str()), (400, t1_missing.replace("t1)", "ghost)").as_str()));
    let (st, text) = raw(&s, "GET", &format!("/recipe/session?sessionHandle={uuid}_Bad%21"), None).await;
    assert_eq!((st, text.as_str()), (400, t1_missing.replace("t1)", "bad!)").as_str()));
    assert_eq!(session_info(&s, &format!("{uuid}__")).await["status"], "UNAUTHORISED", "public: no such handle");

    // An access token of the deleted tenant that has expired is TRY_REFRESH_TOKEN first.
    s.clock.advance_ms(3_600_001);
    let (st, text) = raw(&s, "POST", "/recipe/session/verify", Some(verify_body(false))).await;
    assert_eq!(st, 200);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["status"], "TRY_REFRESH_TOKEN", "{text}");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Verify
// ---------------------------------------------------------------------------------------------

async fn verify_basics(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", false, json!({"a": 1}), json!({})).await;
    let h = handle(&r);
    let expected = json!({"status": "OK", "session": {"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {"a": 1}, "tenantId": "public"}});
    assert_eq!(verify(&s, &at(&r), false).await, expected, "no new token for a parent-less token");
    assert_eq!(verify(&s, &at(&r), true).await, expected);

    // Revoked: stateless verify still passes, checkDatabase does not.
    let rm = s.post("/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    assert_eq!(rm["sessionHandlesRevoked"], json!([h]));
    assert_eq!(verify(&s, &at(&r), false).await["status"], "OK");
    let v = verify(&s, &at(&r), true).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Either the session has ended or has been blacklisted"}));
    s.stop().await;
}

async fn expired_session_with_live_access_token(b: Backend) {
    // Test mode allows a refresh validity (1 min) shorter than the access validity (1 h).
    let Some(s) = TestServer::spawn(b, json!({"refresh_token_validity": 1})).await else { return };
    let r = create(&s, "", "u", false, json!({"a": 1}), json!({})).await;
    s.clock.advance_ms(60_001);
    assert_eq!(session_info(&s, &handle(&r)).await["status"], "UNAUTHORISED", "the session has expired");
    // checkDatabase only asks whether the row exists, not whether it expired.
    assert_eq!(verify(&s, &at(&r), true).await["status"], "OK");
    // Regenerate reads the session and refuses an expired one.
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at(&r), "userDataInJWT": {"b": 2}})).await;
    assert_eq!(g["status"], "UNAUTHORISED", "{g}");
    assert_eq!(refresh(&s, &rt(&r)).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn verify_anti_csrf(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", true, json!({}), json!({})).await;
    let anti = r["antiCsrfToken"].as_str().unwrap().to_string();
    let call = |anti: Option<&str>, enable: bool, check: bool| {
        let mut body =
            json!({"accessToken": at(&r), "doAntiCsrfCheck": check, "enableAntiCsrf": enable, "checkDatabase": false});
        if let Some(a) = anti {
            body["antiCsrfToken"] = json!(a);
        }
        s.post("/recipe/session/verify", body)
    };
    assert_eq!(call(Some("wrong"), true, true).await["status"], "TRY_REFRESH_TOKEN");
    assert_eq!(call(None, true, true).await["status"], "TRY_REFRESH_TOKEN");
    assert_eq!(call(Some(&anti), true, true).await["status"], "OK");
    assert_eq!(call(Some("wrong"), true, false).await["status"], "OK", "doAntiCsrfCheck=false skips the check");
    assert_eq!(call(Some("wrong"), false, true).await["status"], "OK", "enableAntiCsrf=false skips the check");
    assert_eq!(call(Some("wrong"), true, true).await["message"], "anti-csrf check failed");
    // A token created without anti-CSRF, verified with the check: its claim is null, which the
    // reference reports as an incomplete token.
    let plain = create(&s, "", "u2", false, json!({}), json!({})).await;
    let v = s
        .post(
            "/recipe/session/verify",
            json!({"accessToken": at(&plain), "antiCsrfToken": "x", "doAntiCsrfCheck": true, "enableAntiCsrf": true, "checkDatabase": false}),
        )
        .await;
    assert_eq!(v["status"], "TRY_REFRESH_TOKEN", "{v}");
    assert_eq!(v["message"], "Access token does not contain all the information. Maybe the structure has changed?");
    s.stop().await;
}

async fn verify_expiry_boundary(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60})).await else { return };
    let r = new_session(&s, "u").await;
    let exp_ms = jwt_payload(&at(&r))["exp"].as_i64().unwrap() * 1000;
    s.clock.advance_ms(exp_ms - START_MS);
    assert_eq!(verify(&s, &at(&r), false).await["status"], "OK", "exp*1000 == now is still valid");
    s.clock.advance_ms(1);
    let v = verify(&s, &at(&r), false).await;
    assert_eq!(v["status"], "TRY_REFRESH_TOKEN", "{v}");
    assert!(v["message"].is_string());
    assert_eq!(verify(&s, &at(&r), true).await["status"], "TRY_REFRESH_TOKEN");
    s.stop().await;
}

async fn verify_rejects_tampering(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = new_session(&s, "u").await;
    let token = at(&r);
    assert_eq!(verify(&s, &tamper_signature(&token), false).await["status"], "TRY_REFRESH_TOKEN");
    let mut p = jwt_payload(&token);
    p["sub"] = json!("someone-else");
    assert_eq!(verify(&s, &with_payload(&token, &p), false).await["status"], "TRY_REFRESH_TOKEN", "payload changed");
    let mut h = jwt_header(&token);
    h["kid"] = json!("d-1");
    assert_eq!(verify(&s, &with_header(&token, &h), false).await["status"], "TRY_REFRESH_TOKEN", "unknown kid");
    let mut h = jwt_header(&token);
    h["alg"] = json!("HS256");
    assert_eq!(verify(&s, &with_header(&token, &h), false).await["status"], "TRY_REFRESH_TOKEN", "alg must be RS256");
    assert_eq!(verify(&s, "not-a-jwt", false).await["status"], "TRY_REFRESH_TOKEN");
    // Each header field is checked in the reference's order, with its message: absent or not a
    // primitive is "missing", a wrong type or value a "mismatch".
    let cases = [
        ("typ", None, "JWT header missing - typ"),
        ("typ", Some(json!(null)), "JWT header missing - typ"),
        ("typ", Some(json!("jwt")), "JWT header mismatch - typ"),
        ("alg", Some(json!(["RS256"])), "JWT header missing - alg"),
        ("alg", Some(json!("HS256")), "JWT header mismatch - alg"),
        ("version", Some(json!(5)), "JWT header mismatch - version"),
        ("version", Some(json!("2")), "JWT header mismatch - version"),
        ("version", Some(json!("6")), "JWT header mismatch - version"),
        ("version", Some(json!(null)), "JWT header mismatch - version"),
        ("kid", None, "JWT header missing - kid"),
        ("kid", Some(json!(7)), "JWT header mismatch - kid"),
    ];
    // An unknown version string is judged after `kid`; "1" and "2" before it.
    let mut h = jwt_header(&token);
    h["version"] = json!("6");
    h.as_object_mut().unwrap().remove("kid");
    let v = verify(&s, &with_header(&token, &h), false).await;
    assert_eq!(v["message"], "JWT header missing - kid", "{h}");
    h["version"] = json!("2");
    let v = verify(&s, &with_header(&token, &h), false).await;
    assert_eq!(v["message"], "JWT header mismatch - version", "{h}");
    for (field, value, message) in cases {
        let mut h = jwt_header(&token);
        match value {
            Some(v) => h[field] = v,
            None => drop(h.as_object_mut().unwrap().remove(field)),
        }
        // typ and alg come first: a bad typ is reported even when alg is bad too.
        if field == "typ" {
            h["alg"] = json!("none");
        }
        let v = verify(&s, &with_header(&token, &h), false).await;
        assert_eq!(v, json!({"status": "TRY_REFRESH_TOKEN", "message": message}), "{field}: {h}");
    }
    // A token of another session signed correctly still verifies: the checks above were real.
    assert_eq!(verify(&s, &token, false).await["status"], "OK");
    s.stop().await;
}

async fn verify_picks_up_payload_change(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", false, json!({"role": "user"}), json!({})).await;
    let h = handle(&r);
    let old = at(&r);
    let put =
        s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"role": "admin", "x": [1]}})).await;
    assert_eq!(put, json!({"status": "OK"}));
    // The DB copy changed, the token did not; stateless verify knows nothing.
    let v = verify(&s, &old, false).await;
    assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "{v}");
    assert_eq!(v["session"]["userDataInJWT"], json!({"role": "user"}));

    s.clock.advance_ms(5_000);
    let v = verify(&s, &old, true).await;
    assert_eq!(v["status"], "OK", "{v}");
    assert_eq!(v["session"]["userDataInJWT"], json!({"role": "admin", "x": [1]}));
    let new = at(&v);
    let p = jwt_payload(&new);
    let po = jwt_payload(&old);
    assert_eq!((p["role"].as_str(), &p["x"]), (Some("admin"), &json!([1])));
    assert!(p["parentRefreshTokenHash1"].is_null());
    assert_eq!((&p["sessionHandle"], &p["refreshTokenHash1"]), (&po["sessionHandle"], &po["refreshTokenHash1"]));
    let iat = (START_MS + 5_000) / 1000;
    assert_eq!((p["iat"].as_i64(), p["exp"].as_i64()), (Some(iat), Some(iat + 3600)), "verify mints now + validity");
    assert_eq!(v["accessToken"]["expiry"], json!((iat + 3600) * 1000));
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&new, &keys));
    // The new token is up to date: no further token.
    let v2 = verify(&s, &new, true).await;
    assert_eq!((v2["status"].as_str(), v2.get("accessToken")), (Some("OK"), None), "{v2}");
    s.stop().await;
}

/// A user's `aud` claim is written as the reference's JWT library writes it (one string bare,
/// non-strings dropped, nothing left removes it), in access tokens and in `/recipe/jwt`. The
/// stored payload keeps what was given, and a database verify does not take that difference
/// for a change (no new token on every call).
async fn aud_claim_as_signed(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let cases = [
        (json!(["api"]), Some(json!("api"))),
        (json!(["a", 1, "b", null]), Some(json!(["a", "b"]))),
        (json!([]), None),
        (json!([2]), None),
        (json!(7), None),
        (json!(null), None),
        (json!({"x": 1}), None),
        (json!("plain"), Some(json!("plain"))),
    ];
    for (i, (given, written)) in cases.iter().enumerate() {
        let r = create(&s, "", &format!("aud-{i}"), false, json!({"aud": given, "k": i}), json!({})).await;
        let p = jwt_payload(&at(&r));
        assert_eq!(p.get("aud"), written.as_ref(), "access token, aud {given}");
        assert_eq!(p["k"], json!(i));
        let info = session_info(&s, &handle(&r)).await;
        assert_eq!(info["userDataInJWT"]["aud"], *given, "stored as given");
        let v = verify(&s, &at(&r), true).await;
        assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "aud {given}: {v}");

        let j = s
            .post(
                "/recipe/jwt",
                json!({"payload": {"aud": given}, "algorithm": "RS256", "jwksDomain": "d", "validity": 60}),
            )
            .await;
        assert_eq!(j["status"], "OK", "{j}");
        assert_eq!(jwt_payload(j["jwt"].as_str().unwrap()).get("aud"), written.as_ref(), "/recipe/jwt, aud {given}");
    }
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Refresh: lazy promotion and theft detection (§c.5, §c.6, §h.1)
// ---------------------------------------------------------------------------------------------

async fn refresh_parent_reuse_child_promotion_and_theft(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r1 = new_session(&s, "u").await;
    let h = handle(&r1);
    let rt1 = rt(&r1);

    // (a) RT1 -> RT2; the row is not touched (expiry unchanged).
    s.clock.advance_ms(1_000);
    let r2 = refresh(&s, &rt1).await;
    assert_eq!(keys_of(&r2), set(&["status", "session", "accessToken", "refreshToken"]), "{r2}");
    assert_eq!(
        r2["session"],
        json!({"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {}, "tenantId": "public"})
    );
    let rt2 = rt(&r2);
    assert_ne!(rt2, rt1);
    let p2 = jwt_payload(&at(&r2));
    assert_eq!(p2["parentRefreshTokenHash1"], sha256_hex(&rt1).as_str());
    assert_eq!(p2["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(r2["refreshToken"]["expiry"], json!(START_MS + 1_000 + DEFAULT_REFRESH_MS));
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + DEFAULT_REFRESH_MS), "no promotion yet");

    // RT1 again: still the current parent, not theft.
    s.clock.advance_ms(1_000);
    let r2b = refresh(&s, &rt1).await;
    assert_eq!(r2b["status"], "OK", "refreshing the parent twice is allowed: {r2b}");
    let rt2b = rt(&r2b);
    assert_ne!(rt2b, rt2);
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + DEFAULT_REFRESH_MS));

    // (b) RT2 (child) promotes: the row now points at RT2 and the expiry slides.
    s.clock.advance_ms(1_000);
    let r3 = refresh(&s, &rt2).await;
    assert_eq!(r3["status"], "OK", "{r3}");
    let rt3 = rt(&r3);
    assert_eq!(jwt_payload(&at(&r3))["parentRefreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + 3_000 + DEFAULT_REFRESH_MS), "promotion");

    // The old parent and its other child are now theft; the core does not revoke.
    assert_eq!(refresh(&s, &rt1).await, theft(&h, "u"));
    assert_eq!(refresh(&s, &rt2b).await, theft(&h, "u"));
    assert_eq!(session_info(&s, &h).await["status"], "OK", "TOKEN_THEFT_DETECTED does not revoke on CDI 5.4");

    // The promoted lineage continues: RT3 (child of RT2) promotes, after which RT2 is stale.
    assert_eq!(refresh(&s, &rt3).await["status"], "OK");
    assert_eq!(refresh(&s, &rt2).await, theft(&h, "u"));
    s.stop().await;
}

/// Create and every successful refresh record the user as active; a refresh that fails (theft,
/// unknown token) does not.
async fn refresh_records_activity(b: Backend) {
    // Activity writes are throttled per user for five minutes, as in the reference's 12.x core
    // (`st_core::activity`); the fake clock crosses the window.
    let window = st_core::activity::THROTTLE_MS;
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let active_since = |t: i64| {
        let s = &s;
        async move { s.get(&format!("/users/count/active?since={t}")).await["count"].clone() }
    };
    let r1 = new_session(&s, "u").await;
    let h = handle(&r1);
    assert_eq!(active_since(START_MS).await, 1, "create");
    s.clock.advance_ms(10_000);
    let r2 = refresh(&s, &rt(&r1)).await;
    assert_eq!(r2["status"], "OK");
    assert_eq!(active_since(START_MS + 5_000).await, 0, "within the creation's window: not written again");
    s.clock.advance_ms(window);
    let t3 = START_MS + 10_000 + window;
    let r3 = refresh(&s, &rt(&r2)).await;
    assert_eq!(r3["status"], "OK");
    assert_eq!(active_since(t3).await, 1, "after the window: the refresh (child token, promotion) is written");
    s.clock.advance_ms(10_000);
    assert_eq!(refresh(&s, &rt(&r3)).await["status"], "OK");
    assert_eq!(active_since(t3 + 1).await, 0, "within the window of the last write");
    s.clock.advance_ms(window);
    assert_eq!(refresh(&s, &rt(&r1)).await, theft(&h, "u"));
    assert_eq!(active_since(t3 + 1).await, 0, "a theft attempt is not activity");
    let r4 = refresh(&s, &rt(&r3)).await;
    assert_eq!(r4["status"], "OK", "{r4}");
    assert_eq!(active_since(t3 + 1).await, 1, "the parent token again, after the window");
    // Revoking a user's sessions counts as activity too, as in the reference.
    s.clock.advance_ms(window);
    s.post("/recipe/session/remove", json!({"userId": "u"})).await;
    let t5 = t3 + 10_000 + 2 * window;
    assert_eq!(active_since(t5).await, 1);
    // Session creation is throttled the same way (the reference's `SessionAPI` calls the same
    // throttled update): a new session within the window does not write, one after it does.
    s.clock.advance_ms(10_000);
    assert_eq!(new_session(&s, "u").await["status"], "OK");
    assert_eq!(active_since(t5 + 1).await, 0, "a creation within the window is not written");
    s.clock.advance_ms(window);
    assert_eq!(new_session(&s, "u").await["status"], "OK");
    assert_eq!(active_since(t5 + 10_000 + window).await, 1, "a creation after the window is written");
    s.stop().await;
}

async fn verify_time_promotion(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r1 = new_session(&s, "u").await;
    let h = handle(&r1);
    let rt1 = rt(&r1);
    let r2 = refresh(&s, &rt1).await;
    let r2b = refresh(&s, &rt1).await; // a sibling lineage (e.g. another tab)
    let (rt2, at2, at2b) = (rt(&r2), at(&r2), at(&r2b));
    assert_eq!(jwt_payload(&at2)["parentRefreshTokenHash1"], sha256_hex(&rt1).as_str());

    s.clock.advance_ms(2_000);
    let v = verify(&s, &at2, false).await;
    assert_eq!(v["status"], "OK", "{v}");
    let at3 = at(&v);
    let p3 = jwt_payload(&at3);
    assert!(p3["parentRefreshTokenHash1"].is_null(), "promoted token has no parent: {p3}");
    assert_eq!(p3["refreshTokenHash1"], sha256_hex(&rt2).as_str());
    assert_eq!(p3["sessionHandle"], h.as_str());
    let iat = (START_MS + 2_000) / 1000;
    assert_eq!((p3["iat"].as_i64(), p3["exp"].as_i64()), (Some(iat), Some(iat + 3600)));
    assert_eq!(session_info(&s, &h).await["expiry"], json!(START_MS + 2_000 + DEFAULT_REFRESH_MS), "verify promoted");

    // RT1 is now theft.
    assert_eq!(refresh(&s, &rt1).await, theft(&h, "u"));
    // AT2 again: its refresh token is now the current one -> another fresh token.
    let v = verify(&s, &at2, false).await;
    assert_eq!(v["status"], "OK");
    assert!(v["accessToken"]["token"].is_string(), "current lineage with a parent still gets a new token: {v}");
    // The sibling's access token is accepted (older lineage) but gets no new token.
    let v = verify(&s, &at2b, false).await;
    assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "{v}");
    // AT3 is up to date.
    let v = verify(&s, &at3, false).await;
    assert_eq!((v["status"].as_str(), v.get("accessToken")), (Some("OK"), None), "{v}");
    // The sibling's refresh token is theft; the promoted one is the current parent.
    assert_eq!(refresh(&s, &rt(&r2b)).await, theft(&h, "u"));
    assert_eq!(refresh(&s, &rt2).await["status"], "OK");
    // Verify of a revoked session with a parent hash: UNAUTHORISED.
    let r4 = refresh(&s, &rt2).await;
    s.post("/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    assert_eq!(verify(&s, &at(&r4), false).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn concurrent_refreshes(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    for i in 0..4 {
        let r = new_session(&s, &format!("u{i}")).await;
        let h = handle(&r);
        let rt1 = rt(&r);
        // The same parent twice at once: both OK, no theft.
        let (a, b2) = tokio::join!(refresh(&s, &rt1), refresh(&s, &rt1));
        assert_eq!((a["status"].as_str(), b2["status"].as_str()), (Some("OK"), Some("OK")), "{a} {b2}");
        let (ca, cb) = (rt(&a), rt(&b2));
        assert_ne!(ca, cb);
        // The same un-promoted child twice at once: one promotes, the other sees it as the parent.
        let (x, y) = tokio::join!(refresh(&s, &ca), refresh(&s, &ca));
        assert_eq!((x["status"].as_str(), y["status"].as_str()), (Some("OK"), Some("OK")), "{x} {y}");
        // The sibling child lost the race for promotion.
        assert_eq!(refresh(&s, &cb).await, theft(&h, &format!("u{i}")));
    }
    // Two sibling children at once: exactly one promotes, the other is theft.
    for i in 0..4 {
        let r = new_session(&s, &format!("v{i}")).await;
        let rt1 = rt(&r);
        let c1 = rt(&refresh(&s, &rt1).await);
        let c2 = rt(&refresh(&s, &rt1).await);
        let (x, y) = tokio::join!(refresh(&s, &c1), refresh(&s, &c2));
        let mut statuses = vec![x["status"].as_str().unwrap().to_string(), y["status"].as_str().unwrap().to_string()];
        statuses.sort();
        assert_eq!(statuses, vec!["OK", "TOKEN_THEFT_DETECTED"], "{x} {y}");
    }
    s.stop().await;
}

async fn refresh_failures(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let refresh_ms = 10 * 60_000;
    let r = new_session(&s, "u").await;
    let h = handle(&r);
    assert_eq!(r["refreshToken"]["expiry"], json!(START_MS + refresh_ms));

    // Garbage and tampered refresh tokens.
    for bad in ["garbage".to_string(), format!("x{}", rt(&r)), rt(&r).replace(".V2", ".V1")] {
        let v = refresh(&s, &bad).await;
        assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Invalid refresh token"}), "{bad}");
    }
    // Missing useDynamicSigningKey (required on CDI >= 5.0).
    let (st, text) =
        raw(&s, "POST", "/recipe/session/refresh", Some(json!({"refreshToken": rt(&r), "enableAntiCsrf": false})))
            .await;
    assert_eq!((st, text.as_str()), (400, "Field name 'useDynamicSigningKey' is invalid in JSON input\n"));

    // Expiry: at expires_at the session still refreshes (expires_at < now is the test), one ms later not.
    s.clock.advance_ms(refresh_ms);
    assert_eq!(session_info(&s, &h).await["status"], "UNAUTHORISED", "GET uses expires_at <= now");
    assert_eq!(refresh(&s, &rt(&r)).await["status"], "OK", "refresh uses expires_at < now");
    s.clock.advance_ms(1);
    let v = refresh(&s, &rt(&r)).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Session missing in db or has expired"}));

    // Revoked session.
    let r = new_session(&s, "u").await;
    s.post("/recipe/session/remove", json!({"sessionHandles": [handle(&r)]})).await;
    assert_eq!(refresh(&s, &rt(&r)).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn refresh_anti_csrf(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = create(&s, "", "u", true, json!({}), json!({})).await;
    let anti = r["antiCsrfToken"].as_str().unwrap().to_string();
    let call = |anti: Option<&str>, enable: bool| {
        let mut body = json!({"refreshToken": rt(&r), "enableAntiCsrf": enable, "useDynamicSigningKey": true});
        if let Some(a) = anti {
            body["antiCsrfToken"] = json!(a);
        }
        s.post("/recipe/session/refresh", body)
    };
    let v = call(Some("wrong"), true).await;
    assert_eq!(v, json!({"status": "UNAUTHORISED", "message": "Anti CSRF token missing, or not matching"}));
    assert_eq!(call(None, true).await["status"], "UNAUTHORISED");
    let ok = call(Some(&anti), true).await;
    assert_eq!(ok["status"], "OK", "{ok}");
    let new_anti = ok["antiCsrfToken"].as_str().expect("a new anti-csrf token");
    assert!(is_uuid(new_anti) && new_anti != anti);
    assert_eq!(jwt_payload(&at(&ok))["antiCsrfToken"], new_anti);
    // enableAntiCsrf=false: no check, no token.
    let off = call(Some("wrong"), false).await;
    assert_eq!(off["status"], "OK", "{off}");
    assert!(off.get("antiCsrfToken").is_none());
    assert!(jwt_payload(&at(&off))["antiCsrfToken"].is_null());
    // Verify-promotion (after which RT1 is stale) keeps the token's anti-csrf value.
    let v = s
        .post(
            "/recipe/session/verify",
            json!({"accessToken": at(&ok), "antiCsrfToken": new_anti, "doAntiCsrfCheck": true, "enableAntiCsrf": true, "checkDatabase": false}),
        )
        .await;
    assert_eq!(v["status"], "OK", "{v}");
    assert_eq!(jwt_payload(&at(&v))["antiCsrfToken"], new_anti);
    s.stop().await;
}

async fn refresh_switches_key_type(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = new_session(&s, "u").await;
    assert!(kid(&at(&r)).starts_with("d-"));
    let r2 = s
        .post(
            "/recipe/session/refresh",
            json!({"refreshToken": rt(&r), "enableAntiCsrf": false, "useDynamicSigningKey": false}),
        )
        .await;
    assert_eq!(r2["status"], "OK", "{r2}");
    assert!(kid(&at(&r2)).starts_with("s-"), "useDynamicSigningKey=false signs with the static key");
    // Verify-promotion keeps the stored key type.
    let v = verify(&s, &at(&r2), false).await;
    assert!(kid(&at(&v)).starts_with("s-"), "{v}");
    // So does regenerate.
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at(&v), "userDataInJWT": {"z": 1}})).await;
    assert!(kid(&at(&g)).starts_with("s-"), "{g}");
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&at(&g), &keys));
    s.stop().await;
}

/// Regenerate signs with the key type stored on the session (`use_static_key`), not the one
/// of the token it is given (§c.8: "re-mints with ... key type" = `sessionInfo.useStaticKey`).
async fn regenerate_uses_the_stored_key_type(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = s
        .post(
            "/recipe/session",
            json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {}, "userDataInDatabase": {}, "useDynamicSigningKey": false}),
        )
        .await;
    assert!(kid(&at(&r)).starts_with("s-"));
    // The SDK switched to dynamic keys: the refresh stores that choice.
    let r2 = refresh(&s, &rt(&r)).await;
    assert!(kid(&at(&r2)).starts_with("d-"), "{r2}");
    // The old (static) token is regenerated with the session's key type.
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at(&r), "userDataInJWT": {"x": 1}})).await;
    assert_eq!(g["status"], "OK", "{g}");
    assert!(kid(&at(&g)).starts_with("d-"), "regenerate follows use_static_key = false: kid {}", kid(&at(&g)));
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Regenerate, reads, removal, data
// ---------------------------------------------------------------------------------------------

/// Regenerate does not check the signature, so it shows the claim rules directly: every claim
/// of the token's version must be present (§c.2), the header version must be 3, 4 or 5, and a
/// missing session is UNAUTHORISED before protected claims are a 400.
async fn incomplete_tokens(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let r = new_session(&s, "u-claims").await;
    let token = at(&r);
    let parts: Vec<&str> = token.split('.').collect();
    let forge = |header: Value, payload: Value| {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!("{}.{}.{}", enc(&header), enc(&payload), parts[2])
    };
    let regen = |t: String, data: Value| {
        let s = &s;
        async move { s.post("/recipe/session/regenerate", json!({"accessToken": t, "userDataInJWT": data})).await }
    };
    let (header, payload) = (jwt_header(&token), jwt_payload(&token));
    assert_eq!(regen(forge(header.clone(), payload.clone()), json!({"a": 1})).await["status"], "OK");
    for claim in ["rsub", "tId", "iat", "parentRefreshTokenHash1", "antiCsrfToken", "sessionHandle"] {
        let mut p = payload.clone();
        p.as_object_mut().unwrap().remove(claim);
        let g = regen(forge(header.clone(), p), json!({})).await;
        assert_eq!(g["status"], "UNAUTHORISED", "without {claim}");
        // As the reference, the text names the first absent claim in its order of required claims.
        let text =
            format!("Access token does not contain all the information. Maybe the structure has changed? {claim}");
        assert_eq!(g["message"], text.as_str(), "without {claim}");
    }
    let mut two = payload.clone();
    two.as_object_mut().unwrap().remove("rsub");
    two.as_object_mut().unwrap().remove("exp");
    let g = regen(forge(header.clone(), two), json!({})).await;
    assert!(g["message"].as_str().unwrap().ends_with("changed? exp"), "exp comes before rsub: {g}");
    // A v3 token has neither tId nor rsub.
    let mut v3 = payload.clone();
    v3.as_object_mut().unwrap().remove("rsub");
    v3.as_object_mut().unwrap().remove("tId");
    let mut h3 = header.clone();
    h3["version"] = json!("3");
    let r3 = regen(forge(h3.clone(), v3.clone()), json!({"k": 3})).await;
    assert_eq!(r3["status"], "OK");
    // As the reference, the new token keeps the presented token's version and claim set.
    let t3 = r3["accessToken"]["token"].as_str().unwrap();
    assert_eq!(jwt_header(t3)["version"], "3");
    let p3 = jwt_payload(t3);
    assert!(p3.get("tId").is_none() && p3.get("rsub").is_none(), "{p3}");
    assert_eq!((&p3["k"], &p3["sub"]), (&json!(3), &payload["sub"]));
    // `tId` is not protected in a v3 token, so it is the user's claim there.
    assert_eq!(regen(forge(h3, v3), json!({"tId": "mine"})).await["status"], "OK");
    let (st, _) = s
        .request(
            "POST",
            "/recipe/session/regenerate",
            Some(json!({"accessToken": forge(header.clone(), payload.clone()), "userDataInJWT": {"tId": "mine"}})),
            &[("cdi-version", "5.4")],
        )
        .await;
    assert_eq!(st, 400, "protected in a v5 token");
    let mut v4 = payload.clone();
    v4.as_object_mut().unwrap().remove("rsub");
    let mut h4 = header.clone();
    h4["version"] = json!("4");
    let t4 = regen(forge(h4, v4), json!({})).await["accessToken"]["token"].as_str().unwrap().to_string();
    assert_eq!(jwt_header(&t4)["version"], "4");
    let p4 = jwt_payload(&t4);
    assert!(p4.get("rsub").is_none() && p4["tId"] == "public", "{p4}");
    let mut h99 = header.clone();
    h99["version"] = json!("99");
    assert_eq!(regen(forge(h99, payload.clone()), json!({})).await["status"], "UNAUTHORISED");
    // Protected claims on a revoked session: UNAUTHORISED first.
    s.post("/recipe/session/remove", json!({"sessionHandles": [r["session"]["handle"]]})).await;
    assert_eq!(regen(token.clone(), json!({"sub": "x"})).await["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn regenerate(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let r = create(&s, "", "u", true, json!({"a": 1}), json!({})).await;
    let h = handle(&r);
    s.clock.advance_ms(1_000);
    let r2 = s
        .post(
            "/recipe/session/refresh",
            json!({"refreshToken": rt(&r), "antiCsrfToken": r["antiCsrfToken"], "enableAntiCsrf": true, "useDynamicSigningKey": true}),
        )
        .await;
    let at2 = at(&r2);
    let p2 = jwt_payload(&at2);
    s.clock.advance_ms(1_000);

    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2, "userDataInJWT": {"b": 2}})).await;
    assert_eq!(keys_of(&g), set(&["status", "session", "accessToken"]), "{g}");
    assert_eq!(
        g["session"],
        json!({"handle": h, "userId": "u", "recipeUserId": "u", "userDataInJWT": {"b": 2}, "tenantId": "public"})
    );
    let p = jwt_payload(&at(&g));
    assert_eq!(p["b"], 2);
    assert!(p.get("a").is_none(), "claims replaced: {p}");
    for k in
        ["exp", "parentRefreshTokenHash1", "refreshTokenHash1", "antiCsrfToken", "sessionHandle", "sub", "rsub", "tId"]
    {
        assert_eq!(p[k], p2[k], "{k} is kept");
    }
    assert!(p["parentRefreshTokenHash1"].is_string());
    assert_eq!(g["accessToken"]["expiry"], json!(p2["exp"].as_i64().unwrap() * 1000));
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"b": 2}));
    let (keys, _) = jwks(&s, "").await;
    assert!(verifies_with_jwks(&at(&g), &keys));

    // Without userDataInJWT the stored payload is used.
    s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"c": 3}})).await;
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2})).await;
    assert_eq!(jwt_payload(&at(&g))["c"], 3);

    // The signature is not re-verified.
    let g = s
        .post("/recipe/session/regenerate", json!({"accessToken": tamper_signature(&at2), "userDataInJWT": {"d": 4}}))
        .await;
    assert_eq!(g["status"], "OK", "{g}");

    // Protected claim.
    let (st, text) =
        raw(&s, "POST", "/recipe/session/regenerate", Some(json!({"accessToken": at2, "userDataInJWT": {"tId": "x"}})))
            .await;
    assert_eq!((st, text.as_str()), (400, "The user payload contains protected field\n"));

    // Expired access token: the DB is updated, no token is returned.
    s.clock.advance_ms(60_000);
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2, "userDataInJWT": {"e": 5}})).await;
    assert_eq!(keys_of(&g), set(&["status", "session"]), "{g}");
    assert_eq!(g["session"]["userDataInJWT"], json!({"e": 5}));
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"e": 5}));

    // Revoked session.
    s.post("/recipe/session/remove", json!({"sessionHandles": [h]})).await;
    let g = s.post("/recipe/session/regenerate", json!({"accessToken": at2, "userDataInJWT": {}})).await;
    assert_eq!(g["status"], "UNAUTHORISED");
    s.stop().await;
}

async fn get_session_information(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let r = create(&s, "", "u", false, json!({"j": 1}), json!({"d": [1, 2]})).await;
    let h = handle(&r);
    let info = session_info(&s, &h).await;
    assert_eq!(
        info,
        json!({"status": "OK", "sessionHandle": h, "userId": "u", "recipeUserId": "u", "userDataInDatabase": {"d": [1, 2]},
               "expiry": START_MS + 600_000, "userDataInJWT": {"j": 1}, "timeCreated": START_MS, "tenantId": "public"})
    );
    assert_eq!(session_info(&s, "no-such-handle").await["status"], "UNAUTHORISED");
    s.clock.advance_ms(600_000);
    assert_eq!(session_info(&s, &h).await["status"], "UNAUTHORISED", "expired");
    s.stop().await;
}

async fn remove_and_list_sessions(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    s.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let p1 = handle(&new_session(&s, "u").await);
    let p2 = handle(&new_session(&s, "u").await);
    let t1 = handle(&create(&s, "/t1", "u", false, json!({}), json!({})).await);
    let t2 = handle(&create(&s, "/t1", "u", false, json!({}), json!({})).await);
    let other = handle(&new_session(&s, "v").await);

    // Listing: across tenants by default; one tenant on request.
    let all = s.get("/recipe/session/user?userId=u").await;
    assert_eq!(str_set(&all["sessionHandles"]), set(&[&p1, &p2, &t1, &t2]));
    let only_t1 = s.get("/t1/recipe/session/user?userId=u&fetchAcrossAllTenants=false").await;
    assert_eq!(str_set(&only_t1["sessionHandles"]), set(&[&t1, &t2]));
    let (st, _) = raw(&s, "GET", "/t1/recipe/session/user?userId=u", None).await;
    assert_eq!(st, 403, "across all tenants needs the public tenant");

    // By handles: only existing ones are reported.
    let rm = s
        .post("/recipe/session/remove", json!({"sessionHandles": [p1, "00000000-0000-4000-8000-000000000000", t1]}))
        .await;
    assert_eq!(str_set(&rm["sessionHandlesRevoked"]), set(&[&p1, &t1]));
    let rm = s.post("/recipe/session/remove", json!({"sessionHandles": [p1]})).await;
    assert_eq!(rm["sessionHandlesRevoked"], json!([]));

    // By user in one tenant.
    let rm = s.post("/t1/recipe/session/remove", json!({"userId": "u", "revokeAcrossAllTenants": false})).await;
    assert_eq!(rm["sessionHandlesRevoked"], json!([t2]));
    let (st, _) = raw(&s, "POST", "/t1/recipe/session/remove", Some(json!({"userId": "u"}))).await;
    assert_eq!(st, 403, "revokeAcrossAllTenants defaults to true, which needs the public tenant");
    // By user across tenants (default).
    let t3 = handle(&create(&s, "/t1", "u", false, json!({}), json!({})).await);
    let rm = s.post("/recipe/session/remove", json!({"userId": "u"})).await;
    assert_eq!(str_set(&rm["sessionHandlesRevoked"]), set(&[&p2, &t3]));
    assert_eq!(s.get("/recipe/session/user?userId=u").await["sessionHandles"], json!([]));
    assert_eq!(session_info(&s, &other).await["status"], "OK", "other users keep their sessions");

    // Listing filters expired sessions.
    let old = handle(&new_session(&s, "w").await);
    s.clock.advance_ms(300_000);
    let young = handle(&new_session(&s, "w").await);
    assert_eq!(str_set(&s.get("/recipe/session/user?userId=w").await["sessionHandles"]), set(&[&old, &young]));
    s.clock.advance_ms(300_001);
    assert_eq!(s.get("/recipe/session/user?userId=w").await["sessionHandles"], json!([young]));
    s.stop().await;
}

async fn remove_input_rules(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let h = handle(&new_session(&s, "u").await);
    let mut mismatches = Vec::new();
    for (body, msg) in [
        (
            json!({"userId": "u", "sessionHandles": [h]}),
            "Invalid JSON input - use one of userId or sessionHandles array\n",
        ),
        (json!({}), "Invalid JSON input - use one of userId or sessionHandles array\n"),
        (
            json!({"sessionHandles": [h], "revokeAcrossAllTenants": true}),
            "Invalid JSON input - revokeAcrossAllTenants can only be set if userId is set\n",
        ),
        (
            json!({"sessionHandles": [h], "revokeSessionsForLinkedAccounts": false}),
            "Invalid JSON input - revokeSessionsForLinkedAccounts can only be set if userId is set\n",
        ),
        // Each flag is parsed before it is refused.
        (
            json!({"sessionHandles": [h], "revokeAcrossAllTenants": "yes"}),
            "Field name 'revokeAcrossAllTenants' is invalid in JSON input\n",
        ),
        (
            json!({"sessionHandles": [h], "revokeAcrossAllTenants": true, "revokeSessionsForLinkedAccounts": null}),
            "Invalid JSON input - revokeAcrossAllTenants can only be set if userId is set\n",
        ),
        (
            json!({"userId": "u", "revokeSessionsForLinkedAccounts": null}),
            "Field name 'revokeSessionsForLinkedAccounts' is invalid in JSON input\n",
        ),
    ] {
        let (st, text) = raw(&s, "POST", "/recipe/session/remove", Some(body.clone())).await;
        if (st, text.as_str()) != (400, msg) {
            mismatches.push(format!("{body}: got {st} {text:?}, expected 400 {msg:?}"));
        }
    }
    let still = session_info(&s, &h).await["status"].clone();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    assert_eq!(still, "OK", "rejected requests revoke nothing");
    s.stop().await;
}

async fn session_and_jwt_data(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_validity": 60, "refresh_token_validity": 10})).await else {
        return;
    };
    let r = create(&s, "", "u", false, json!({"j": 1}), json!({"d": 1})).await;
    let h = handle(&r);
    assert_eq!(
        s.get(&format!("/recipe/session/data?sessionHandle={h}")).await,
        json!({"status": "OK", "userDataInDatabase": {"d": 1}})
    );
    assert_eq!(
        s.put("/recipe/session/data", json!({"sessionHandle": h, "userDataInDatabase": {"d": 2}})).await,
        json!({"status": "OK"})
    );
    assert_eq!(s.get(&format!("/recipe/session/data?sessionHandle={h}")).await["userDataInDatabase"], json!({"d": 2}));
    assert_eq!(session_info(&s, &h).await["userDataInDatabase"], json!({"d": 2}));

    assert_eq!(
        s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await,
        json!({"status": "OK", "userDataInJWT": {"j": 1}})
    );
    assert_eq!(
        s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {"j": 2}})).await,
        json!({"status": "OK"})
    );
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"j": 2}));
    let (st, text) =
        raw(&s, "PUT", "/recipe/jwt/data", Some(json!({"sessionHandle": h, "userDataInJWT": {"exp": 1}}))).await;
    assert_eq!((st, text.as_str()), (400, "The user payload contains protected field\n"));
    assert_eq!(s.get(&format!("/recipe/jwt/data?sessionHandle={h}")).await["userDataInJWT"], json!({"j": 2}));
    // Only the DB copy changed: the existing token keeps its claims, a refresh picks up the new ones.
    assert_eq!(verify(&s, &at(&r), false).await["session"]["userDataInJWT"], json!({"j": 1}));
    let r2 = refresh(&s, &rt(&r)).await;
    assert_eq!(r2["session"]["userDataInJWT"], json!({"j": 2}));
    assert_eq!(jwt_payload(&at(&r2))["j"], 2);

    for path in ["/recipe/session/data", "/recipe/jwt/data"] {
        assert_eq!(s.get(&format!("{path}?sessionHandle=nope")).await["status"], "UNAUTHORISED", "{path}");
    }
    assert_eq!(
        s.put("/recipe/session/data", json!({"sessionHandle": "nope", "userDataInDatabase": {}})).await["status"],
        "UNAUTHORISED"
    );
    assert_eq!(
        s.put("/recipe/jwt/data", json!({"sessionHandle": "nope", "userDataInJWT": {}})).await["status"],
        "UNAUTHORISED"
    );
    // Expired sessions cannot be read or written.
    s.clock.advance_ms(600_000);
    assert_eq!(
        s.put("/recipe/session/data", json!({"sessionHandle": h, "userDataInDatabase": {}})).await["status"],
        "UNAUTHORISED"
    );
    assert_eq!(
        s.put("/recipe/jwt/data", json!({"sessionHandle": h, "userDataInJWT": {}})).await["status"],
        "UNAUTHORISED"
    );
    assert_eq!(s.get(&format!("/recipe/session/data?sessionHandle={h}")).await["status"], "UNAUTHORISED");
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// JWKS and /recipe/jwt
// ---------------------------------------------------------------------------------------------

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
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Signing-key rotation with the fake clock (§c.3)
// ---------------------------------------------------------------------------------------------

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

both_backends! {
    create_shape_and_claims => create_shape_and_claims;
    protected_claims_rejected => protected_claims_rejected;
    tenant_sessions => tenant_sessions;
    sessions_of_a_deleted_tenant => sessions_of_a_deleted_tenant;
    verify_basics => verify_basics;
    expired_session_with_live_access_token => expired_session_with_live_access_token;
    verify_anti_csrf => verify_anti_csrf;
    verify_expiry_boundary => verify_expiry_boundary;
    verify_rejects_tampering => verify_rejects_tampering;
    verify_picks_up_payload_change => verify_picks_up_payload_change;
    aud_claim_as_signed => aud_claim_as_signed;
    refresh_parent_reuse_child_promotion_and_theft => refresh_parent_reuse_child_promotion_and_theft;
    verify_time_promotion => verify_time_promotion;
    refresh_records_activity => refresh_records_activity;
    concurrent_refreshes => concurrent_refreshes;
    refresh_failures => refresh_failures;
    refresh_anti_csrf => refresh_anti_csrf;
    refresh_switches_key_type => refresh_switches_key_type;
    regenerate_uses_the_stored_key_type => regenerate_uses_the_stored_key_type;
    regenerate => regenerate;
    incomplete_tokens => incomplete_tokens;
    get_session_information => get_session_information;
    remove_and_list_sessions => remove_and_list_sessions;
    remove_input_rules => remove_input_rules;
    session_and_jwt_data => session_and_jwt_data;
    jwks_shape_and_cache_control => jwks_shape_and_cache_control;
    jwt_signing => jwt_signing;
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
    if common::pg_url().is_none() {
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
    if common::pg_url().is_none() {
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
