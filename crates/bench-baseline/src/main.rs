//! `st-bench-baseline`: the ceilings that `cargo xtask bench` measures beside the server, on the
//! same machine and in the same run (see `docs/BENCHMARKS.md`).
//!
//! * `serve --port P [--workers N]` — a minimal actix-web 4 server (as many workers as the
//!   server uses: one per core) doing only the unavoidable work of an endpoint:
//!   - `GET /hello`, `GET /apiversion` — static bodies (`{"versions":[…]}` of the server's served versions);
//!   - `POST /verify` — body as for `POST /recipe/session/verify`: JSON-parse the body, split
//!     and base64url-decode the JWT, JSON-parse header and payload, look the `kid` up, verify
//!     RS256 with ring (`RsaPublicKeyComponents`, as `crates/core/src/crypto.rs`), check `exp`,
//!     answer with the `session` object. Keys: the JWKS document in `$ST_BENCH_JWKS` (the
//!     server's `/.well-known/jwks.json`) plus this process's own key;
//!   - `POST /sign` — body as for `POST /recipe/session`: build a v5 access-token payload of
//!     the same shape as the server's and sign it with an `RsaKeyPair` generated (with the `rsa`
//!     crate, as the server does) and parsed once at startup.
//! * `bcrypt-verify --threads N --seconds S [--cost C]` — N threads verifying a password
//!   against a cost-C bcrypt hash for S seconds; prints `ops=… seconds=… per_second=…`.
//! * `bcrypt-hash --threads N --seconds S [--cost C]` — the same with fresh hashes (sign-up).
//! * `bcrypt-make --password P [--cost C]` — print one `$2a$` hash (the server's format).
//! * `serve`'s `POST /sign-es256`, `POST /verify-es256` and `sig-cost --seconds S`: the ES256
//!   ceilings and the per-signature costs of RS256, ES256 and EdDSA, see [`es256`].
//! * `passkey-setup …`, `passkey-run …` and `serve`'s `POST /webauthn/signin`: the passkey
//!   sign-in benchmark's load generator and ceiling, see [`passkey`].
//! * `saml-make …`, `saml-verify-cost …`: the SAML callback benchmark's IdP (signed responses
//!   made ahead) and the per-response verification costs, see [`saml`].

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod passkey;

mod es256;

mod saml;

type Result<T, E = String> = std::result::Result<T, E>;

// Claims the server owns in a v5 access token: the server's own list, so the ceiling builds
// the same payload.
use st_core::session::PROTECTED_CLAIMS;

