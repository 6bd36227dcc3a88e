//! `cargo xtask` — developer and CI tasks for the SuperTokens Core re-implementation.
//!
//! Deliberately std-only (no dependencies) so it compiles in a couple of seconds.
//!
//! Commands:
//! * `cargo xtask test [ARGS…]` — `cargo fmt --check`, `cargo clippy --workspace --all-targets
//!   -- -D warnings`, then a throw-away PostgreSQL cluster, `cargo test --workspace`, then
//!   `tests/sdk/run.sh` if present (then its ES256 and EdDSA passes, [`test_cmd::step_sdk_signing_alg`]);
//!   the cluster is always torn down.
//! * `cargo xtask pg` — start a throw-away cluster, print its URL, tear down on Enter / EOF.
//! * `cargo xtask bench <name> [ARGS…]` — benchmarks, see [`BENCHMARKS`].
//! * `cargo xtask help`
//!
//! Linux only (uses `/proc`, `apt-get`, `runuser`, `kill`).

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitCode, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Errors are plain messages; they are printed as `xtask: error: …`.
type Result<T, E = String> = std::result::Result<T, E>;

/// Environment variable through which tests receive the PostgreSQL server URL
/// (tests create their own databases on it). If the caller already set it, no cluster is started.
const PG_URL_ENV: &str = "ST_TEST_POSTGRES_URL";

/// Optional override of the directory holding `initdb` / `pg_ctl`.
const PG_BIN_ENV: &str = "ST_PG_BIN_DIR";

/// Print a progress line prefixed with `xtask:` (to stderr, like cargo's own progress).
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("xtask: {}", format_args!($($arg)*)) };
}

// Declared after `say!` so that they can use it.
mod baseline;
mod bench_apiversion;
mod bench_bulkimport;
mod bench_flow;
mod bench_linking;
mod bench_oauth;
mod bench_passkey;
mod bench_passwordless;
mod bench_saml;
mod bench_session;
mod bench_tenants;
mod bench_thirdparty;
mod bench_totp;
mod bench_users;
mod cluster;
mod faults;
mod pg;
mod test_cmd;
mod util;
mod wrk;

use cluster::{ensure_build_packages, ensure_postgres_installed, is_root, PgCluster};
use test_cmd::{cmd_test, run_step, StepResult};

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let result = match args.first().map(String::as_str) {
        Some("test") => cmd_test(rest),
        Some("run") => cmd_run(rest),
        Some("pg") => cmd_pg(),
        Some("bench") => cmd_bench(rest),
        Some("faults") => faults::run(rest),
        None | Some("help" | "-h" | "--help") => {
            print_help();
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}` (see `cargo xtask help`)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            say!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask run [ARGS]`: the quick start's first command. Installs the Debian packages the
/// build needs when missing (as `test` does), then runs the release server in memory on
/// :3567 in the foreground with `config.yaml` (ARGS replace `--with-config=config.yaml`).
fn cmd_run(extra: &[String]) -> Result<()> {
    let root = repo_root();
    ensure_build_packages()?;
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args(["run", "--release", "-p", "supertokens", "--", "start", "--foreground"]);
    if extra.is_empty() {
        cmd.arg("--with-config=config.yaml");
    } else {
        cmd.args(extra);
    }
    let status = cmd.status().map_err(|e| format!("cargo run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the server exited with {status}"))
    }
}

