#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Request bodies and memory (issue 25 item 4), on the real binary: a body over
//! `max_request_body_bytes` is refused while it streams (its announced length alone, or as soon
//! as a chunked body crosses the limit), and the memory of large bodies goes back to the system
//! afterwards (glibc with a fixed mmap threshold, set by the binary running itself again).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_supertokens");

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, extra: &str, env: &[(&str, &str)]) -> Server {
    let dir: PathBuf = std::env::temp_dir().join(format!("st-mem-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, format!("core_config_version: 0\nlog_level: ERROR\n{extra}")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = Command::new(BIN);
    cmd.args(["start", "--foreground", &format!("--with-config={}", cfg.display())])
        .args([format!("--port={port}"), format!("--with-temp-dir={}", dir.display())])
        .env_remove("MALLOC_MMAP_THRESHOLD_")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let server = Server { child, port };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /hello HTTP/1.0\r\n\r\n").unwrap();
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            if r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200") {
                return server;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server did not start");
}

fn status_of(s: &mut TcpStream) -> u16 {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// (VmRSS, VmHWM) in MiB.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn bodies_over_the_limit_are_refused_while_they_stream() {
    let server = start("limit", "max_request_body_bytes: 1048576\n", &[]);
    // Announced too long: refused on the headers, before any byte of the body.
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = "POST /recipe/signup HTTP/1.1\r\nHost: x\r\ncdi-version: 5.4\r\ncontent-type: application/json\r\n\
                content-length: 52428800\r\n\r\n";
    s.write_all(head.as_bytes()).unwrap();
    assert_eq!(status_of(&mut s), 413);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // Chunked, no length: refused once the limit is crossed, while the client still sends.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = "POST /recipe/signup HTTP/1.1\r\nHost: x\r\ncdi-version: 5.4\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0usize;
    // 1.5 MiB, then stop sending (the body is not finished): the answer must come anyway.
    while sent < 1536 * 1024 {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).unwrap();
        s.write_all(&chunk).unwrap();
        s.write_all(b"\r\n").unwrap();
        sent += chunk.len();
    }
    assert_eq!(status_of(&mut s), 413);

    // Within the limit: served.
    let body = format!("{{\"email\":\"a@x.com\",\"password\":\"{}\"}}", "p".repeat(900 * 1024));
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let req = format!(
        "POST /recipe/signup HTTP/1.1\r\nHost: x\r\ncdi-version: 5.4\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    assert_eq!(status_of(&mut s), 200);
}

/// Ten concurrent 9 MiB bodies, twice: the peak grows with them, and what stays held after is
/// close to the idle size (with glibc's dynamic threshold it was hundreds of MiB).
#[test]
fn memory_of_large_bodies_returns_to_the_system() {
    let server = start("rss", "bcrypt_log_rounds: 4\n", &[]);
    let pid = server.child.id();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.split('\0').any(|v| v == "MALLOC_MMAP_THRESHOLD_=131072"), "the same pid runs with the threshold");
    let (idle, _) = rss(pid);
    let body = format!("{{\"email\":\"a@x.com\",\"password\":\"{}\"}}", "p".repeat(9 * 1024 * 1024));
    let body = std::sync::Arc::new(body);
    for round in 0..2 {
        let threads: Vec<_> = (0..10)
            .map(|i| {
                let body = body.clone();
                let port = server.port;
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    let body = body.replace("a@x.com", &format!("u{round}-{i}@x.com"));
                    let req = format!(
                        "POST /recipe/signup HTTP/1.1\r\nHost: x\r\ncdi-version: 5.4\r\n\
                         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    s.write_all(req.as_bytes()).unwrap();
                    s.write_all(body.as_bytes()).unwrap();
                    status_of(&mut s)
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 200);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let (held, peak) = rss(pid);
    assert!(peak > idle + 90, "the bodies were held at once: idle {idle} MiB, peak {peak} MiB");
    assert!(held < idle + 40, "memory returned: idle {idle} MiB, held {held} MiB after a {peak} MiB peak");
}

#[test]
fn an_operators_own_threshold_is_kept() {
    let server = start("own", "", &[("MALLOC_MMAP_THRESHOLD_", "65536")]);
    let environ = std::fs::read(format!("/proc/{}/environ", server.child.id())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.split('\0').any(|v| v == "MALLOC_MMAP_THRESHOLD_=65536"));
}
