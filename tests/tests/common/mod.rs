//! Test harness (after zero2prod's `tests/api/helpers.rs`): spawn the real HTTP app on a random
//! port with a fresh store per test — in memory, or a brand-new PostgreSQL database when
//! `ST_TEST_POSTGRES_URL` is set (as `cargo xtask test` does). The clock is a `ManualClock` so
//! tests move time across expiry and rotation boundaries instead of sleeping.

#![allow(dead_code)]

use serde_json::{json, Map, Value};
use st_core::clock::ManualClock;
use st_core::random::SystemRandom;
use st_core::storage::Storage;
use st_core::Core;
use std::sync::Arc;

pub const START_MS: i64 = 1_800_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Postgres,
}

/// The PostgreSQL server URL for tests, if any. With `ST_REQUIRE_POSTGRES=1` a missing URL is
/// an error instead of a skip.
pub fn pg_url() -> Option<String> {
    match std::env::var("ST_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("ST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("ST_TEST_POSTGRES_URL is required");
            }
            None
        }
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 6];
    st_core::random::Random::fill(&SystemRandom::new(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Create a fresh, empty database and return its URL.
pub async fn fresh_database() -> Option<String> {
    let url = pg_url()?;
    let (client, conn) =
        tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect to test PostgreSQL");
    let handle = tokio::spawn(conn);
    let name = format!("st_test_{}", random_suffix());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    drop(client);
    let _ = handle.await;
    let (base, _) = url.rsplit_once('/').expect("url has a database");
    Some(format!("{base}/{name}"))
}

/// Build a storage for `backend` (None = PostgreSQL not available: skip).
pub async fn storage(backend: Backend, extra: &Map<String, Value>) -> Option<Arc<dyn Storage>> {
    match backend {
        Backend::Memory => Some(Arc::new(st_storage_memory::MemoryStorage::new())),
        Backend::Postgres => {
            let url = fresh_database().await?;
            let mut map = st_config::parse_yaml("core_config_version: 0").unwrap();
            map.insert("postgresql_connection_uri".into(), json!(url));
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
            let cfg = st_config::CoreConfig::from_map(&map, true).unwrap();
            let pg = st_storage_postgres::PgConfig::from_core_config(&cfg).unwrap();
            Some(Arc::new(st_storage_postgres::PgStorage::connect(&pg).await.expect("connect PgStorage")))
        }
    }
}

pub struct TestServer {
    pub url: String,
    pub clock: ManualClock,
    pub core: Arc<Core>,
    pub client: reqwest::Client,
    pub backend: Backend,
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
            (Backend::Postgres, None) => Some(fresh_database().await?),
        };
        let db_url = pg.clone();
        std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let mut map = st_config::parse_yaml("core_config_version: 0").unwrap();
                for (k, v) in &extra {
                    map.insert(k.clone(), v.clone());
                }
                let storage: Arc<dyn Storage> = match pg {
                    None => Arc::new(st_storage_memory::MemoryStorage::new()),
                    Some(url) => {
                        map.insert("postgresql_connection_uri".into(), json!(url));
                        let cfg = st_config::CoreConfig::from_map(&map, true).unwrap();
                        let pg = st_storage_postgres::PgConfig::from_core_config(&cfg).unwrap();
                        Arc::new(st_storage_postgres::PgStorage::connect(&pg).await.expect("PgStorage"))
                    }
                };
                let core = Arc::new(
                    Core::new(storage, Arc::new(clock2), Arc::new(SystemRandom::new()), map, true).expect("core"),
                );
                core.sync_tenants().await.expect("sync tenants");
                let state = actix_web::web::Data::new(st_http::ServerState::new(core.clone(), "test".into()));
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new().configure(st_http::configure(state.clone()))
                })
                .workers(2)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                tx.send((port, core, server.handle())).unwrap();
                let _ = server.await;
            });
        });
        let (port, core, handle) = rx.recv().expect("server started");
        Some(TestServer {
            url: format!("http://127.0.0.1:{port}"),
            clock,
            core,
            client: reqwest::Client::new(),
            backend,
            db_url,
            handle,
        })
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    /// Raw request; returns (status, body text).
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

/// Generate `<name>_memory` and `<name>_postgres` tests from one async body taking a `Backend`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident => $body:ident;)*) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$body($crate::common::Backend::Memory).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::common::pg_url().is_none() {
                        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
                        return;
                    }
                    super::$body($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Decode a JWT's payload (no verification).
pub fn jwt_payload(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn jwt_header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
