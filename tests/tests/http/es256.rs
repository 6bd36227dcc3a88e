//! Elliptic-curve access tokens (issue 26): `access_token_signing_algorithm` ES256 / EdDSA signs
//! sessions (dynamic and static keys) and `/recipe/jwt`, the JWKS publishes EC / OKP keys beside
//! RSA keys still valid, switching the setting invalidates no session, and verification
//! refuses an algorithm the key was not made for.

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

fn b64(v: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
}

/// Check a JWS with a JWK, by the JWK's own algorithm, independently of the server's code.
fn verified_by_jwk(token: &str, jwk: &Value) -> bool {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    match jwk["kty"].as_str().unwrap() {
        "EC" => {
            let point = [vec![4u8], b64(&jwk["x"]), b64(&jwk["y"])].concat();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(signed.as_bytes(), &sig).is_ok()
        }
        "OKP" => UnparsedPublicKey::new(&ED25519, b64(&jwk["x"])).verify(signed.as_bytes(), &sig).is_ok(),
        _ => signed_by(token, jwk),
    }
}

fn jwk_of<'a>(keys: &'a [Value], kid: &str) -> &'a Value {
    keys.iter().find(|k| k["kid"] == kid).unwrap_or_else(|| panic!("{kid} not in the JWKS: {keys:?}"))
}

async fn new_session(s: &TestServer, prefix: &str, dynamic: bool) -> Value {
    let r = s
        .post(
            &format!("{prefix}/recipe/session"),
            json!({"userId": "u", "enableAntiCsrf": false, "userDataInJWT": {"k": 1}, "userDataInDatabase": {},
                   "useDynamicSigningKey": dynamic}),
        )
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    r
}

async fn verify(s: &TestServer, prefix: &str, token: &str) -> Value {
    s.post(
        &format!("{prefix}/recipe/session/verify"),
        json!({"accessToken": token, "doAntiCsrfCheck": false, "enableAntiCsrf": false, "checkDatabase": false}),
    )
    .await
}

/// A token with `header` replacing the original header, signature kept or replaced.
fn reheaded(token: &str, header: Value, signature: Option<&[u8]>) -> String {
    let mut parts = token.split('.');
    let (_, payload, sig) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let sig = signature.map(|s| URL_SAFE_NO_PAD.encode(s)).unwrap_or_else(|| sig.to_string());
    format!("{h}.{payload}.{sig}")
}

