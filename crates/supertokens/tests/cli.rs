#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The real binary: configuration errors, daemon start / list / stop, environment overrides,
//! graceful SIGTERM, and that debug logs of a whole flow contain no token, password or API key.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_supertokens");
const API_KEY: &str = "test-api-key-0123456789abcdef";

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("st-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("config.yaml");
    std::fs::write(&p, format!("core_config_version: 0\n{extra}")).unwrap();
    p
}

/// Minimal HTTP/1.0 client: (status, body).
fn http(port: u16, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("content-type: application/json\r\n\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn wait_ready(port: u16) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && http(port, "GET", "/hello", None, &[]).0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on {port} did not become ready");
}

#[test]
fn invalid_config_value_stops_startup_with_one_line() {
    let dir = temp_dir("badcfg");
    for (extra, key) in [
        ("access_token_validity: abc\n", "access_token_validity"),
        ("api_keys: short\n", "api_keys"),
        ("log_level: LOUD\n", "log_level"),
        ("postgresql_connection_uri: \"mysql://nope\"\n", "postgresql_connection_uri"),
    ] {
        let cfg = write_config(&dir, extra);
        let out = Command::new(BIN)
            .args(["start", "--foreground", &format!("--with-config={}", cfg.display())])
            .args([format!("--port={}", free_port()), format!("--with-temp-dir={}", dir.display())])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "stderr for {extra}: {err}");
    }
    // Missing core_config_version.
    let p = dir.join("empty.yaml");
    std::fs::write(&p, "port: 1234\n").unwrap();
    let out =
        Command::new(BIN).args(["start", "--foreground", &format!("--with-config={}", p.display())]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("core_config_version"));
    // Environment variables are validated too.
    let cfg = write_config(&dir, "");
    let out = Command::new(BIN)
        .args(["start", "--foreground", &format!("--with-config={}", cfg.display())])
        .env("SUPERTOKENS_PORT", "not-a-port")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("port"));
}