/// Password hashed by `bcrypt-verify` / `bcrypt-hash`.
const LOOP_PASSWORD: &str = "bench-password-1";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Opts(args.get(1..).unwrap_or_default().to_vec());
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&opts),
        Some("bcrypt-verify") => bcrypt_loop(&opts, true),
        Some("bcrypt-hash") => bcrypt_loop(&opts, false),
        Some("bcrypt-make") => bcrypt_make(&opts),
        Some("sig-cost") => es256::sig_cost(&opts),
        Some("passkey-setup") => passkey::setup(&opts),
        Some("passkey-run") => passkey::run(&opts),
        Some("passkey-verify-cost") => passkey::verify_cost(&opts),
        Some("saml-make") => saml::make(&opts),
        Some("saml-verify-cost") => saml::verify_cost(&opts),
        _ => Err("usage: st-bench-baseline serve --port P [--workers N] | \
                  bcrypt-verify|bcrypt-hash --threads N --seconds S [--cost C] | \
                  bcrypt-make --password P [--cost C] | \
                  passkey-setup --port P --users N --out FILE [--api-key K] [--cdi V] [--threads T] | \
                  passkey-run --port P --target server|baseline --conns C --seconds S --keys FILE \
                  [--api-key K] [--cdi V] [--pid PID] | passkey-verify-cost [--seconds S]"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("st-bench-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` options.
struct Opts(Vec<String>);

impl Opts {
    fn get(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }

    fn num<T: FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{name}: not a number: {v}")),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The wall clock (a benchmark baseline, not server code: no `Clock` abstraction needed).
#[allow(clippy::disallowed_methods)]
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// HTTP server
// ---------------------------------------------------------------------------------------------

/// `kid` → (n, e), big-endian.
type PublicKeys = HashMap<String, (Vec<u8>, Vec<u8>)>;

struct State {
    keys: PublicKeys,
    signer: RsaKeyPair,
    signer_kid: String,
    rng: SystemRandom,
    passkeys: passkey::Passkeys,
}

impl State {
    /// Generate the signing key (RSA-2048 with the `rsa` crate, PKCS#8 DER, parsed by ring
    /// once) and read the verification keys from `$ST_BENCH_JWKS`. A benchmark ceiling, not
    /// the server: it may take the thread RNG directly.
    #[allow(clippy::disallowed_methods)]
    fn new() -> Result<State> {
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| e.to_string())?;
        let pkcs8 = private.to_pkcs8_der().map_err(|e| e.to_string())?;
        let signer = RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(|e| e.to_string())?;
        let signer_kid = "d-bench-baseline".to_string();
        let mut keys = PublicKeys::new();
        keys.insert(signer_kid.clone(), (private.n().to_bytes_be(), private.e().to_bytes_be()));
        if let Ok(jwks) = std::env::var("ST_BENCH_JWKS") {
            keys.extend(parse_jwks(&jwks)?);
        }
        let passkeys = passkey::passkeys_from_env()?;
        Ok(State { keys, signer, signer_kid, rng: SystemRandom::new(), passkeys })
    }
}

/// `kid` → (n, e) of every RSA key of a JWKS document.
fn parse_jwks(text: &str) -> Result<PublicKeys> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("ST_BENCH_JWKS: {e}"))?;
    let mut out = PublicKeys::new();
    for key in doc["keys"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let field = |k: &str| key.get(k).and_then(Value::as_str).unwrap_or_default();
        let b64 = |k: &str| URL_SAFE_NO_PAD.decode(field(k)).map_err(|e| format!("ST_BENCH_JWKS {k}: {e}"));
        if field("kty") == "RSA" {
            out.insert(field("kid").to_string(), (b64("n")?, b64("e")?));
        }
    }
    Ok(out)
}

fn serve(opts: &Opts) -> Result<()> {
    let port: u16 = opts.num("--port", 0)?;
    if port == 0 {
        return Err("serve needs --port".into());
    }
    let workers: usize = opts.num("--workers", cores())?;
    let state = web::Data::new(State::new()?);
    let es256_state = web::Data::new(es256::State::new()?);
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/hello", web::get().to(hello))
                .route("/apiversion", web::get().to(api_version))
                .route("/verify", web::post().to(verify))
                .route("/sign", web::post().to(sign))
                .app_data(es256_state.clone())
                .route("/verify-es256", web::post().to(es256::verify))
                .route("/sign-es256", web::post().to(es256::sign))
                .route("/webauthn/signin", web::post().to(webauthn_sign_in))
        })
        .workers(workers)
        .bind(("127.0.0.1", port))
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?
        .run();
        println!("st-bench-baseline listening on 127.0.0.1:{port} with {workers} workers");
        server.await.map_err(|e| e.to_string())
    })
}

fn json_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json; charset=utf-8").body(body)
}

async fn hello() -> HttpResponse {
    HttpResponse::Ok().body("Hello")
}

async fn api_version() -> HttpResponse {
    // The body the server answers without a configured maximum, built once per request as the
    // server does.
    json_response(serde_json::json!({ "versions": st_config::SUPPORTED_CDI_VERSIONS }).to_string().into_bytes())
}

async fn verify(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let answer = match verify_request(&state, &body) {
        Ok(session) => json!({"status": "OK", "session": session}),
        Err(message) => json!({"status": "TRY_REFRESH_TOKEN", "message": message}),
    };
    json_response(serde_json::to_vec(&answer).unwrap_or_default())
}

async fn sign(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let answer = match sign_request(&state, &body) {
        Ok(v) => v,
        Err(message) => json!({"status": "BAD_REQUEST", "message": message}),
    };
    json_response(serde_json::to_vec(&answer).unwrap_or_default())
}

async fn webauthn_sign_in(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
    let answer = passkey::sign_in(&state.passkeys, &body)
        .unwrap_or_else(|reason| json!({"status": "INVALID_AUTHENTICATOR_ERROR", "reason": reason}));
    json_response(serde_json::to_vec(&answer).unwrap_or_default())
}

fn decode_object(part: &str) -> Result<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| "Invalid JWT".to_string())?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("Invalid JWT".into()),
    }
}