async fn es256_sessions_jwks_and_jwt(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_signing_algorithm": "ES256"})).await else { return };
    let c = new_session(&s, "", true).await;
    let token = at(&c);
    let h = jwt_header(&token);
    assert_eq!((h["alg"].as_str(), h["typ"].as_str()), (Some("ES256"), Some("JWT")), "{h}");
    assert!(kid(&token).starts_with("d-"));
    let (keys, _) = jwks(&s, "").await;
    let jwk = jwk_of(&keys, &kid(&token));
    assert_eq!(keys_of(jwk), set(&["kty", "kid", "crv", "x", "y", "alg", "use"]), "{jwk}");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"), Some("sig"))
    );
    assert_eq!((b64(&jwk["x"]).len(), b64(&jwk["y"]).len()), (32, 32));
    assert!(verified_by_jwk(&token, jwk), "the JWKS key checks the token");
    assert!(!verified_by_jwk(&tamper_signature(&token), jwk));
    assert_eq!(verify(&s, "", &token).await["status"], "OK");
    assert_eq!(verify(&s, "", &tamper_signature(&token)).await["status"], "TRY_REFRESH_TOKEN");
    // Refresh signs the new token with ES256 too, and it verifies.
    let r = s
        .post(
            "/recipe/session/refresh",
            json!({"refreshToken": rt(&c), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(r["status"], "OK", "{r}");
    assert_eq!(jwt_header(&at(&r))["alg"], "ES256");
    assert_eq!(verify(&s, "", &at(&r)).await["status"], "OK");
    // The static key is an EC key too.
    let st = new_session(&s, "", false).await;
    assert!(kid(&at(&st)).starts_with("s-"));
    assert_eq!(jwt_header(&at(&st))["alg"], "ES256");
    let (keys, _) = jwks(&s, "").await;
    assert!(verified_by_jwk(&at(&st), jwk_of(&keys, &kid(&at(&st)))));
    assert!(keys.iter().all(|k| k["kty"] == "EC"), "a new app under ES256 has no RSA key: {keys:?}");
    assert_eq!(verify(&s, "", &at(&st)).await["status"], "OK");
    // /recipe/jwt signs with the configured algorithm, and refuses another.
    let jwt = |alg: &str| json!({"algorithm": alg, "jwksDomain": "http://x", "payload": {"a": 1}, "validity": 60});
    let r = s.post("/recipe/jwt", jwt("ES256")).await;
    assert_eq!(r["status"], "OK", "{r}");
    let signed = r["jwt"].as_str().unwrap();
    assert_eq!(jwt_header(signed)["alg"], "ES256");
    assert!(verified_by_jwk(signed, jwk_of(&keys, &kid(signed))));
    assert_eq!(s.post("/recipe/jwt", jwt("es256")).await["status"], "OK", "any case, as RS256 is");
    assert_eq!(s.post("/recipe/jwt", jwt("RS256")).await["status"], "UNSUPPORTED_ALGORITHM_ERROR");
    assert_eq!(s.post("/recipe/jwt", jwt("EdDSA")).await["status"], "UNSUPPORTED_ALGORITHM_ERROR");
    s.stop().await;
}

async fn eddsa_sessions_and_jwks(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({"access_token_signing_algorithm": "EdDSA"})).await else { return };
    for dynamic in [true, false] {
        let c = new_session(&s, "", dynamic).await;
        let token = at(&c);
        assert_eq!(jwt_header(&token)["alg"], "EdDSA");
        let (keys, _) = jwks(&s, "").await;
        let jwk = jwk_of(&keys, &kid(&token));
        assert_eq!(keys_of(jwk), set(&["kty", "kid", "crv", "x", "alg", "use"]), "{jwk}");
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
        );
        assert!(verified_by_jwk(&token, jwk));
        assert_eq!(verify(&s, "", &token).await["status"], "OK");
    }
    s.stop().await;
}

/// HS256 signed with the public key, `alg: none`, an RS256 header over an EC key, an ES256
/// header over an RSA key, an unknown algorithm: each TRY_REFRESH_TOKEN.
async fn algorithm_confusion_refused(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    // An app on ES256 beside the public app's RS256.
    s.put(
        "/recipe/multitenancy/app/v2",
        json!({"appId": "ec", "coreConfig": {"access_token_signing_algorithm": "ES256"}}),
    )
    .await;
    let ec = at(&new_session(&s, "/appid-ec", true).await);
    let rsa = at(&new_session(&s, "", true).await);
    let (ec_keys, _) = jwks(&s, "/appid-ec").await;
    let ec_jwk = jwk_of(&ec_keys, &kid(&ec));
    let refused = |r: Value, what: &str| assert_eq!(r["status"], "TRY_REFRESH_TOKEN", "{what}: {r}");
    // The originals verify.
    assert_eq!(verify(&s, "/appid-ec", &ec).await["status"], "OK");
    assert_eq!(verify(&s, "", &rsa).await["status"], "OK");
    let ec_header = jwt_header(&ec);
    let with_alg = |h: &Value, alg: &str| {
        let mut h = h.clone();
        h["alg"] = json!(alg);
        h
    };
    // RS256 header over the EC key (signature kept).
    let r = verify(&s, "/appid-ec", &reheaded(&ec, with_alg(&ec_header, "RS256"), None)).await;
    refused(r.clone(), "RS256 header over an EC key");
    assert_eq!(r["message"], "JWT header mismatch - alg");
    // ES256 header over an RSA key.
    let r = verify(&s, "", &reheaded(&rsa, with_alg(&jwt_header(&rsa), "ES256"), None)).await;
    refused(r.clone(), "ES256 header over an RSA key");
    assert_eq!(r["message"], "JWT header mismatch - alg");
    // alg none, empty signature.
    refused(verify(&s, "/appid-ec", &reheaded(&ec, with_alg(&ec_header, "none"), Some(b""))).await, "alg none");
    // HS256 signed with the public key (the JWK's point, and its JSON) as the HMAC secret.
    let point = [vec![4u8], b64(&ec_jwk["x"]), b64(&ec_jwk["y"])].concat();
    for secret in [point, serde_json::to_vec(ec_jwk).unwrap()] {
        let unsigned = reheaded(&ec, with_alg(&ec_header, "HS256"), Some(b""));
        let signed_part = unsigned.trim_end_matches('.');
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let tag = ring::hmac::sign(&key, signed_part.as_bytes());
        let forged = format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        refused(verify(&s, "/appid-ec", &forged).await, "HS256 with the public key");
    }
    // A header naming EdDSA over the EC key, and a valid EC signature under an RSA kid.
    refused(verify(&s, "/appid-ec", &reheaded(&ec, with_alg(&ec_header, "EdDSA"), None)).await, "EdDSA over EC");
    s.stop().await;
}

