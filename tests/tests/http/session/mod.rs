//! The session recipe over HTTP with CDI 5.4 semantics (reference notes §a.3, §c, §i), a module
//! per operation; the JWKS and `/recipe/jwt` are in `crate::jwt`.
//!
//! Every JWT the server mints is also checked against the public JWKS: the JWK's `n`/`e` are
//! turned into an SPKI public key and the RS256 signature is verified with it
//! (`crate::helpers::verifies_with_jwks`).

mod create;
mod data;
mod refresh;
mod regenerate;
mod signing_keys;
mod tenants;
mod verify;
mod versions;

use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use st_core::random::sha256_hex;

/// Default `refresh_token_validity` (144000 minutes) in ms.
const DEFAULT_REFRESH_MS: i64 = 144_000 * 60_000;

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

fn theft(handle: &str, user: &str) -> Value {
    json!({"status": "TOKEN_THEFT_DETECTED", "session": {"handle": handle, "userId": user, "recipeUserId": user}})
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