/// The crypto and parsing of the server's verify without the database: see the module docs.
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
    if text(&header, "typ").as_deref() != Some("JWT") || text(&header, "alg").as_deref() != Some("RS256") {
        return Err("Invalid JWT header".into());
    }
    let kid = text(&header, "kid").ok_or("Invalid JWT header")?;
    let (n, e) = state.keys.get(&kid).ok_or("Key not found")?;
    RsaPublicKeyComponents { n, e }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &token.as_bytes()[..h.len() + 1 + p.len()], &sig)
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

/// A v5 access token of the server's shape (`mint` in `crates/core/src/session/token.rs`), signed
/// with the cached key pair.
fn sign_request(state: &State, body: &[u8]) -> Result<Value> {
    let request: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let user_id = request["userId"].as_str().ok_or("userId is missing")?;
    let mut payload = request["userDataInJWT"].as_object().cloned().unwrap_or_default();
    let mut random = [0u8; 48];
    state.rng.fill(&mut random).map_err(|_| "no randomness".to_string())?;
    let handle = uuid_v4(&random[..16]);
    let refresh_hash1 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &random[16..]));
    let iat = now_ms() / 1000;
    let exp = iat + 3600;
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
    let header = json!({"kid": state.signer_kid, "typ": "JWT", "version": "5", "alg": "RS256"});
    let token = sign_jwt(state, &header, &payload)?;
    Ok(json!({
        "status": "OK",
        "session": {"handle": handle, "userId": user_id, "recipeUserId": user_id,
                    "userDataInJWT": request["userDataInJWT"], "tenantId": "public"},
        "accessToken": {"token": token, "expiry": exp * 1000, "createdTime": iat * 1000},
    }))
}

fn sign_jwt(state: &State, header: &Value, payload: &Map<String, Value>) -> Result<String> {
    let header = serde_json::to_vec(header).map_err(|e| e.to_string())?;
    let payload = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let mut msg = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 350);
    URL_SAFE_NO_PAD.encode_string(header, &mut msg);
    msg.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut msg);
    let mut sig = vec![0u8; state.signer.public().modulus_len()];
    state
        .signer
        .sign(&signature::RSA_PKCS1_SHA256, &state.rng, msg.as_bytes(), &mut sig)
        .map_err(|_| "signing failed".to_string())?;
    msg.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut msg);
    Ok(msg)
}

/// Format 16 random bytes as a version-4 UUID.
fn uuid_v4(b: &[u8]) -> String {
    let mut b: [u8; 16] = b.try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

// ---------------------------------------------------------------------------------------------
// bcrypt
// ---------------------------------------------------------------------------------------------

/// `$2a$` hash with a random salt, as `crates/core/src/password.rs` writes them.
fn bcrypt_hash(password: &str, cost: u32) -> Result<String> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| "no randomness".to_string())?;
    bcrypt::hash_with_salt(password, cost, salt)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| e.to_string())
}

fn bcrypt_make(opts: &Opts) -> Result<()> {
    let password = opts.get("--password").ok_or("bcrypt-make needs --password")?;
    println!("{}", bcrypt_hash(password, opts.num("--cost", 11)?)?);
    Ok(())
}

/// N threads doing bcrypt verifications (or hashes) for S seconds; prints the throughput.
fn bcrypt_loop(opts: &Opts, verify: bool) -> Result<()> {
    let threads: usize = opts.num("--threads", cores())?;
    let seconds: f64 = opts.num("--seconds", 10.0)?;
    let cost: u32 = opts.num("--cost", 11)?;
    let stored = bcrypt_hash(LOOP_PASSWORD, cost)?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let counts: Vec<Result<u64>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<u64> {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        if verify {
                            let ok = bcrypt::verify(LOOP_PASSWORD, &stored).map_err(|e| e.to_string())?;
                            if !ok {
                                return Err("bcrypt verify returned false".into());
                            }
                        } else {
                            bcrypt_hash(LOOP_PASSWORD, cost)?;
                        }
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err("thread panicked".into()))).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut ops = 0;
    for c in counts {
        ops += c?;
    }
    println!(
        "mode={} cost={cost} threads={threads} ops={ops} seconds={elapsed:.3} per_second={:.2}",
        if verify { "verify" } else { "hash" },
        ops as f64 / elapsed
    );
    Ok(())
}
