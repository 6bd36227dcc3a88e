#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Two real server processes on one PostgreSQL database: a session created on one is verified
//! and refreshed on the other, and while keys rotate (test mode, a 3.6 s interval) the two never
//! create two keys for the same rotation slot and tokens signed by either verify on both.
//! Needs `ST_TEST_POSTGRES_URL` (set by `cargo xtask test`); skipped without it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_supertokens");
const INTERVAL_MS: i64 = 3600; // 0.001 h
const OVERLAP_MS: i64 = INTERVAL_MS / 2;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: x\r\ncdi-version: 5.4\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql").args([url, "-At", "-c", sql]).output().expect("psql");
    assert!(out.status.success(), "psql failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(db_url: &str, dir: &std::path::Path) -> Server {
    let port = free_port();
    let cfg = dir.join(format!("config-{port}.yaml"));
    std::fs::write(
        &cfg,
        format!(
            "core_config_version: 0\npostgresql_connection_uri: \"{db_url}\"\naccess_token_dynamic_signing_key_update_interval: 0.001\naccess_token_validity: 2\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["start", "--foreground", "--test-mode", "--host=127.0.0.1", &format!("--port={port}")])
        .args([format!("--with-config={}", cfg.display()), format!("--with-temp-dir={}", dir.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server(child, port);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

fn create(port: u16) -> serde_json::Value {
    let (st, v) = http(
        port,
        "POST",
        "/public/recipe/session",
        r#"{"userId":"u1","enableAntiCsrf":false,"userDataInJWT":{},"userDataInDatabase":{}}"#,
    );
    assert_eq!(st, 200, "{v}");
    v
}

fn verify(port: u16, token: &str) -> String {
    let body =
        format!(r#"{{"accessToken":"{token}","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":true}}"#);
    let (_, v) = http(port, "POST", "/recipe/session/verify", &body);
    v["status"].as_str().unwrap_or("").to_string()
}

#[test]
fn two_processes_share_sessions_and_rotate_keys_once_per_slot() {
    let Some(base) = std::env::var("ST_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: ST_TEST_POSTGRES_URL not set");
        return;
    };
    let db = format!("st_multi_{}", std::process::id());
    psql(&base, &format!("DROP DATABASE IF EXISTS {db}"));
    psql(&base, &format!("CREATE DATABASE {db}"));
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{db}");
    let dir = std::env::temp_dir().join(format!("st-multi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = start(&url, &dir);
    let b = start(&url, &dir);
    // The first start populated key_value and the base app and tenant.
    assert!(psql(&url, "SELECT count(*) FROM key_value").trim().parse::<i64>().unwrap() >= 1);
    assert_eq!(psql(&url, "SELECT count(*) FROM tenants WHERE app_id='public' AND tenant_id='public'").trim(), "1");

    // A session from A is known to B, and a refresh on B yields tokens A accepts.
    let s = create(a.1);
    let token = s["accessToken"]["token"].as_str().unwrap();
    assert_eq!(verify(b.1, token), "OK");
    let rt = s["refreshToken"]["token"].as_str().unwrap();
    let (st, r) = http(
        b.1,
        "POST",
        "/public/recipe/session/refresh",
        &format!(r#"{{"refreshToken":"{rt}","enableAntiCsrf":false,"useDynamicSigningKey":true}}"#),
    );
    assert_eq!((st, r["status"].as_str()), (200, Some("OK")), "{r}");
    assert_eq!(verify(a.1, r["accessToken"]["token"].as_str().unwrap()), "OK");

    // Hammer both instances across three rotation intervals.
    let end = Instant::now() + Duration::from_millis(3 * INTERVAL_MS as u64 + 500);
    let mut kids = std::collections::BTreeSet::new();
    while Instant::now() < end {
        for (from, to) in [(a.1, b.1), (b.1, a.1)] {
            let s = create(from);
            let t = s["accessToken"]["token"].as_str().unwrap();
            assert_eq!(verify(to, t), "OK", "a token signed on one instance must verify on the other");
            let header = t.split('.').next().unwrap();
            kids.insert(header.to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(kids.len() >= 3, "keys should have rotated (saw {} signing keys)", kids.len());
    let created: Vec<i64> = psql(&url, "SELECT created_at_time FROM session_access_token_signing_keys ORDER BY 1")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(created.len() >= 3, "{created:?}");
    for pair in created.windows(2) {
        assert!(
            pair[1] - pair[0] >= INTERVAL_MS - OVERLAP_MS,
            "two keys in one rotation slot: {pair:?} (all: {created:?})"
        );
    }
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
    psql(&base, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}
