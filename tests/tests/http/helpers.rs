//! The test server (after zero2prod's `spawn_app`): the application that `supertokens start`
//! serves, built by the binary's own `supertokens::Application` on a random port with a fresh
//! store per test (see `st_tests::storage`), and a `ManualClock` so that tests move time across
//! expiry and rotation boundaries instead of sleeping. Then request helpers, and JWT / JWKS
//! helpers that verify signatures against the published keys.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use st_core::clock::ManualClock;
use st_core::storage::Storage;
use st_core::Core;
use std::collections::BTreeSet;
use std::sync::Arc;

pub use st_tests::Backend;

/// The manual clock's start: 2027-01-15T08:00:00Z.
pub const START_MS: i64 = 1_800_000_000_000;

pub struct TestServer {
    pub url: String,
    pub clock: ManualClock,
    pub core: Arc<Core>,
    pub client: reqwest::Client,
    /// The PostgreSQL database this server uses (None in memory).
    pub db_url: Option<String>,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    /// Spawn with `config.yaml`-style overrides (test mode on).
    pub async fn spawn(backend: Backend, config: Value) -> Option<TestServer> {
        TestServer::spawn_on(backend, config, None).await
    }

    /// Like [`TestServer::spawn`], but for PostgreSQL use the database at `db_url` (e.g. another
    /// server's [`TestServer::db_url`], to run two instances on one database) instead of a fresh
    /// one. `db_url` is ignored in memory.
    pub async fn spawn_on(backend: Backend, config: Value, db_url: Option<String>) -> Option<TestServer> {
        let extra = config.as_object().cloned().unwrap_or_default();
        let clock = ManualClock::new(START_MS);
        let (tx, rx) = std::sync::mpsc::channel();
        let clock2 = clock.clone();
        let pg = match (backend, db_url) {
            (Backend::Memory, _) => None,
            (Backend::Postgres, Some(url)) => Some(url),
            (Backend::Postgres, None) => Some(st_tests::fresh_database().await?),
        };
        let db_url = pg.clone();
        // The server runs in an actix system of its own, as in the binary.
        std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let mut map = st_config::parse_yaml("core_config_version: 0").unwrap();
                // Exact token expiries unless a test asks for the jitter (see
                // `session::versions::validity_jitter`).
                map.insert("access_token_validity_jitter".into(), json!(0));
                for (k, v) in &extra {
                    map.insert(k.clone(), v.clone());
                }
                let storage: Arc<dyn Storage> = match pg {
                    None => Arc::new(st_storage_memory::MemoryStorage::new()),
                    Some(url) => {
                        map.insert("postgresql_connection_uri".into(), json!(url));
                        st_tests::postgres_storage(&url, &extra).await
                    }
                };
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let app = supertokens::Application::builder(map, storage)
                    .test_mode(true)
                    .clock(Arc::new(clock2))
                    .config_path("test".into())
                    .workers(2)
                    .listener(listener)
                    .without_signal_handling()
                    .build()
                    .await
                    .expect("the application builds");
                tx.send((app.port(), app.core().clone(), app.handle())).unwrap();
                let _ = app.run_until_stopped().await;
            });
        });
        let (port, core, handle) = rx.recv().expect("server started");
        Some(TestServer {
            url: format!("http://127.0.0.1:{port}"),
            clock,
            core,
            client: reqwest::Client::new(),
            db_url,
            handle,
        })
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    /// Raw request; returns (status, body text).
    /// A CDI 5.4 request's status and its body text without the trailing newline (for the
    /// plain-text 400s).
    pub async fn status_and_text(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let (st, text) = self.request(method, path, body, &[("cdi-version", "5.4")]).await;
        (st, text.trim_end().to_string())
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(m, format!("{}{}", self.url, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// A CDI call with `cdi-version: 5.4`, expecting 200 JSON.
    pub async fn cdi(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.request(method, path, body, &[("cdi-version", "5.4")]).await;
        assert_eq!(status, 200, "{method} {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.cdi("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Value {
        self.cdi("PUT", path, Some(body)).await
    }
    pub async fn get(&self, path: &str) -> Value {
        self.cdi("GET", path, None).await
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------------

/// The CDI version header of the requests that may fail (see [`raw`]).
pub const H: [(&str, &str); 1] = [("cdi-version", "5.4")];

/// A CDI request that may fail; returns (status, body).
pub async fn raw(s: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    s.request(method, path, body, &H).await
}

pub fn at(r: &Value) -> String {
    r["accessToken"]["token"].as_str().unwrap_or_else(|| panic!("no accessToken in {r}")).to_string()
}

pub fn rt(r: &Value) -> String {
    r["refreshToken"]["token"].as_str().unwrap_or_else(|| panic!("no refreshToken in {r}")).to_string()
}

pub fn handle(r: &Value) -> String {
    r["session"]["handle"].as_str().unwrap().to_string()
}

pub fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub fn str_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// The configuration of the tests that sign users up: the cheapest bcrypt cost, as they check
/// behaviour, not hashing cost.
pub fn cheap_hashing() -> Value {
    json!({"bcrypt_log_rounds": 4})
}

pub async fn sign_up(s: &TestServer, email: &str, pw: &str) -> Value {
    s.post("/public/recipe/signup", json!({"email": email, "password": pw})).await
}

// ---------------------------------------------------------------------------------------------
// JWTs and the JWKS
// ---------------------------------------------------------------------------------------------

/// Decode a JWT's payload (no verification).
pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Replace one character in the middle of the signature (never a padding-only position).
pub fn tamper_signature(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mid = sig.len() / 2;
    let c = sig.as_bytes()[mid];
    let replacement = if c == b'A' { 'B' } else { 'A' };
    format!("{head}.{}{replacement}{}", &sig[..mid], &sig[mid + 1..])
}

/// GET the public JWKS: (keys, Cache-Control header).
pub async fn jwks(s: &TestServer, prefix: &str) -> (Vec<Value>, String) {
    let resp = s.client.get(format!("{}{prefix}/.well-known/jwks.json", s.url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cc = resp.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(keys_of(&body), set(&["keys"]), "JWKS has no status field: {body}");
    (body["keys"].as_array().unwrap().clone(), cc)
}

pub fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

/// The published dynamic keys (`d-…`), leaving out the app's static key.
pub fn dynamic_kids(keys: &[Value]) -> Vec<String> {
    kids(keys).into_iter().filter(|k| k.starts_with("d-")).collect()
}

pub fn max_age(cache_control: &str) -> i64 {
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
pub fn spki_of_jwk(jwk: &Value) -> Vec<u8> {
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).expect("n is base64url without padding");
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).expect("e is base64url without padding");
    let rsa = der(0x30, &[der_uint(&n), der_uint(&e)].concat());
    let alg: [u8; 15] = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0u8];
    bits.extend(rsa);
    der(0x30, &[alg.to_vec(), der(0x03, &bits)].concat())
}

/// Does `token` carry a valid RS256 signature by `jwk`?
pub fn signed_by(token: &str, jwk: &Value) -> bool {
    let stored = format!("{}|", STANDARD.encode(spki_of_jwk(jwk)));
    let key = st_core::crypto::SigningKey::parse("jwk", 0, &stored).expect("JWKS key is a valid RSA public key");
    let parsed = st_core::crypto::parse_jwt(token).expect("token is a JWS");
    key.verify(parsed.signed.as_bytes(), &parsed.signature)
}

/// The token's kid is published in `keys` and that key verifies its signature.
pub fn verifies_with_jwks(token: &str, keys: &[Value]) -> bool {
    let kid = jwt_header(token)["kid"].as_str().unwrap().to_string();
    match keys.iter().find(|k| k["kid"] == kid.as_str()) {
        Some(jwk) => signed_by(token, jwk),
        None => false,
    }
}

pub fn kid(token: &str) -> String {
    jwt_header(token)["kid"].as_str().unwrap().to_string()
}

/// Run SQL on the server's database (PostgreSQL servers only); rows of the statement.
pub async fn sql(
    s: &TestServer,
    statement: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<tokio_postgres::Row> {
    let (client, conn) = tokio_postgres::connect(s.db_url.as_ref().unwrap(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(conn);
    let rows = client.query(statement, params).await.unwrap();
    drop(client);
    let _ = task.await;
    rows
}
