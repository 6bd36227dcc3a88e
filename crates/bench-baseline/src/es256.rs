//! The ES256 ceilings of `cargo xtask bench session --ceiling-alg ES256` (issue 26), and the
//! per-signature CPU cost of the three access-token algorithms:
//!
//! * `POST /verify-es256` — as `POST /verify`, for ES256 tokens: JSON-parse the body, split and
//!   base64url-decode the JWT, JSON-parse header and payload, look the `kid` up among the P-256
//!   keys of `$ST_BENCH_JWKS` (`x`, `y`) and this process's own key, verify with ring's
//!   `ECDSA_P256_SHA256_FIXED` (the 64-byte `r ‖ s` of RFC 7518 §3.4, as
//!   `crates/core/src/crypto.rs` verifies it: the point parsed per verification), check `exp`,
//!   answer the `session` object;
//! * `POST /sign-es256` — as `POST /sign`: the v5 payload of the server's shape signed with an
//!   `EcdsaKeyPair` (ring, P-256) made once at startup.
//! * `sig-cost --seconds S` — one thread signing and verifying a v5-sized JWT with RS256
//!   (RSA-2048), ES256 (P-256) and EdDSA (Ed25519) for S seconds each, with the ring calls of
//!   `crates/core/src/crypto.rs`; prints `alg=… sign_us=… verify_us=…` (µs of CPU per
//!   operation on one core).

use crate::{decode_object, now_ms, uuid_v4, Opts, Result, PROTECTED_CLAIMS};
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The ES256 side of the baseline server: its own signing key and the P-256 keys it verifies.
pub struct State {
    signer: EcdsaKeyPair,
    signer_kid: String,
    /// `kid` → the uncompressed point `04 ‖ x ‖ y`.
    keys: HashMap<String, Vec<u8>>,
    rng: SystemRandom,
}

impl State {
    /// A fresh P-256 key pair, plus the EC keys of the JWKS document in `$ST_BENCH_JWKS`.
    pub fn new() -> Result<State> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
        let signer = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| e.to_string())?;
        let signer_kid = "d-bench-baseline-es256".to_string();
        let mut keys = HashMap::new();
        keys.insert(signer_kid.clone(), signer.public_key().as_ref().to_vec());
        if let Ok(jwks) = std::env::var("ST_BENCH_JWKS") {
            keys.extend(parse_ec_jwks(&jwks)?);
        }
        Ok(State { signer, signer_kid, keys, rng })
    }
}

/// `kid` → uncompressed point of every P-256 key of a JWKS document.
fn parse_ec_jwks(text: &str) -> Result<HashMap<String, Vec<u8>>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("ST_BENCH_JWKS: {e}"))?;
    let mut out = HashMap::new();
    for key in doc["keys"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let field = |k: &str| key.get(k).and_then(Value::as_str).unwrap_or_default();
        let b64 = |k: &str| URL_SAFE_NO_PAD.decode(field(k)).map_err(|e| format!("ST_BENCH_JWKS {k}: {e}"));
        if field("kty") == "EC" && field("crv") == "P-256" {
            let mut point = vec![4u8];
            point.extend(b64("x")?);
            point.extend(b64("y")?);
            out.insert(field("kid").to_string(), point);
        }
    }
    Ok(out)
}

fn json_response(v: &Value) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json; charset=utf-8").body(serde_json::to_vec(v).unwrap_or_default())
}

pub async fn verify(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    json_response(&match verify_request(&state, &body) {
        Ok(session) => json!({"status": "OK", "session": session}),
        Err(message) => json!({"status": "TRY_REFRESH_TOKEN", "message": message}),
    })
}

pub async fn sign(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    json_response(&sign_request(&state, &body).unwrap_or_else(|m| json!({"status": "BAD_REQUEST", "message": m})))
}

/// `POST /verify`'s work (see `verify_request` in main.rs) with an ES256 signature.
fn verify_request(state: &State, body: &[u8]) -> Result<Value> {
    let request: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let token = request["accessToken"].as_str().ok_or("accessToken is missing")?;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("Invalid JWT".into());
    };
    let header = decode_object(h)?;
    let payload = decode_object(p)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| "Invalid JWT".to_string())?;
    let text = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    if text(&header, "typ").as_deref() != Some("JWT") || text(&header, "alg").as_deref() != Some("ES256") {
        return Err("Invalid JWT header".into());
    }
    let kid = text(&header, "kid").ok_or("Invalid JWT header")?;
    let point = state.keys.get(&kid).ok_or("Key not found")?;
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(&token.as_bytes()[..h.len() + 1 + p.len()], &sig)
        .map_err(|_| "JWT verification failed".to_string())?;
    let exp = payload.get("exp").and_then(Value::as_i64).ok_or("no exp")?;
    if exp.saturating_mul(1000) < now_ms() {
        return Err("Access token expired".into());
    }
    let user_id = text(&payload, "sub").ok_or("no sub")?;
    let user_data: Map<String, Value> = payload
        .iter()
        .filter(|(k, _)| !PROTECTED_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(json!({
        "handle": text(&payload, "sessionHandle").ok_or("no sessionHandle")?,
        "recipeUserId": text(&payload, "rsub").unwrap_or_else(|| user_id.clone()),
        "userId": user_id,
        "userDataInJWT": user_data,
        "tenantId": text(&payload, "tId").unwrap_or_else(|| "public".into()),
    }))
}

