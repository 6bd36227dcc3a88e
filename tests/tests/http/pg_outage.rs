//! `/hello` touches the database: 500 while PostgreSQL is unreachable, 200 again once it is
//! back, without restarting the server. The outage is simulated by a TCP proxy between the
//! server and PostgreSQL that drops every connection and refuses new ones.

use crate::helpers::{Backend, TestServer};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

struct Proxy {
    port: u16,
    target: String,
    accept: Option<JoinHandle<()>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut p = Proxy { port, target, accept: None, conns: Arc::default() };
        p.serve(listener);
        p
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        let conns = self.conns.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(h);
            }
        }));
    }

    fn down(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

async fn hello(s: &TestServer) -> u16 {
    s.clock.advance_ms(1000); // refill /hello's rate-limit bucket so each call checks storage
    s.request("GET", "/hello", None, &[]).await.0
}

/// A fresh database, a proxy in front of its server, and the database's URL through the proxy
/// (`postgresql://user@host:port/db` with host:port replaced); `None`: no PostgreSQL to test.
async fn database_behind_proxy() -> Option<(String, Proxy, String)> {
    let Some(db) = st_tests::fresh_database().await else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return None;
    };
    let (scheme_user, rest) = db.split_once('@').unwrap();
    let (hostport, dbname) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(hostport.to_string()).await;
    let via_proxy = format!("{scheme_user}@127.0.0.1:{}/{dbname}", proxy.port);
    Some((db, proxy, via_proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_follows_database_health_without_restart() {
    let Some((_, mut proxy, via_proxy)) = database_behind_proxy().await else { return };
    let s = TestServer::spawn_on(Backend::Postgres, json!({"postgresql_connection_pool_size": 2}), Some(via_proxy))
        .await
        .unwrap();
    assert_eq!(hello(&s).await, 200);
    proxy.down();
    assert_eq!(hello(&s).await, 500, "database unreachable must be a 500");
    assert_eq!(hello(&s).await, 500);
    proxy.up().await;
    let mut status = 0;
    for _ in 0..50 {
        status = hello(&s).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "/hello must recover once the database is back");
    // Real work resumes too.
    let r = s
        .post(
            "/public/recipe/session",
            json!({"userId":"u","enableAntiCsrf":false,"userDataInJWT":{},"userDataInDatabase":{}}),
        )
        .await;
    assert_eq!(r["status"], "OK");
    s.stop().await;
}

fn pg_config(url: &str, retry_ms: u64, wait_ms: u64) -> st_storage_postgres::PgConfig {
    let mut map = st_config::parse_yaml("core_config_version: 0").unwrap();
    map.insert("postgresql_connection_uri".into(), json!(url));
    let cfg = st_config::CoreConfig::from_map(&map, true).unwrap();
    let mut pg = st_storage_postgres::PgConfig::from_core_config(&cfg).unwrap();
    pg.connect_retry = std::time::Duration::from_millis(retry_ms);
    pg.connect_wait = std::time::Duration::from_millis(wait_ms);
    pg
}

/// As the Java plugin: a core started while PostgreSQL refuses connections waits for it
/// (here every 100 ms instead of every 10 s), gives up after its wait, and fails at once on an
/// error that waiting cannot cure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_the_database() {
    let Some((db, mut proxy, via_proxy)) = database_behind_proxy().await else { return };
    proxy.down();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let pg = pg_config(&via_proxy, 100, 30_000);
    let connecting = tokio::spawn(async move { st_storage_postgres::PgStorage::connect(&pg).await });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(!connecting.is_finished(), "still waiting for the database");
    proxy.up().await;
    let storage = tokio::time::timeout(std::time::Duration::from_secs(20), connecting).await.unwrap().unwrap();
    let storage = storage.expect("connected once the database accepted connections");
    drop(storage);

    proxy.down();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let e = st_storage_postgres::PgStorage::connect(&pg_config(&via_proxy, 100, 400)).await.err().unwrap();
    assert!(e.to_string().contains("gave up waiting"), "{e}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));

    // A database that does not exist: no waiting, even with a long retry interval.
    let (base, _) = db.rsplit_once('/').unwrap();
    let started = std::time::Instant::now();
    let e = st_storage_postgres::PgStorage::connect(&pg_config(&format!("{base}/st_no_such_db"), 60_000, 600_000))
        .await
        .err()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "failed at once: {e}");
    assert!(!e.to_string().contains("gave up waiting"), "{e}");
}
