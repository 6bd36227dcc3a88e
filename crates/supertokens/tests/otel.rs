//! The real binary with `OTEL_COLLECTOR_CONNECTION_URI` set exports its request and storage
//! spans to a (fake) OTLP/HTTP collector, and flushes them at graceful shutdown: the batch
//! delay (5 s) is longer than the test, so the spans can only arrive through the flush.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_supertokens");

/// Bodies of the POST /v1/traces requests received.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// A minimal OTLP/HTTP collector answering every request with an empty protobuf 200.
fn fake_collector() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let rec = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let rec = rec.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let is_traces = line.starts_with("POST /v1/traces ");
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim_end().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.trim().eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    if is_traces && !body.is_empty() {
                        rec.lock().unwrap().push(body);
                    }
                    let resp = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if out.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, received)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn get(port: u16, path: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn spans_are_exported_and_flushed_at_shutdown() {
    let (collector, received) = fake_collector();
    let dir: PathBuf = std::env::temp_dir().join(format!("st-otel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, "core_config_version: 0\nlog_level: NONE\n").unwrap();
    let port = free_port();
    let spawned = Instant::now();
    let mut child = Command::new(BIN)
        .args(["start", "--foreground", "--host=127.0.0.1", &format!("--port={port}")])
        .args([format!("--with-config={}", cfg.display()), format!("--with-temp-dir={}", dir.display())])
        .env("OTEL_COLLECTOR_CONNECTION_URI", &collector)
        .env("OTEL_SERVICE_NAME", "supertokens-otel-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !(TcpStream::connect(("127.0.0.1", port)).is_ok() && get(port, "/hello") == 200) {
        assert!(start.elapsed() < Duration::from_secs(10), "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get(port, "/hello"), 200);
    if spawned.elapsed() < Duration::from_secs(4) {
        assert!(received.lock().unwrap().is_empty(), "exported before the batch delay or shutdown");
    }

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    let bodies = received.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "no spans were exported");
    let all: Vec<u8> = bodies.concat();
    for needle in ["supertokens-otel-test", "http.request", "/hello", "storage.health_check", "storage.list_tenants"] {
        assert!(contains(&all, needle), "{needle:?} not exported");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
