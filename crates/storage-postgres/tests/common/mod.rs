//! Shared helpers of the PostgreSQL integration tests: a scratch database per test.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use serde_json::{json, Value};
use st_config::CoreConfig;
use st_core::random::{bytes, SystemRandom};
use st_storage_postgres::PgConfig;
use tokio_postgres::NoTls;

pub const ENV: &str = "ST_TEST_POSTGRES_URL";

/// A scratch database, dropped (FORCE) when this goes out of scope.
pub struct TestDb {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside the test's runtime: do the blocking work on a fresh thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..authority_end])
}

pub async fn fresh_db(test: &str) -> Option<TestDb> {
    let Ok(admin_url) = std::env::var(ENV) else {
        println!("skipping {test}: set {ENV} to run PostgreSQL tests");
        return None;
    };
    let name = format!("st_{:016x}", u64::from_le_bytes(bytes::<8>(&SystemRandom::new())));
    let (client, conn) = tokio_postgres::connect(&admin_url, NoTls).await.expect("admin connection");
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let url = with_database(&admin_url, &name);
    Some(TestDb { admin_url, name, url })
}

pub fn pg_config(settings: Value) -> PgConfig {
    let core = CoreConfig::from_map(settings.as_object().unwrap(), false).unwrap();
    PgConfig::from_core_config(&core).unwrap()
}

pub fn uri_config(db: &TestDb, extra: Value) -> PgConfig {
    let mut settings = json!({ "postgresql_connection_uri": db.url, "postgresql_connection_pool_size": 3 });
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    pg_config(settings)
}

pub async fn raw(db: &TestDb) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}