fn print_help() {
    use pg::BENCH_PG_URL_ENV;
    let benches: String = BENCHMARKS.iter().map(|(name, about, _)| format!("      {name:<12} {about}\n")).collect();
    print!(
        "\
cargo xtask <command>

Commands:
  run [ARGS...]         Install the Debian packages the build needs (SAML's libxmlsec1) when
                        missing, then run the release server in memory in the foreground
                        (`supertokens start --foreground --with-config=config.yaml`, or ARGS).
  test [ARGS...]        Start a throw-away PostgreSQL cluster, export {PG_URL_ENV}, run
                        `cargo test --workspace --locked ARGS...`, then (if executable)
                        tests/sdk/run.sh with ST_BIN=target/debug/supertokens (then its ES256
                        and EdDSA passes: a subset of flows and releases). The cluster is
                        always torn down. ARGS are appended verbatim to `cargo test`, e.g.
                        `cargo xtask test -- --nocapture` or `cargo xtask test -p st-core`.
                        If {PG_URL_ENV} is already set, that server is used instead.
  pg                    Start a throw-away cluster, print its URL, and wait for Enter / EOF
                        (Ctrl-C also cleans up, within about a second).
  faults [--quick] [ARGS] The fault suite (PostgreSQL stopped / frozen, kill -9, three instances,
                        concurrent refreshes, fuzz); exits non-zero when an invariant fails.
                        See xtask/src/faults/mod.rs for ARGS.
  bench <name> [ARGS]   Run a benchmark. Available:
{benches}  help                  This text.

Environment:
  {PG_URL_ENV}  use this PostgreSQL server instead of starting one
  {PG_BIN_ENV}         directory with initdb/pg_ctl (default: newest /usr/lib/postgresql/*/bin)
  {BENCH_PG_URL_ENV}  PostgreSQL server for `bench session|users` (a database is created on
                        it and dropped); default: a throw-away cluster as for `pg`
  CARGO_TARGET_DIR      honoured when locating built binaries
"
    );
}

// ---------------------------------------------------------------------------------------------
// `cargo xtask pg`
// ---------------------------------------------------------------------------------------------

/// `cargo xtask pg`: start a cluster, print the URL, wait for Enter / EOF, tear down.
fn cmd_pg() -> Result<()> {
    let cluster = PgCluster::start()?;
    let url = cluster.url();
    println!("{url}");
    say!("export {PG_URL_ENV}={url}");
    say!("psql \"{url}\"");
    say!("press Enter (or Ctrl-D) to stop and delete the cluster; Ctrl-C also cleans up");
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    drop(cluster);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// `cargo xtask bench`
// ---------------------------------------------------------------------------------------------

/// A benchmark entry point; receives the arguments after its name.
type BenchFn = fn(&[String]) -> Result<()>;

/// The benchmark table: (name, one-line description, entry point). Add new benchmarks here.
const BENCHMARKS: &[(&str, &str, BenchFn)] = &[
    (
        "startup",
        "release binary, in-memory: spawn -> first 200 on /hello, idle RSS [--runs N] [-- server args]",
        bench_startup,
    ),
    (
        "apiversion",
        "GET /apiversion vs a bare actix-web handler, alternating [--duration 10] [--rounds 3] [--conns 64]",
        bench_apiversion::run,
    ),
    (
        "session",
        "create/refresh/verify (memory, PostgreSQL) vs bare /sign, /verify, pgbench [--duration 5] [--rounds 3] [--conns 1,16,64] [--backends memory,postgres] [--server-config 'key: value;…'] [--ceiling-alg RS256|ES256: bare /sign-es256, /verify-es256 and RS256 /verify beside them] [--server-bin PATH] [--baseline-bin PATH]",
        bench_session::run,
    ),
    (
        "users",
        "PostgreSQL with 100k/1M users: listing latency, EXPLAIN, sign-in/sign-up vs raw bcrypt [--duration 10] [--requests 200] [--sizes 100000,1000000] [--signin-conns 2,16] [--timeout 30] [--budget 300]",
        bench_users::run,
    ),
    ("linking", "PostgreSQL: e-mail-password sign-in as supertokens-node 24 sends it with automatic account linking vs without, 16 clients: overhead ms and ratio [--duration 5] [--rounds 3] [--conns 16] [--users 500] [--bcrypt-log-rounds 4] [--server-bin PATH] [--server-config 'key: value;…']", bench_linking::run),
    ("bulkimport", "PostgreSQL: bulk import of 1M users (a mix of hash kinds and login methods) through the queue and the job: users/s, peak RSS, sign-in p50/p99 while it runs, beside a COPY of the same rows [--users 1000000] [--batch 10000] [--server-bin PATH] [--server-config 'key: value;…']", bench_bulkimport::run),
    ("passwordless", "PostgreSQL: passwordless create-code + consume vs pgbench running its SQL [--duration 5] [--rounds 3] [--conns 1,16,64] [--server-bin PATH] [--server-config 'key: value;…']", bench_passwordless::run),
    ("oauth", "OAuth2 client-credentials token issuance vs bare RS256 /sign, introspection vs bare /verify [--store memory|postgres] [--duration 5] [--rounds 3] [--conns 16] [--server-bin PATH] [--baseline-bin PATH] [--server-config 'key: value;…']", bench_oauth::run),
    ("thirdparty", "PostgreSQL: third-party sign-in-up (new and returning users) vs pgbench running its SQL [--duration 5] [--rounds 3] [--conns 16] [--server-bin PATH] [--server-config 'key: value;…']", bench_thirdparty::run),
    ("totp", "PostgreSQL: POST /recipe/totp/verify (a valid code, each once) vs pgbench running its SQL [--duration 5] [--rounds 3] [--conns 16] [--users-per-run N] [--server-bin PATH] [--server-config 'key: value;…']", bench_totp::run),
    ("passkey", "passkey sign-in (options/signin + signin, a fresh ES256 assertion each; memory, PostgreSQL) vs a bare handler doing the same signature check [--duration 5] [--rounds 3] [--conns 1,16] [--users 1000] [--backends memory,postgres] [--server-bin PATH] [--client-bin PATH] [--server-config 'key: value;…']", bench_passkey::run),
    ("saml", "SAML callback (IdP-initiated, signed assertions made ahead by st-bench-baseline saml-make; memory, PostgreSQL) rps/p50/p99 and the per-response verification cost [--duration 5] [--rounds 1] [--conns 1,16] [--count 10000] [--backends memory,postgres] [--server-bin PATH] [--baseline-bin PATH] [--server-config 'key: value;…']", bench_saml::run),
    ("tenants", "PostgreSQL, 100k tenants in one app: creation rate, RSS, start-up, sign-in/verify p99 vs 1 tenant [--tenants 100000] [--create-conns 4] [--users 100] [--duration 10] [--rounds 3] [--signin-conns 2] [--verify-conns 16] [--server-bin PATH]", bench_tenants::run),
];

/// `cargo xtask bench <name> [ARGS…]`: dispatch through [`BENCHMARKS`].
fn cmd_bench(args: &[String]) -> Result<()> {
    let list = || BENCHMARKS.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ");
    let Some(name) = args.first() else {
        return Err(format!("usage: cargo xtask bench <name> [ARGS...]; benchmarks: {}", list()));
    };
    match BENCHMARKS.iter().find(|(n, _, _)| n == name) {
        Some((_, _, run)) => run(&args[1..]),
        None => Err(format!("unknown benchmark `{name}` (available: {})", list())),
    }
}

/// `startup`: builds the release binary, then N times (default 10) measures the time from
/// spawning `supertokens start --foreground` (in-memory) to the first HTTP 200 on `GET /hello`
/// (polled every 2 ms) and the idle RSS 1 s after readiness.
fn bench_startup(args: &[String]) -> Result<()> {
    let mut runs = 10usize;
    let mut server_args: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs needs a positive number")?;
            }
            "--" => server_args.extend(it.by_ref().cloned()),
            other => return Err(format!("startup: unknown argument `{other}`")),
        }
    }

    let root = repo_root();
    let bin = build_release_supertokens(&root)?;
    let uptime_before = util::uptime();
    let mut ready_ms = Vec::with_capacity(runs);
    let mut rss_mib = Vec::with_capacity(runs);
    for i in 1..=runs {
        let mut server = Server::spawn(&bin, &server_args)?;
        let ready = server.wait_ready(Duration::from_secs(60))?;
        thread::sleep(Duration::from_secs(1));
        let rss = server.rss_kib()?;
        let stopped = server.stop()?;
        ready_ms.push(ready.as_secs_f64() * 1000.0);
        rss_mib.push(rss as f64 / 1024.0);
        say!(
            "run {i}/{runs}: ready in {:.1} ms, idle RSS {:.1} MiB, stopped with {stopped}",
            ready.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0
        );
    }

    let t = Stats::of(&ready_ms);
    let m = Stats::of(&rss_mib);
    println!("uptime before: {uptime_before}");
    println!("uptime after:  {}", util::uptime());
    println!("startup to first 200 on /hello: median {:.1} ms (min {:.1}, max {:.1})", t.median, t.min, t.max);
    println!("idle RSS after 1 s:             median {:.1} MiB (min {:.1}, max {:.1})", m.median, m.min, m.max);
    println!();
    println!("| benchmark | runs | startup median | startup min-max | idle RSS median | idle RSS min-max |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| startup (release, in-memory) | {runs} | {:.1} ms | {:.1}-{:.1} ms | {:.1} MiB | {:.1}-{:.1} MiB |",
        t.median, t.min, t.max, m.median, m.min, m.max
    );
    Ok(())
}

/// `cargo build --release -p supertokens`; returns the path of the binary.
fn build_release_supertokens(root: &Path) -> Result<PathBuf> {
    build_release(root, "supertokens", "supertokens")
}

/// `cargo build --release -p <package>`; returns the path of binary `bin`.
fn build_release(root: &Path, package: &str, bin: &str) -> Result<PathBuf> {
    ensure_build_packages()?;
    let mut cmd = cargo(root);
    cmd.args(["build", "--release", "-p", package]);
    if root.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    say!("$ {}", show_cmd(&cmd));
    let t = Instant::now();
    let st = cmd.status().map_err(|e| format!("running cargo: {e}"))?;
    if !st.success() {
        return Err(format!("cargo build --release -p {package} failed: {st}"));
    }
    say!("release build done ({})", secs(t.elapsed()));
    let bin = target_dir(root).join("release").join(bin);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} not found after the build", bin.display()))
    }
}

/// A `supertokens start --foreground` process on a free port, with its own temp dir holding its
/// `config.yaml` (by default the minimal one: in-memory storage), the `--with-temp-dir` and
/// `server.log` (stdout+stderr). Dropping it kills the process (SIGKILL) and removes the dir.
struct Server {
    child: Child,
    port: u16,
    spawned_at: Instant,
    dir: TempDir,
}

impl Server {
    /// Spawn `<bin> start --foreground --port=<free> --host=127.0.0.1 --with-config=…
    /// --with-temp-dir=… EXTRA…`. Timing for [`Server::wait_ready`] starts just before spawning.
    fn spawn(bin: &Path, extra: &[String]) -> Result<Self> {
        Self::spawn_with_config(bin, "core_config_version: 0\n", extra)
    }

    /// Like [`Server::spawn`] with `config` as the content of `config.yaml`.
    fn spawn_with_config(bin: &Path, config_text: &str, extra: &[String]) -> Result<Self> {
        let dir = TempDir::new("st-bench")?;
        let config = dir.path().join("config.yaml");
        fs::write(&config, config_text).map_err(|e| format!("writing {}: {e}", config.display()))?;
        let log_path = dir.path().join("server.log");
        let log = fs::File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("start")
            .arg("--foreground")
            .arg(format!("--port={port}"))
            .arg("--host=127.0.0.1")
            .arg(with_path("--with-config=", &config))
            .arg(with_path("--with-temp-dir=", dir.path()))
            .args(extra)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let spawned_at = Instant::now();
        let child = cmd.spawn().map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        Ok(Server { child, port, spawned_at, dir })
    }

    /// Poll `GET /hello` every 2 ms until it answers 200; returns the time since spawn.
    fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        match wait_for_http_200(self.port, "/hello", Duration::from_millis(2), timeout, Some(&mut self.child)) {
            Ok(()) => Ok(self.spawned_at.elapsed()),
            Err(e) => Err(format!("{e}\n--- server log ---\n{}", self.log_tail(30))),
        }
    }

    /// Resident set size in KiB (`VmRSS` from `/proc/<pid>/status`).
    fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.child.id())
    }

    /// `http://127.0.0.1:<port><path>`.
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// SIGTERM (via `kill`), wait up to 10 s, then SIGKILL. Returns the exit status.
    fn stop(mut self) -> Result<ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Ok(st),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    say!("warning: server did not exit within 10 s of SIGTERM; killing it");
                    let _ = self.child.kill();
                    return self.child.wait().map_err(|e| e.to_string());
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        tail(&fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default(), lines)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident set size of a process in KiB (`VmRSS` from `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> Result<u64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// Median / min / max of a non-empty sample.
struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(xs: &[f64]) -> Stats {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        };
        Stats { median, min: v.first().copied().unwrap_or(f64::NAN), max: v.last().copied().unwrap_or(f64::NAN) }
    }
}

// ---------------------------------------------------------------------------------------------
// Reusable helpers (HTTP, ports, temp dirs, commands)
// ---------------------------------------------------------------------------------------------

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, drop).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// A minimal HTTP response.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    /// Raw header block (without the status line), `\r\n`-separated.
    headers: String,
    /// Body, de-chunked if the response used chunked transfer encoding.
    body: Vec<u8>,
}

impl HttpResponse {
    /// Value of the first header named `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.split("\r\n").find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// `GET path` on 127.0.0.1:port over a raw HTTP/1.1 connection (`Connection: close`).
/// `timeout` applies to connect, each read and each write.
fn http_get(port: u16, path: &str, timeout: Duration) -> io::Result<HttpResponse> {
    http_request(port, "GET", path, &[], None, timeout)
}

/// One raw HTTP/1.1 request on 127.0.0.1:port with `Connection: close`. `headers` are extra
/// `(name, value)` pairs; a body gets a `Content-Length`.
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;

    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    if let Some(b) = body {
        let _ = write!(req, "Content-Length: {}\r\n", b.len());
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or(&[]));
    stream.write_all(&bytes)?;

    // Read the head, then the body by Content-Length if given, else to EOF.
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before end of headers"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let (status_line, header_block) = head.split_once("\r\n").unwrap_or((&head, ""));
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}")))?;
    let mut resp = HttpResponse { status, headers: header_block.to_string(), body: buf[head_end + 4..].to_vec() };

    let content_length = resp.header("content-length").and_then(|v| v.parse::<usize>().ok());
    let chunked = resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if method == "HEAD" || status == 204 || status == 304 {
        resp.body.clear();
    } else if let (Some(len), false) = (content_length, chunked) {
        while resp.body.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
        resp.body.truncate(len);
    } else {
        stream.read_to_end(&mut resp.body)?;
        if chunked {
            resp.body = dechunk(&resp.body)?;
        }
    }
    Ok(resp)
}

/// Decode a chunked transfer-encoded body (trailers ignored).
fn dechunk(mut raw: &[u8]) -> io::Result<Vec<u8>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked encoding");
    let mut out = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n").ok_or_else(bad)?;
        let size_str = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad())?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if raw.len() < size + 2 {
            return Err(bad());
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Poll `GET path` every `interval` until it returns 200, the `timeout` passes, or (if given)
/// `child` exits.
fn wait_for_http_200(
    port: u16,
    path: &str,
    interval: Duration,
    timeout: Duration,
    mut child: Option<&mut Child>,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match http_get(port, path, Duration::from_secs(2)) {
            Ok(r) if r.status == 200 => return Ok(()),
            Ok(r) => format!("HTTP {}", r.status),
            Err(e) => e.to_string(),
        };
        if let Some(c) = child.as_deref_mut() {
            if let Ok(Some(st)) = c.try_wait() {
                return Err(format!("server exited ({st}) before GET {path} returned 200"));
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("GET {path} on port {port} not 200 after {timeout:?} (last: {last})"));
        }
        thread::sleep(interval);
    }
}

/// A uniquely named temp directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = env::temp_dir().join(format!("{prefix}-{}-{n}", process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).map_err(|e| format!("creating {}: {e}", p.display()))?;
        Ok(TempDir(p))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Workspace root (the parent of this crate's directory).
fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo target directory: `$CARGO_TARGET_DIR` (relative to the root) or `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

/// A `cargo` command (the one running us, via `$CARGO`) in the workspace root.
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Run a command capturing its output; on failure the error includes stdout/stderr.
fn run_quiet(cmd: &mut Command) -> Result<()> {
    let shown = show_cmd(cmd);
    let out: Output = cmd.stdin(Stdio::null()).output().map_err(|e| format!("could not run `{shown}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{shown}` failed ({})\n{}{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 20),
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        ))
    }
}

/// `prefix` followed by a path, as one argument.
fn with_path(prefix: &str, p: &Path) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(p.as_os_str());
    s
}

/// Human-readable command line, for progress messages.
fn show_cmd(cmd: &Command) -> String {
    let quote = |s: &OsStr| {
        let s = s.to_string_lossy();
        if s.is_empty() || s.contains([' ', '"', '\'']) {
            format!("{s:?}")
        } else {
            s.into_owned()
        }
    };
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(quote).collect::<Vec<_>>().join(" ")
}

/// Last `n` lines of `s`, newline-terminated.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Duration as seconds with one decimal, e.g. `12.3s`.
fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