#[test]
fn daemon_start_list_stop_and_env_override() {
    let dir = temp_dir("daemon");
    let cfg = write_config(&dir, "port: 1\n");
    let port = free_port();
    let out = Command::new(BIN)
        .args(["start", &format!("--with-config={}", cfg.display()), &format!("--with-temp-dir={}", dir.display())])
        .env("SUPERTOKENS_PORT", port.to_string())
        .env("API_KEYS", API_KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("Started SuperTokens on localhost:{port} with PID:")), "{stdout}");
    // `start` returned only once /hello answers.
    assert_eq!(http(port, "GET", "/hello", None, &[]).0, 200);
    assert_eq!(http(port, "GET", "/apiversion", None, &[]).0, 401);
    assert_eq!(http(port, "GET", "/apiversion", None, &[("api-key", API_KEY)]).0, 200);
    let list = Command::new(BIN).args(["list", &format!("--with-temp-dir={}", dir.display())]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains(&format!("address: localhost:{port}")) && list.contains("config.yaml"), "{list}");
    // As the reference CLI: an unknown PID is named, exit 1.
    let unknown =
        Command::new(BIN).args(["stop", "--id=1", &format!("--with-temp-dir={}", dir.display())]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stdout).starts_with("Unknown PID: 1. Please use \"supertokens list\""));
    let stop = Command::new(BIN).args(["stop", &format!("--with-temp-dir={}", dir.display())]).output().unwrap();
    assert!(stop.status.success());
    let said = String::from_utf8_lossy(&stop.stdout);
    assert!(said.starts_with("Successfully stopped SuperTokens with PID "), "{said}");
    assert!(said.trim_end().ends_with(&format!(", running on localhost:{port}")), "{said}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "server still listening after stop");
    assert!(!dir.join(".started").join(format!("localhost-{port}")).exists());
    let again = Command::new(BIN).args(["stop", &format!("--with-temp-dir={}", dir.display())]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("No SuperTokens instances are running."));
    let again =
        Command::new(BIN).args(["stop", "--id=7", &format!("--with-temp-dir={}", dir.display())]).output().unwrap();
    assert!(again.status.success(), "nothing running: exit 0 even with --id");
    // Port in use: a clear error and a non-zero exit.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = listener.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["start", "--foreground", "--host=127.0.0.1", &format!("--port={busy}")])
        .args([format!("--with-config={}", cfg.display()), format!("--with-temp-dir={}", dir.display())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error while starting webserver"));
}

fn json_field(body: &str, pointer: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not json: {body}"));
    v.pointer(pointer).and_then(|x| x.as_str()).unwrap_or_else(|| panic!("{pointer} missing in {body}")).to_string()
}

#[test]
fn sigterm_is_graceful_and_debug_logs_hold_no_secrets() {
    let dir = temp_dir("logs");
    let info = dir.join("info.log");
    let error = dir.join("error.log");
    let cfg = write_config(
        &dir,
        &format!(
            "log_level: DEBUG\ninfo_log_path: {}\nerror_log_path: {}\napi_keys: {API_KEY}\nbcrypt_log_rounds: 4\n",
            info.display(),
            error.display()
        ),
    );
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["start", "--foreground", "--host=127.0.0.1", &format!("--port={port}")])
        .args([format!("--with-config={}", cfg.display()), format!("--with-temp-dir={}", dir.display())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port);
    let h = [("api-key", API_KEY), ("cdi-version", "5.4")];
    let password = "Sup3r-Secret-Passw0rd";
    let (st, body) = http(
        port,
        "POST",
        "/public/recipe/signup",
        Some(&format!(r#"{{"email":"log@example.com","password":"{password}"}}"#)),
        &h,
    );
    assert_eq!(st, 200, "{body}");
    let user = json_field(&body, "/user/id");
    let (_, body) = http(
        port,
        "POST",
        "/public/recipe/session",
        Some(&format!(r#"{{"userId":"{user}","enableAntiCsrf":true,"userDataInJWT":{{}},"userDataInDatabase":{{}}}}"#)),
        &h,
    );
    let access = json_field(&body, "/accessToken/token");
    let refresh = json_field(&body, "/refreshToken/token");
    let (_, body) = http(
        port,
        "POST",
        "/public/recipe/session/refresh",
        Some(&format!(r#"{{"refreshToken":"{refresh}","enableAntiCsrf":false,"useDynamicSigningKey":true}}"#)),
        &h,
    );
    let refresh2 = json_field(&body, "/refreshToken/token");
    let (_, body) = http(
        port,
        "POST",
        "/public/recipe/user/password/reset/token",
        Some(&format!(r#"{{"userId":"{user}","email":"log@example.com"}}"#)),
        &h,
    );
    let reset = json_field(&body, "/token");
    let (_, body) = http(
        port,
        "POST",
        "/public/recipe/user/email/verify/token",
        Some(&format!(r#"{{"userId":"{user}","email":"log@example.com"}}"#)),
        &h,
    );
    let verify = json_field(&body, "/token");
    // A request with a token in the query string too.
    http(port, "GET", &format!("/recipe/session?sessionHandle={}", "x"), None, &h);
    // SIGTERM: exits 0 promptly and removes its pid file.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    assert!(!dir.join(".started").join(format!("127.0.0.1-{port}")).exists());
    let logs = format!(
        "{}\n{}",
        std::fs::read_to_string(&info).unwrap_or_default(),
        std::fs::read_to_string(&error).unwrap_or_default()
    );
    assert!(logs.contains("request"), "debug request lines expected in logs: {logs}");
    for secret in [password, API_KEY, &access, &refresh, &refresh2, &reset, &verify] {
        assert!(!logs.contains(secret), "a secret leaked into the logs: {}…", &secret[..8]);
    }
    // The signature part of the access token alone must not appear either.
    let sig = access.rsplit('.').next().unwrap();
    assert!(!logs.contains(sig));
}

/// `docker run IMAGE --with-config=… --port=…` appends to the image's own options: a repeated
/// option does not fail and the later one wins. The reference CLI's Java agent and JMX options
/// are accepted with a warning.
#[test]
fn repeated_and_java_only_options() {
    let dir = temp_dir("repeated");
    let wrong = dir.join("missing.yaml");
    let cfg = write_config(&dir, "");
    let (first, port) = (free_port(), free_port());
    let child = Command::new(BIN)
        .args(["start", "--foreground", "--foreground", &format!("--port={first}"), &format!("--port={port}")])
        .args([format!("--with-config={}", wrong.display()), format!("--with-config={}", cfg.display())])
        .args([format!("--with-temp-dir={}", dir.display()), "--javaagent".into(), "--jmx-port=9010".into()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(port);
    assert_eq!(http(port, "GET", "/hello", None, &[]).0, 200);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Ignoring --javaagent, --jmx-port"), "{err}");
}