/// Switching RS256 → ES256 → RS256 on a running app: every token already issued still
/// verifies, new ones take the new algorithm, and the JWKS publishes RSA and EC keys together.
async fn switching_invalidates_no_session(b: Backend) {
    let Some(s) = TestServer::spawn(b, json!({})).await else { return };
    let set_alg = |alg: &'static str| {
        s.put(
            "/recipe/multitenancy/app/v2",
            json!({"appId": "sw", "coreConfig": {"access_token_signing_algorithm": alg}}),
        )
    };
    set_alg("RS256").await;
    let rs_dyn = new_session(&s, "/appid-sw", true).await;
    let rs_static = new_session(&s, "/appid-sw", false).await;
    assert_eq!(jwt_header(&at(&rs_dyn))["alg"], "RS256");
    set_alg("ES256").await;
    // The key cache reloads at once for the new setting; the new EC key is published for the
    // overlap (60 s) before it signs, as a rotated key is.
    let during = new_session(&s, "/appid-sw", true).await;
    assert_eq!(jwt_header(&at(&during))["alg"], "RS256", "the EC key is not used before the overlap");
    s.clock.advance_ms(61_000);
    let es_dyn = new_session(&s, "/appid-sw", true).await;
    let es_static = new_session(&s, "/appid-sw", false).await;
    assert_eq!(jwt_header(&at(&es_dyn))["alg"], "ES256");
    assert_eq!(jwt_header(&at(&es_static))["alg"], "ES256");
    let (keys, _) = jwks(&s, "/appid-sw").await;
    let ktys: std::collections::BTreeSet<&str> = keys.iter().map(|k| k["kty"].as_str().unwrap()).collect();
    assert_eq!(ktys, ["EC", "RSA"].into_iter().collect(), "{keys:?}");
    for t in [&rs_dyn, &rs_static, &during, &es_dyn, &es_static] {
        assert_eq!(verify(&s, "/appid-sw", &at(t)).await["status"], "OK", "{}", jwt_header(&at(t)));
        assert!(verified_by_jwk(&at(t), jwk_of(&keys, &kid(&at(t)))));
    }
    // A session made under RS256 refreshes into an ES256 token.
    let r = s
        .post(
            "/appid-sw/recipe/session/refresh",
            json!({"refreshToken": rt(&rs_dyn), "enableAntiCsrf": false, "useDynamicSigningKey": true}),
        )
        .await;
    assert_eq!(jwt_header(&at(&r))["alg"], "ES256", "{r}");
    // And back: the EC tokens keep verifying.
    set_alg("RS256").await;
    s.clock.advance_ms(61_000);
    let back = new_session(&s, "/appid-sw", false).await;
    assert_eq!(jwt_header(&at(&back))["alg"], "RS256");
    for t in [&es_dyn, &es_static, &rs_static] {
        assert_eq!(verify(&s, "/appid-sw", &at(t)).await["status"], "OK", "{}", jwt_header(&at(t)));
    }
    s.stop().await;
}

st_tests::both_backends! {
    es256_sessions_jwks_and_jwt => es256_sessions_jwks_and_jwt;
    eddsa_sessions_and_jwks => eddsa_sessions_and_jwks;
    algorithm_confusion_refused => algorithm_confusion_refused;
    switching_invalidates_no_session => switching_invalidates_no_session;
}
