//! What the test binaries share (after zero2prod's `tests/api/helpers.rs`): a fresh store per
//! test, in memory or a brand-new PostgreSQL database when `ST_TEST_POSTGRES_URL` is set (as
//! `cargo xtask test` does), and [`both_backends!`], which runs one test body on each.
//!
//! * `tests/http`: black-box HTTP tests, a module per recipe, against the server that
//!   `supertokens::Application` builds (the binary's wiring) with a manual clock.
//! * `tests/conformance`: the storage contract, a module per storage trait, on every backend.

// Test support: a failed set-up is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod webauthn;

use serde_json::{json, Map, Value};
use st_core::random::SystemRandom;
use st_core::storage::Storage;
use std::sync::Arc;

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

/// The databases the current test (its thread) created, dropped when the thread ends, pass or
/// panic: a database is ~10 MB and the suites create hundreds, which once filled CI's disk.
/// `ST_KEEP_TEST_DATABASES=1` keeps them for a look after a failure.
struct CreatedDatabases {
    admin_url: String,
    names: Vec<String>,
}

impl Drop for CreatedDatabases {
    fn drop(&mut self) {
        if self.names.is_empty() || std::env::var("ST_KEEP_TEST_DATABASES").as_deref() == Ok("1") {
            return;
        }
        let admin = self.admin_url.clone();
        let names = std::mem::take(&mut self.names);
        // This thread's runtime and thread-locals are being torn down: connect from a new thread.
        // FORCE ends what the test left connected (a server thread, a pool not yet dropped).
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                let Ok((client, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await else {
                    return;
                };
                tokio::spawn(conn);
                for name in names {
                    if let Err(e) = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
                    {
                        eprintln!("test database {name} not dropped: {e}");
                    }
                }
            });
        })
        .join();
    }
}

thread_local! {
    static CREATED: std::cell::RefCell<Option<CreatedDatabases>> = const { std::cell::RefCell::new(None) };
}

/// Create a fresh, empty database and return its URL; it is dropped when the calling test ends.
pub async fn fresh_database() -> Option<String> {
    let url = pg_url()?;
    let (client, conn) =
        tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect to test PostgreSQL");
    let handle = tokio::spawn(conn);
    let name = format!("st_test_{}", random_suffix());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    drop(client);
    let _ = handle.await;
    CREATED.with(|c| {
        c.borrow_mut()
            .get_or_insert_with(|| CreatedDatabases { admin_url: url.clone(), names: Vec::new() })
            .names
            .push(name.clone())
    });
    let (base, _) = url.rsplit_once('/').expect("url has a database");
    Some(format!("{base}/{name}"))
}

/// A PostgreSQL storage on the database at `url`, configured by `config.yaml`-style `extra`
/// settings (pool size, ...).
pub async fn postgres_storage(url: &str, extra: &Map<String, Value>) -> Arc<dyn Storage> {
    let mut map = st_config::parse_yaml("core_config_version: 0").unwrap();
    map.insert("postgresql_connection_uri".into(), json!(url));
    for (k, v) in extra {
        map.insert(k.clone(), v.clone());
    }
    let cfg = st_config::CoreConfig::from_map(&map, true).unwrap();
    let pg = st_storage_postgres::PgConfig::from_core_config(&cfg).unwrap();
    Arc::new(st_storage_postgres::PgStorage::connect(&pg).await.expect("connect PgStorage"))
}

/// Build a storage for `backend` (None = PostgreSQL not available: skip).
pub async fn storage(backend: Backend, extra: &Map<String, Value>) -> Option<Arc<dyn Storage>> {
    match backend {
        Backend::Memory => Some(Arc::new(st_storage_memory::MemoryStorage::new())),
        Backend::Postgres => Some(postgres_storage(&fresh_database().await?, extra).await),
    }
}

/// Generate `memory::<name>` and `postgres::<name>` tests from one async body taking a
/// [`Backend`] (a path relative to the invoking module); the PostgreSQL ones pass with a skip
/// line when no server is configured. `#[memory(...)]` before an entry puts an attribute on its
/// memory test only, e.g. `#[memory(ignore = "memory backend: <why>")]`.
#[macro_export]
macro_rules! both_backends {
    ($($(#[memory($attr:meta)])* $name:ident => $($body:ident)::+;)*) => {
        mod memory {
            $(
                $(#[$attr])*
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$($body)::+($crate::Backend::Memory).await }
            )*
        }
        mod postgres {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::pg_url().is_none() {
                        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
                        return;
                    }
                    super::$($body)::+($crate::Backend::Postgres).await
                }
            )*
        }
    };
}
