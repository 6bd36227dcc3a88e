//! Faults of a database that does not close its connections (issue 25): a PostgreSQL that stops
//! answering (a frozen process, a partition) is simulated by a TCP proxy that stops forwarding
//! without closing anything. `/hello` answers within a second, other requests fail fast (503
//! when too many already wait for a connection, 500 at the request bound), and the server
//! recovers by itself, never reusing a connection that was cut off mid-statement. And an app
//! removed through one instance is answered as unknown (400) by another that still has it
//! cached.

use crate::helpers::{cheap_hashing, TestServer, H};
use serde_json::{json, Value};
use st_tests::Backend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP proxy in front of PostgreSQL. Each connection has its own freeze switch: frozen, bytes
/// read from either side are held (not forwarded) and nothing is closed.
struct FreezingProxy {
    port: u16,
    /// Switches of the connections accepted so far.
    conns: Arc<Mutex<Vec<watch::Sender<bool>>>>,
    /// Whether connections accepted from now on start frozen.
    new_frozen: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    async fn start(target: String) -> FreezingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<watch::Sender<bool>>>> = Arc::default();
        let new_frozen = Arc::new(AtomicBool::new(false));
        let (conns2, new_frozen2) = (conns.clone(), new_frozen.clone());
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (tx, rx) = watch::channel(new_frozen2.load(Ordering::SeqCst));
                conns2.lock().unwrap().push(tx);
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(&target).await else { return };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    let up = tokio::spawn(pump(ri, wo, rx.clone()));
                    let down = tokio::spawn(pump(ro, wi, rx));
                    let _ = tokio::join!(up, down);
                });
            }
        });
        FreezingProxy { port, conns, new_frozen, accept }
    }

    /// Freeze every connection, and those accepted from now on.
    fn freeze(&self) {
        self.new_frozen.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().iter() {
            let _ = c.send(true);
        }
    }

    /// New connections flow again; the frozen ones stay frozen for good (a partition that
    /// healed for new connections only, as after a failover).
    fn heal_new_connections_only(&self) {
        self.new_frozen.store(false, Ordering::SeqCst);
    }

    /// Everything flows again (the process resumed).
    fn resume(&self) {
        self.new_frozen.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().iter() {
            let _ = c.send(false);
        }
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if frozen.wait_for(|f| !*f).await.is_err() {
            // The switch is gone (test over): stay frozen.
            std::future::pending::<()>().await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Bytes read while frozen are held until the connection thaws.
        if frozen.wait_for(|f| !*f).await.is_err() {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A fresh database behind a proxy, and the URL that goes through the proxy.
async fn database_behind_proxy() -> Option<(FreezingProxy, String)> {
    let url = st_tests::fresh_database().await?;
    let cfg: tokio_postgres::Config = url.parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => "127.0.0.1".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let proxy = FreezingProxy::start(format!("{host}:{port}")).await;
    let via = url.replacen(&format!("{host}:{port}"), &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(via, url, "the URL names host:port: {url}");
    Some((proxy, via))
}

async fn hello(s: &TestServer) -> (u16, Duration) {
    s.clock.advance_ms(1000); // refill /hello's rate-limit bucket so each call checks storage
    let t = Instant::now();
    let (status, _) = s.request("GET", "/hello", None, &[]).await;
    (status, t.elapsed())
}

async fn sign_in(s: &TestServer) -> (u16, String, Duration) {
    let t = Instant::now();
    let body = json!({"email": "frozen@example.com", "password": "pw-123456"});
    let (status, text) = s.request("POST", "/public/recipe/signin", Some(body), &H).await;
    (status, text, t.elapsed())
}

const BOUNDS: [(&str, i64); 4] = [
    ("postgresql_connection_pool_size", 2),
    ("postgresql_connection_timeout", 300),
    ("postgresql_request_timeout", 1500),
    ("postgresql_max_connection_waiters", 2),
];

fn bounded_config() -> Value {
    let mut c = cheap_hashing();
    for (k, v) in BOUNDS {
        c[k] = json!(v);
    }
    c
}

/// Frozen: `/hello` 500 within a second, requests fail fast (the waiters beyond the bound at
/// once with 503, the rest within the request bound with 500). Then the partition heals for new
/// connections only: the server recovers by itself because every connection cut off
/// mid-statement was discarded (a reused one would hang again), and stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_database_bounded_waits_shedding_and_recovery() {
    let Some((proxy, via)) = database_behind_proxy().await else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    };
    let s = TestServer::spawn_on(Backend::Postgres, bounded_config(), Some(via)).await.unwrap();
    s.post("/public/recipe/signup", json!({"email": "frozen@example.com", "password": "pw-123456"})).await;
    assert_eq!(hello(&s).await.0, 200);
    assert_eq!(sign_in(&s).await.0, 200);

    proxy.freeze();
    let (status, took) = hello(&s).await;
    assert_eq!(status, 500, "the reference's answer for unhealthy storage");
    assert!(took < Duration::from_secs(1), "/hello answered in {took:?}");

    // Twelve sign-ins at once: two hold the pool's connections, two wait, eight are refused.
    let started = Instant::now();
    let calls: Vec<_> = (0..12).map(|_| sign_in(&s)).collect();
    let results = futures_join_all(calls).await;
    let total = started.elapsed();
    let shed: Vec<_> = results.iter().filter(|r| r.0 == 503).collect();
    assert!(shed.len() >= 6, "most are refused at once: {results:?}");
    for (status, text, took) in &results {
        assert!(*status == 503 || *status == 500, "{status} {text}");
        if *status == 503 {
            assert!(*took < Duration::from_millis(500), "a refusal is quick: {took:?}");
            assert!(text.contains("wait for one of the 2 database connections"), "{text}");
        }
    }
    assert!(total < Duration::from_millis(3000), "every request answered within the bounds: {total:?}");
    let longest = |code: u16| results.iter().filter(|r| r.0 == code).map(|r| r.2).max();
    eprintln!(
        "frozen: /hello {took:?}; 12 sign-ins: {} x 503 (longest {:?}), {} x 500 (longest {:?}), all in {total:?}",
        shed.len(),
        longest(503),
        results.iter().filter(|r| r.0 == 500).count(),
        longest(500)
    );
    let (status, took2) = hello(&s).await;
    assert_eq!(status, 500);
    assert!(took2 < Duration::from_secs(1), "/hello answered in {took2:?}");

    // Healed for new connections only: the frozen ones are never answered.
    proxy.heal_new_connections_only();
    let healed = Instant::now();
    let mut first_ok = None;
    for _ in 0..8 {
        let (status, _, took) = sign_in(&s).await;
        eprintln!("after the heal: {status} in {took:?}");
        if status == 200 {
            first_ok = Some(healed.elapsed());
            break;
        }
    }
    let first_ok = first_ok.expect("the server recovers by itself");
    for _ in 0..6 {
        let (status, text, took) = sign_in(&s).await;
        assert_eq!(status, 200, "no frozen connection is reused: {text}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }
    assert_eq!(hello(&s).await.0, 200);
    eprintln!("recovered {first_ok:?} after the heal");
    proxy.resume();
    s.stop().await;
}

/// A frozen database that resumes (the process was stopped and continued): the held bytes
/// flow, and the server answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frozen_database_resumes() {
    let Some((proxy, via)) = database_behind_proxy().await else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    };
    let s = TestServer::spawn_on(Backend::Postgres, bounded_config(), Some(via)).await.unwrap();
    s.post("/public/recipe/signup", json!({"email": "frozen@example.com", "password": "pw-123456"})).await;
    proxy.freeze();
    let (status, took) = hello(&s).await;
    assert_eq!(status, 500);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let (status, _, signin_took) = sign_in(&s).await;
    assert_eq!(status, 500);
    assert!(signin_took < Duration::from_millis(2500), "{signin_took:?}");
    eprintln!("frozen: /hello {took:?}, a sign-in 500 in {signin_took:?}");
    proxy.resume();
    let resumed = Instant::now();
    loop {
        let (status, _) = hello(&s).await;
        if status == 200 && sign_in(&s).await.0 == 200 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(10), "recovers after the resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("answering again {:?} after the resume", resumed.elapsed());
    s.stop().await;
}

async fn futures_join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futs.len());
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Poll all together: each is a request on its own connection.
    let results = std::future::poll_fn(|cx| {
        let mut pending = false;
        while out.len() < set.len() {
            out.push(None);
        }
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(std::mem::take(&mut out))
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// An app removed through one instance: the other, which has it cached, answers a write for it
/// with the removing instance's 400 (not a 500 from the foreign key), and every later request
/// too.
#[tokio::test]
async fn app_removed_through_another_instance_is_unknown_at_once() {
    let Some(s1) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    };
    let s2 = TestServer::spawn_on(Backend::Postgres, cheap_hashing(), s1.db_url.clone()).await.unwrap();
    s1.put("/recipe/multitenancy/app/v2", json!({"appId": "gone1"})).await;
    s1.put("/appid-gone1/recipe/multitenancy/tenant/v2", json!({"tenantId": "t1"})).await;
    let signup = |email: &str| json!({"email": email, "password": "pw-123456"});
    // s2 learns the app and its tenant (cached from here on).
    s2.post("/appid-gone1/public/recipe/signup", signup("a@example.com")).await;
    s2.post("/appid-gone1/t1/recipe/signup", signup("b@example.com")).await;

    s1.post("/appid-gone1/recipe/multitenancy/tenant/remove", json!({"tenantId": "t1"})).await;
    let removed = s1.post("/recipe/multitenancy/app/remove", json!({"appId": "gone1"})).await;
    assert_eq!(removed["didExist"], true);
    let expected_tenant =
        s1.status_and_text("POST", "/appid-gone1/t1/recipe/signup", Some(signup("c@example.com"))).await;
    assert_eq!(expected_tenant.0, 400, "{expected_tenant:?}");
    let expected_app = s1.status_and_text("GET", "/appid-gone1/recipe/multitenancy/tenant/list/v2", None).await;
    assert_eq!(expected_app.0, 400, "{expected_app:?}");

    // s2's first write for the removed tenant: the same 400, then reads too.
    let got = s2.status_and_text("POST", "/appid-gone1/t1/recipe/signup", Some(signup("c@example.com"))).await;
    assert_eq!(got, expected_tenant, "the removing instance's answer");
    let got = s2.status_and_text("POST", "/appid-gone1/t1/recipe/signin", Some(signup("b@example.com"))).await;
    assert_eq!(got, expected_tenant, "later requests look the tenant up again");
    let got = s2.status_and_text("GET", "/appid-gone1/recipe/multitenancy/tenant/list/v2", None).await;
    assert_eq!(got, expected_app);
    s2.stop().await;
    s1.stop().await;
}

/// A removed tenant (its app kept) through another instance: a write there is the tenant's 400.
#[tokio::test]
async fn tenant_removed_through_another_instance_is_unknown_at_once() {
    let Some(s1) = TestServer::spawn(Backend::Postgres, cheap_hashing()).await else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    };
    let s2 = TestServer::spawn_on(Backend::Postgres, cheap_hashing(), s1.db_url.clone()).await.unwrap();
    s1.put("/recipe/multitenancy/tenant/v2", json!({"tenantId": "gone2"})).await;
    let signup = |email: &str| json!({"email": email, "password": "pw-123456"});
    s2.post("/gone2/recipe/signup", signup("a@example.com")).await;
    let removed = s1.post("/recipe/multitenancy/tenant/remove", json!({"tenantId": "gone2"})).await;
    assert_eq!(removed["didExist"], true);
    let expected = s1.status_and_text("POST", "/gone2/recipe/signup", Some(signup("b@example.com"))).await;
    assert_eq!(expected.0, 400, "{expected:?}");
    assert!(expected.1.starts_with("AppId or tenantId not found => Tenant"), "{expected:?}");
    let got = s2.status_and_text("POST", "/gone2/recipe/signup", Some(signup("b@example.com"))).await;
    assert_eq!(got, expected);
    // The session recipe's write too.
    let body = json!({"userId": "u1", "userDataInJWT": {}, "userDataInDatabase": {}, "enableAntiCsrf": false});
    let got = s2.status_and_text("POST", "/gone2/recipe/session", Some(body)).await;
    assert_eq!(got.0, 400, "{got:?}");
    s2.stop().await;
    s1.stop().await;
}