/// `POST /sign`'s work (see `sign_request` in main.rs) with an ES256 signature.
fn sign_request(state: &State, body: &[u8]) -> Result<Value> {
    let request: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let user_id = request["userId"].as_str().ok_or("userId is missing")?;
    let mut random = [0u8; 48];
    state.rng.fill(&mut random).map_err(|_| "no randomness".to_string())?;
    let handle = uuid_v4(&random[..16]);
    let iat = now_ms() / 1000;
    let exp = iat + 3600;
    let payload = v5_payload(&request, user_id, &handle, &random[16..], iat, exp);
    let header = json!({"kid": state.signer_kid, "typ": "JWT", "version": "5", "alg": "ES256"});
    let msg = signing_input(&header, &payload)?;
    let sig = state.signer.sign(&state.rng, msg.as_bytes()).map_err(|_| "signing failed".to_string())?;
    let token = format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    Ok(json!({
        "status": "OK",
        "session": {"handle": handle, "userId": user_id, "recipeUserId": user_id,
                    "userDataInJWT": request["userDataInJWT"], "tenantId": "public"},
        "accessToken": {"token": token, "expiry": exp * 1000, "createdTime": iat * 1000},
    }))
}

/// The v5 access-token payload of `sign_request` in main.rs.
fn v5_payload(request: &Value, user_id: &str, handle: &str, refresh: &[u8], iat: i64, exp: i64) -> Map<String, Value> {
    let mut payload = request["userDataInJWT"].as_object().cloned().unwrap_or_default();
    let refresh_hash1 = hex::encode(ring::digest::digest(&ring::digest::SHA256, refresh));
    for (k, v) in [
        ("iat", json!(iat)),
        ("exp", json!(exp)),
        ("sub", json!(user_id)),
        ("tId", json!("public")),
        ("rsub", json!(user_id)),
        ("sessionHandle", json!(handle)),
        ("refreshTokenHash1", json!(refresh_hash1)),
        ("parentRefreshTokenHash1", Value::Null),
        ("antiCsrfToken", Value::Null),
    ] {
        payload.insert(k.into(), v);
    }
    payload
}

/// `base64url(header).base64url(payload)`.
fn signing_input(header: &Value, payload: &Map<String, Value>) -> Result<String> {
    let header = serde_json::to_vec(header).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    Ok(format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload)))
}

// ---------------------------------------------------------------------------------------------
// sig-cost
// ---------------------------------------------------------------------------------------------

/// µs per call of `f`, called repeatedly for `seconds` on this thread.
fn cost_us(seconds: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut n = 0u64;
    while Instant::now() < deadline {
        f()?;
        n += 1;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64)
}

/// The per-operation CPU cost of each algorithm (see the module docs).
#[allow(clippy::disallowed_methods)] // a benchmark tool: the thread RNG for an RSA key
pub fn sig_cost(opts: &Opts) -> Result<()> {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::traits::PublicKeyParts;
    let seconds: f64 = opts.num("--seconds", 2.0)?;
    let rng = SystemRandom::new();
    let mut random = [0u8; 48];
    rng.fill(&mut random).map_err(|_| "no randomness".to_string())?;
    let request = json!({"userId": "bench-user-1", "userDataInJWT": {}});
    let payload = v5_payload(&request, "bench-user-1", &uuid_v4(&random[..16]), &random[16..], 1, 2);
    let msg = signing_input(&json!({"kid": "d-1", "typ": "JWT", "version": "5", "alg": "XX256"}), &payload)?;
    let msg = msg.as_bytes();
    let bad = |_| "failed".to_string();

    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
    let pkcs8 = private.to_pkcs8_der().map_err(|e| e.to_string())?;
    let rsa = RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(|e| e.to_string())?;
    let (n, e) = (private.n().to_bytes_be(), private.e().to_bytes_be());
    let mut rsa_sig = vec![0u8; rsa.public().modulus_len()];
    let rsa_sign = cost_us(seconds, || rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut rsa_sig).map_err(bad))?;
    let rsa_verify = cost_us(seconds, || {
        RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, &rsa_sig)
            .map_err(bad)
    })?;

    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| e.to_string())?;
    let ec = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| e.to_string())?;
    let point = ec.public_key().as_ref().to_vec();
    let ec_sig = ec.sign(&rng, msg).map_err(bad)?;
    let ec_sign = cost_us(seconds, || ec.sign(&rng, msg).map(drop).map_err(bad))?;
    let ec_verify = cost_us(seconds, || {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
            .verify(msg, ec_sig.as_ref())
            .map_err(bad)
    })?;

    let mut seed = [0u8; 32];
    rng.fill(&mut seed).map_err(|_| "no randomness".to_string())?;
    let ed = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| e.to_string())?;
    let ed_public = ed.public_key().as_ref().to_vec();
    let ed_sig = ed.sign(msg);
    let ed_sign = cost_us(seconds, || {
        ed.sign(msg);
        Ok(())
    })?;
    let ed_verify = cost_us(seconds, || {
        signature::UnparsedPublicKey::new(&signature::ED25519, &ed_public).verify(msg, ed_sig.as_ref()).map_err(bad)
    })?;

    for (alg, s, v) in [("RS256", rsa_sign, rsa_verify), ("ES256", ec_sign, ec_verify), ("EdDSA", ed_sign, ed_verify)] {
        println!("alg={alg} sign_us={s:.1} verify_us={v:.1}");
    }
    Ok(())
}
