//! `cargo xtask faults`: the fault suite (issue 25 item 6). Each scenario runs the server
//! binary (`--server-bin`, default the debug build `target/debug/supertokens`, built first)
//! against a throw-away PostgreSQL cluster of its own (so that it can be stopped and frozen),
//! puts it under load and injects one fault:
//!
//! * `stop` — N clients sign up, create sessions and refresh them; PostgreSQL is stopped
//!   (`pg_ctl -m fast stop`) for a few seconds and started again. Errors may only come during
//!   the outage; the server recovers by itself; every acknowledged write is there afterwards.
//! * `freeze` — the same load; every process of the cluster (postmaster and backends) gets
//!   SIGSTOP, then SIGCONT. No request waits longer than the configured bounds
//!   (`postgresql_request_timeout`, plus a slack for a loaded box), `/hello` answers within 1 s
//!   throughout, the server recovers after SIGCONT, no acknowledged write is lost.
//! * `kill` — the same load; the server gets SIGKILL, a new one is started on the same
//!   database: every write acknowledged before the kill is there, and the new server serves the
//!   old sessions (their last access token verifies, their last refresh token refreshes).
//! * `instances` — three instances started together on an empty database: refinery's history
//!   has each migration once, one dynamic signing key and one static key per algorithm exist
//!   after sessions were created on all three at once, and a session created on one instance
//!   verifies and refreshes on the others.
//! * `refresh` — concurrent refreshes of one refresh token on the three instances, asserted
//!   against the reference's semantics (docs: ../shared/reference/core-behaviour.md §c.5; the
//!   reference's `Session.refreshSessionHelper`):
//!   - CDI ≤ 5.4: the row is not written when the current token is refreshed, so concurrent
//!     refreshes of one still-valid token all succeed; the first use of one of its children
//!     promotes that child, after which the old token and every sibling child answer
//!     `TOKEN_THEFT_DETECTED` (the session is not revoked: the promoted child still refreshes);
//!     sibling children refreshed at once: exactly one succeeds, the others are thefts;
//!     one child refreshed at once on every instance: all succeed (one promotion, then the
//!     promoted token is the current one).
//!   - CDI 5.6: each refresh rotates; concurrent refreshes of the current token all succeed
//!     (one rotation, the others re-rotations of the previous token within the grace period),
//!     exactly one of the children is then the session's current token (checked in the
//!     database), a displaced child is `TOKEN_THEFT_DETECTED` (`ORPHANED_BRANCH`) and revokes
//!     the session; the previous token after the grace period is `RECENT_PREV` theft.
//! * `fuzz` — the fuzz pass (`cargo test -p st-tests --test http fuzz::every_route`, both
//!   backends): its request and 5xx counts (it fails on any 5xx).
//!
//! For each fault: requests sent, errors by status, the longest wait, the time to recover
//! and the writes lost. An invariant that fails makes the command exit non-zero.
//! `--quick` (what `cargo xtask test` runs) shortens the load and the faults and leaves out the
//! fuzz pass (`cargo test` runs it already).

use crate::pg::{psql, BENCH_PG_URL_ENV};
use crate::util::{json_str, uptime, Flags};
use crate::{cargo, http_request, repo_root, run_step, secs, target_dir, PgCluster, Result, Server, StepResult};
use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// Every scenario, in the order they run.
const SCENARIOS: &[&str] = &["stop", "freeze", "kill", "instances", "refresh", "fuzz"];

/// The password of every user.
const PASSWORD: &str = "fault-password-1";

/// Each load client's requests are sent with this timeout: far above every bound, so that the
/// longest wait measured is the server's.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// `/hello` must answer within this, whatever the database does (issue 25 item 2).
const HELLO_BOUND: Duration = Duration::from_secs(1);

/// What the server under test is given for its PostgreSQL waits (ms).
const CONNECTION_TIMEOUT_MS: u64 = 1000;
const REQUEST_TIMEOUT_MS: u64 = 3000;
/// Slack over the request bound for the longest wait (the box is shared and the build is a
/// debug one: CPU time after the database wait, scheduling).
const WAIT_SLACK: Duration = Duration::from_millis(1500);

/// The step `cargo xtask test` runs: `cargo xtask faults --quick`.
pub fn test_step(root: &Path) -> StepResult {
    let exe = env::current_exe().unwrap_or_else(|_| PathBuf::from("cargo-xtask"));
    let mut cmd = Command::new(exe);
    cmd.current_dir(root).args(["faults", "--quick"]);
    run_step("fault suite (quick)", &mut cmd)
}

/// Durations and sizes of one run.
struct Plan {
    quick: bool,
    clients: usize,
    /// Load before the fault.
    before: Duration,
    /// How long PostgreSQL stays stopped / frozen.
    outage: Duration,
    freeze: Duration,
    /// Load after the fault ends.
    after: Duration,
}

pub fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let rest: Vec<String> = args.iter().filter(|a| *a != "--quick").cloned().collect();
    let flags = Flags::parse(
        "faults",
        &rest,
        &["--scenarios", "--clients", "--before", "--outage", "--freeze", "--after", "--server-bin"],
    )?;
    let default_scenarios: Vec<&str> =
        if quick { SCENARIOS.iter().copied().filter(|s| *s != "fuzz").collect() } else { SCENARIOS.to_vec() };
    let scenarios = flags.word_list("--scenarios", &default_scenarios);
    if let Some(bad) = scenarios.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        return Err(format!("faults: unknown scenario `{bad}` (known: {})", SCENARIOS.join(", ")));
    }
    let plan = Plan {
        quick,
        clients: flags.num("--clients", if quick { 4 } else { 8 })?,
        before: Duration::from_secs(flags.seconds("--before", if quick { 2 } else { 5 })?),
        outage: Duration::from_secs(flags.seconds("--outage", if quick { 2 } else { 3 })?),
        freeze: Duration::from_secs(flags.seconds("--freeze", if quick { 6 } else { 10 })?),
        after: Duration::from_secs(flags.seconds("--after", if quick { 3 } else { 5 })?),
    };
    if plan.clients == 0 {
        return Err("faults: --clients must be positive".into());
    }
    if env::var(BENCH_PG_URL_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        say!("note: {BENCH_PG_URL_ENV} is ignored: the faults need a cluster of their own to stop and freeze");
    }

    let root = repo_root();
    let started = Instant::now();
    let bin = match flags.raw("--server-bin") {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(format!("--server-bin: {} is not a file", p.display()));
            }
            // The servers run in directories of their own.
            p.canonicalize().map_err(|e| format!("--server-bin: {}: {e}", p.display()))?
        }
        None => build_debug(&root)?,
    };
    say!("server binary {}", bin.display());
    let uptime_before = uptime();
    let cluster = PgCluster::start()?;
    let mut reports: Vec<Report> = Vec::new();
    let mut trio: Option<Trio> = None;
    for name in &scenarios {
        say!("--- scenario {name} ---");
        let t = Instant::now();
        let report = match name.as_str() {
            "stop" => scenario_stop(&bin, &cluster, &plan),
            "freeze" => scenario_freeze(&bin, &cluster, &plan),
            "kill" => scenario_kill(&bin, &cluster, &plan),
            "instances" => scenario_instances(&bin, &cluster, &mut trio),
            "refresh" => scenario_refresh(&bin, &cluster, &mut trio),
            _ => scenario_fuzz(&root, &cluster),
        };
        let report = report.unwrap_or_else(|e| Report::broken(name, e));
        say!("scenario {name}: {} ({})", if report.failures.is_empty() { "ok" } else { "FAILED" }, secs(t.elapsed()));
        report.print();
        reports.push(report);
    }
    drop(trio);
    drop(cluster);

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {}", uptime());
    println!(
        "mode: {}, {} clients, total {}",
        if plan.quick { "quick" } else { "full" },
        plan.clients,
        secs(started.elapsed())
    );
    let failures: Vec<String> =
        reports.iter().flat_map(|r| r.failures.iter().map(move |f| format!("{}: {f}", r.name))).collect();
    if failures.is_empty() {
        say!("fault suite: every invariant held ({} scenarios)", reports.len());
        Ok(())
    } else {
        for f in &failures {
            say!("FAILED {f}");
        }
        Err(format!("{} invariant(s) failed", failures.len()))
    }
}

/// `cargo build -p supertokens` (debug); returns `target/debug/supertokens`.
fn build_debug(root: &Path) -> Result<PathBuf> {
    let mut cmd = cargo(root);
    cmd.args(["build", "-p", "supertokens"]);
    if root.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    let st = cmd.status().map_err(|e| format!("running cargo: {e}"))?;
    if !st.success() {
        return Err(format!("cargo build -p supertokens failed: {st}"));
    }
    let bin = target_dir(root).join("debug").join("supertokens");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} not found after the build", bin.display()))
    }
}

/// `config.yaml` of a server under test on `db_url`; `bounded`: with the short PostgreSQL
/// bounds of [`CONNECTION_TIMEOUT_MS`] and [`REQUEST_TIMEOUT_MS`] (else the defaults, 5 s and
/// 30 s).
fn server_config(db_url: &str, bounded: bool, extra: &str) -> String {
    let bounds = if bounded {
        format!(
            "postgresql_connection_timeout: {CONNECTION_TIMEOUT_MS}\npostgresql_request_timeout: {REQUEST_TIMEOUT_MS}\n"
        )
    } else {
        String::new()
    };
    format!(
        "core_config_version: 0\npostgresql_connection_uri: \"{db_url}\"\nbcrypt_log_rounds: 4\nlog_level: ERROR\n\
         {bounds}{extra}"
    )
}

/// A server on `config`, ready, with the app's signing keys made (a first session), so that
/// the load measures the fault and not the first key generation.
fn start_server(bin: &Path, config: &str) -> Result<Server> {
    let mut server = Server::spawn_with_config(bin, config, &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    let (o, text) = call(server.port, "5.4", "POST", "/recipe/session", Some(&session_body("warm-up")), CLIENT_TIMEOUT);
    if o != Outcome::Ok {
        return Err(format!("the first session: {} {text}", o.label()));
    }
    Ok(server)
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// What one request got.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// HTTP 200 with `"status":"OK"` (or `/hello`'s 200).
    Ok,
    /// HTTP 200 with another `status` (a business outcome).
    Business(String),
    /// Another HTTP status.
    Status(u16),
    /// No answer: refused, reset, timed out.
    NoAnswer(String),
}

impl Outcome {
    fn label(&self) -> String {
        match self {
            Outcome::Ok => "OK".into(),
            Outcome::Business(s) => s.clone(),
            Outcome::Status(s) => s.to_string(),
            Outcome::NoAnswer(kind) => format!("no answer ({kind})"),
        }
    }
}

/// One request sent: when (since the scenario's start), how long it took, what it got.
#[derive(Clone, Debug)]
struct Sample {
    sent: Duration,
    took: Duration,
    outcome: Outcome,
    /// The start of the answer's body, for errors of the load.
    detail: String,
}

impl Sample {
    fn done(&self) -> Duration {
        self.sent + self.took
    }
}

/// A POST (or a GET when `body` is `None`) with the CDI version; returns the outcome and the body.
fn call(port: u16, cdi: &str, method: &str, path: &str, body: Option<&str>, timeout: Duration) -> (Outcome, String) {
    let headers = [("content-type", "application/json"), ("cdi-version", cdi)];
    match http_request(port, method, path, &headers, body.map(str::as_bytes), timeout) {
        Ok(r) => {
            let text = String::from_utf8_lossy(&r.body).into_owned();
            let outcome = if r.status != 200 {
                Outcome::Status(r.status)
            } else if path == "/hello" || text.contains("\"status\":\"OK\"") {
                Outcome::Ok
            } else {
                Outcome::Business(json_str(&text, "", "status").unwrap_or_else(|| "200 without status".into()))
            };
            (outcome, text)
        }
        Err(e) => {
            let kind = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "refused".to_string(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => "reset".to_string(),
                std::io::ErrorKind::UnexpectedEof => "closed".to_string(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".to_string(),
                other => format!("{other:?}"),
            };
            (Outcome::NoAnswer(kind), String::new())
        }
    }
}

fn signup_body(email: &str) -> String {
    format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#)
}

fn session_body(user_id: &str) -> String {
    format!(
        r#"{{"userId":"{user_id}","userDataInJWT":{{}},"userDataInDatabase":{{}},"enableAntiCsrf":false,"useDynamicSigningKey":true}}"#
    )
}

fn static_session_body(user_id: &str) -> String {
    format!(
        r#"{{"userId":"{user_id}","userDataInJWT":{{}},"userDataInDatabase":{{}},"enableAntiCsrf":false,"useDynamicSigningKey":false}}"#
    )
}

fn refresh_body(token: &str) -> String {
    format!(r#"{{"refreshToken":"{token}","enableAntiCsrf":false,"useDynamicSigningKey":true}}"#)
}

fn verify_body(token: &str) -> String {
    format!(r#"{{"accessToken":"{token}","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":true}}"#)
}

/// The tokens of a session answer (create or refresh).
fn tokens(body: &str) -> Option<(String, String)> {
    Some((json_str(body, "\"accessToken\"", "token")?, json_str(body, "\"refreshToken\"", "token")?))
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// An acknowledged session: its handle, its last acknowledged tokens and the CDI version its
/// client speaks.
#[derive(Clone, Debug)]
struct AckedSession {
    handle: String,
    access: String,
    refresh: String,
    cdi: &'static str,
}

/// What the load clients sent and what was acknowledged.
#[derive(Default)]
struct Ledger {
    samples: Vec<Sample>,
    hello: Vec<Sample>,
    users: Vec<String>,
    sessions: Vec<AckedSession>,
}

/// Load clients and a `/hello` prober, running until [`Load::finish`].
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<thread::JoinHandle<Ledger>>,
    prober: Option<thread::JoinHandle<Vec<Sample>>>,
    t0: Instant,
}

impl Load {
    /// `clients` clients on `port`; even ones speak CDI 5.4 (refresh promotes lazily), odd ones
    /// 5.6 (every refresh rotates, i.e. writes).
    fn start(port: u16, clients: usize, tag: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        let workers = (0..clients)
            .map(|w| {
                let stop = stop.clone();
                let cdi = if w % 2 == 0 { "5.4" } else { "5.6" };
                let tag = format!("{tag}-{w}");
                thread::spawn(move || load_client(port, cdi, &tag, &stop, t0))
            })
            .collect();
        let stop2 = stop.clone();
        let prober = thread::spawn(move || {
            let mut out = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                let sent = t0.elapsed();
                let (outcome, _) = call(port, "5.4", "GET", "/hello", None, Duration::from_secs(10));
                out.push(Sample { sent, took: t0.elapsed() - sent, outcome, detail: String::new() });
                thread::sleep(Duration::from_millis(100));
            }
            out
        });
        Load { stop, workers, prober: Some(prober), t0 }
    }

    /// Time since the load started.
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Stop the clients (each finishes its request in flight) and merge their ledgers.
    fn finish(mut self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Ledger::default();
        for w in self.workers.drain(..) {
            if let Ok(l) = w.join() {
                all.samples.extend(l.samples);
                all.users.extend(l.users);
                all.sessions.extend(l.sessions);
            }
        }
        if let Some(p) = self.prober.take() {
            all.hello = p.join().unwrap_or_default();
        }
        all.samples.sort_by_key(|s| s.sent);
        all
    }
}

/// One load client: sign up a user, create a session for it, refresh it twice; again. A failed
/// step is tried again (after 20 ms) with the same input until it is acknowledged; the refresh
/// uses the last acknowledged refresh token.
fn load_client(port: u16, cdi: &'static str, tag: &str, stop: &AtomicBool, t0: Instant) -> Ledger {
    let mut ledger = Ledger::default();
    let mut n = 0u64;
    let mut pending_user: Option<String> = None;
    let mut current: Option<usize> = None;
    let mut refreshes_left = 0;
    let send = |ledger: &mut Ledger, path: &str, body: &str| -> (Outcome, String) {
        let sent = t0.elapsed();
        let (outcome, text) = call(port, cdi, "POST", path, Some(body), CLIENT_TIMEOUT);
        let detail = if outcome == Outcome::Ok { String::new() } else { text.trim().chars().take(100).collect() };
        ledger.samples.push(Sample { sent, took: t0.elapsed() - sent, outcome: outcome.clone(), detail });
        if outcome != Outcome::Ok {
            thread::sleep(Duration::from_millis(20));
        }
        (outcome, text)
    };
    while !stop.load(Ordering::Relaxed) {
        if let (Some(i), true) = (current, refreshes_left > 0) {
            let token = ledger.sessions[i].refresh.clone();
            let (outcome, text) = send(&mut ledger, "/recipe/session/refresh", &refresh_body(&token));
            if outcome == Outcome::Ok {
                if let Some((access, refresh)) = tokens(&text) {
                    let s = &mut ledger.sessions[i];
                    s.access = access;
                    s.refresh = refresh;
                }
                refreshes_left -= 1;
            }
        } else if let Some(user) = pending_user.clone() {
            let (outcome, text) = send(&mut ledger, "/recipe/session", &session_body(&user));
            if outcome == Outcome::Ok {
                let handle = json_str(&text, "\"session\"", "handle");
                if let (Some(handle), Some((access, refresh))) = (handle, tokens(&text)) {
                    ledger.sessions.push(AckedSession { handle, access, refresh, cdi });
                    current = Some(ledger.sessions.len() - 1);
                    refreshes_left = 2;
                }
                pending_user = None;
            }
        } else {
            n += 1;
            let email = format!("{tag}-{n}@example.com");
            let (outcome, text) = send(&mut ledger, "/recipe/signup", &signup_body(&email));
            if outcome == Outcome::Ok {
                if let Some(id) = json_str(&text, "\"user\"", "id") {
                    ledger.users.push(id.clone());
                    pending_user = Some(id);
                }
            }
        }
    }
    ledger
}

// ---------------------------------------------------------------------------------------------
// Figures and checks
// ---------------------------------------------------------------------------------------------

/// One scenario's figures, printed as a table, and its failed invariants.
struct Report {
    name: String,
    /// (column, value) of the scenario's table row.
    row: Vec<(String, String)>,
    notes: Vec<String>,
    failures: Vec<String>,
}

impl Report {
    fn new(name: &str) -> Report {
        Report { name: name.into(), row: Vec::new(), notes: Vec::new(), failures: Vec::new() }
    }

    fn broken(name: &str, error: String) -> Report {
        let mut r = Report::new(name);
        r.failures.push(format!("the scenario could not run: {error}"));
        r
    }

    fn cell(&mut self, column: &str, value: impl Into<String>) {
        self.row.push((column.into(), value.into()));
    }

    fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        say!("  {note}");
        self.notes.push(note);
    }

    /// Record an invariant: `ok`, or a failure described by `what`.
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            say!("  INVARIANT FAILED: {what}");
            self.failures.push(what);
        }
    }

    fn print(&self) {
        let mut out = String::new();
        let _ = writeln!(out, "\n#### {}\n", self.name);
        if !self.row.is_empty() {
            let _ = writeln!(out, "| {} |", self.row.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(self.row.len()));
            let _ = writeln!(out, "| {} |", self.row.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" | "));
        }
        for n in &self.notes {
            let _ = writeln!(out, "- {n}");
        }
        for f in &self.failures {
            let _ = writeln!(out, "- **FAILED**: {f}");
        }
        println!("{out}");
    }
}

/// `500 × 12, no answer (refused) × 3` (errors only), or `none`.
fn errors_by_status(samples: &[Sample]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.outcome != Outcome::Ok) {
        *by.entry(s.outcome.label()).or_default() += 1;
    }
    if by.is_empty() {
        "none".into()
    } else {
        by.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", ")
    }
}

fn longest(samples: &[Sample]) -> Duration {
    samples.iter().map(|s| s.took).max().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Time from `fault_end` to the first acknowledged request sent at or after it: (the answer's
/// time, the time to recover).
fn recovery(samples: &[Sample], fault_end: Duration) -> Option<(Duration, Duration)> {
    samples
        .iter()
        .filter(|s| s.sent >= fault_end && s.outcome == Outcome::Ok)
        .map(Sample::done)
        .min()
        .map(|at| (at, at - fault_end))
}

/// The common figures and invariants of a load scenario with a fault in `[start, end]`:
/// requests, errors by status, longest wait, recovery; errors outside the fault (before it, or
/// sent after the recovery) fail.
fn load_figures(report: &mut Report, ledger: &Ledger, start: Duration, end: Duration) -> Option<Duration> {
    let s = &ledger.samples;
    report.cell("requests sent", s.len().to_string());
    let before: Vec<Sample> = s.iter().filter(|x| x.done() < start).cloned().collect();
    let during: Vec<Sample> = s.iter().filter(|x| x.done() >= start).cloned().collect();
    report.cell("errors by status (during the fault)", errors_by_status(&during));
    report.cell("longest wait", ms(longest(s)));
    let recovered = recovery(s, end);
    report.cell("time to recover", recovered.map_or("never".into(), |(_, d)| ms(d)));
    let before_errors = before.iter().filter(|x| x.outcome != Outcome::Ok).count();
    report.check(before_errors == 0, format!("{before_errors} errors before the fault: {}", errors_by_status(&before)));
    report.check(recovered.is_some(), "no request succeeded after the fault ended");
    if let Some((at, _)) = recovered {
        let late: Vec<Sample> = s.iter().filter(|x| x.sent > at).cloned().collect();
        let late_errors = late.iter().filter(|x| x.outcome != Outcome::Ok).count();
        report.note(format!("{} requests after the recovery, errors: {}", late.len(), errors_by_status(&late)));
        report.check(late_errors == 0, format!("{late_errors} errors after the recovery: {}", errors_by_status(&late)));
    }
    let business: Vec<String> = s
        .iter()
        .filter_map(|x| match &x.outcome {
            Outcome::Business(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    report.check(
        business.is_empty(),
        format!("business errors under load (a wrong answer, not an outage): {business:?}"),
    );
    let mut details: BTreeMap<String, usize> = BTreeMap::new();
    for x in s.iter().filter(|x| x.outcome != Outcome::Ok) {
        *details.entry(format!("{} {}", x.outcome.label(), x.detail)).or_default() += 1;
    }
    if !details.is_empty() {
        let mut d: Vec<(String, usize)> = details.into_iter().collect();
        d.sort_by_key(|b| std::cmp::Reverse(b.1));
        let top: Vec<String> = d.iter().take(4).map(|(k, v)| format!("{v} × `{}`", k.trim())).collect();
        report.note(format!("error answers: {}", top.join("; ")));
    }
    let hello_longest = longest(&ledger.hello);
    report.note(format!(
        "/hello probed every 100 ms: {} probes, longest {}, answers: {}",
        ledger.hello.len(),
        ms(hello_longest),
        statuses(&ledger.hello)
    ));
    recovered.map(|(_, d)| d)
}

/// `OK × 40, 500 × 3` (every outcome).
fn statuses(samples: &[Sample]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        *by.entry(s.outcome.label()).or_default() += 1;
    }
    by.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", ")
}

/// SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The values of `ids` missing from `table.column`, by one query.
fn missing(db_url: &str, table: &str, column: &str, ids: &[String]) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(|i| lit(i)).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT x FROM unnest(ARRAY[{list}]::text[]) AS x WHERE NOT EXISTS \
         (SELECT 1 FROM {table} t WHERE t.{column} = x);"
    );
    Ok(psql(db_url, &sql)?.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
}

/// Every acknowledged write is there: the users and sessions in the database, and (through the
/// server on `port`) every session's last access token verifies and its last refresh token
/// refreshes. Returns the writes lost.
fn check_writes(report: &mut Report, db_url: &str, port: u16, ledger: &Ledger) -> Result<usize> {
    let users_missing = missing(db_url, "emailpassword_users", "user_id", &ledger.users)?;
    let handles: Vec<String> = ledger.sessions.iter().map(|s| s.handle.clone()).collect();
    let sessions_missing = missing(db_url, "session_info", "session_handle", &handles)?;
    // Through the API, 8 at a time.
    let sessions = Arc::new(ledger.sessions.clone());
    let threads: Vec<_> = (0..8)
        .map(|k| {
            let sessions = sessions.clone();
            thread::spawn(move || {
                let mut failed = Vec::new();
                for s in sessions.iter().skip(k).step_by(8) {
                    let (v, text) = call(
                        port,
                        s.cdi,
                        "POST",
                        "/recipe/session/verify",
                        Some(&verify_body(&s.access)),
                        CLIENT_TIMEOUT,
                    );
                    if v != Outcome::Ok {
                        failed.push(format!("verify {} (CDI {}): {} {}", s.handle, s.cdi, v.label(), text.trim()));
                    }
                    let (r, text) = call(
                        port,
                        s.cdi,
                        "POST",
                        "/recipe/session/refresh",
                        Some(&refresh_body(&s.refresh)),
                        CLIENT_TIMEOUT,
                    );
                    if r != Outcome::Ok {
                        failed.push(format!("refresh {} (CDI {}): {} {}", s.handle, s.cdi, r.label(), text.trim()));
                    }
                }
                failed
            })
        })
        .collect();
    let mut api_failed: Vec<String> = Vec::new();
    for t in threads {
        api_failed.extend(t.join().unwrap_or_else(|_| vec!["a checking thread panicked".into()]));
    }
    let lost = users_missing.len() + sessions_missing.len() + api_failed.len();
    report.cell(
        "writes lost",
        format!(
            "{lost} (users {}/{}, sessions {}/{}, sessions that no longer verify or refresh {})",
            users_missing.len(),
            ledger.users.len(),
            sessions_missing.len(),
            ledger.sessions.len(),
            api_failed.len()
        ),
    );
    report.check(users_missing.is_empty(), format!("acknowledged sign-ups missing: {:?}", first(&users_missing)));
    report.check(sessions_missing.is_empty(), format!("acknowledged sessions missing: {:?}", first(&sessions_missing)));
    report.check(api_failed.is_empty(), format!("sessions not served: {:?}", first(&api_failed)));
    report.check(!ledger.users.is_empty() && !ledger.sessions.is_empty(), "the load acknowledged nothing");
    Ok(lost)
}

fn first(v: &[String]) -> &[String] {
    &v[..v.len().min(5)]
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// (a) PostgreSQL stopped under load and started again.
fn scenario_stop(bin: &Path, cluster: &PgCluster, plan: &Plan) -> Result<Report> {
    let mut report = Report::new("stop: PostgreSQL stopped (pg_ctl -m fast) and started under load");
    let db = cluster.create_database("faults_stop")?;
    let server = start_server(bin, &server_config(&db, false, ""))?;
    let load = Load::start(server.port, plan.clients, "stop");
    thread::sleep(plan.before);
    let start = load.now();
    cluster.stop_fast()?;
    say!("  PostgreSQL stopped at {}", secs(start));
    thread::sleep(plan.outage);
    cluster.start_again()?;
    let end = load.now();
    say!("  PostgreSQL started again at {} (stopped for {})", secs(end), secs(end - start));
    thread::sleep(plan.after);
    let ledger = load.finish();
    report.note(format!(
        "{} clients, {} of load, stopped for {} (pg_ctl stop + wait + pg_ctl start), {} of load after",
        plan.clients,
        secs(plan.before),
        secs(end - start),
        secs(plan.after)
    ));
    load_figures(&mut report, &ledger, start, end);
    check_writes(&mut report, &db, server.port, &ledger)?;
    Ok(report)
}

/// Sends SIGCONT to the cluster when dropped (a failure while it is frozen must not leave it so).
struct Thaw<'a>(&'a PgCluster, bool);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        if self.1 {
            if let Err(e) = self.0.signal_all("CONT") {
                say!("warning: SIGCONT to the cluster: {e}");
            }
        }
    }
}

/// (b) every process of the cluster stopped (SIGSTOP), then continued.
fn scenario_freeze(bin: &Path, cluster: &PgCluster, plan: &Plan) -> Result<Report> {
    let mut report = Report::new("freeze: PostgreSQL frozen (SIGSTOP of every process of the cluster), then SIGCONT");
    let db = cluster.create_database("faults_freeze")?;
    // The app's signing keys made by a server with the default bounds first: a first key load
    // generates two RSA keys, and their CPU time counts against the request's bound (on a busy
    // box, more than 3 s: a 500 "no answer from the database", and the keys are discarded).
    drop(start_server(bin, &server_config(&db, false, ""))?);
    let server = start_server(bin, &server_config(&db, true, ""))?;
    let load = Load::start(server.port, plan.clients, "freeze");
    thread::sleep(plan.before);
    let start = load.now();
    let mut thaw = Thaw(cluster, true);
    let n = cluster.signal_all("STOP")?;
    say!("  {n} PostgreSQL processes stopped at {}", secs(start));
    thread::sleep(plan.freeze);
    cluster.signal_all("CONT")?;
    thaw.1 = false;
    let end = load.now();
    say!("  continued at {}", secs(end));
    thread::sleep(plan.after);
    let ledger = load.finish();
    report.note(format!(
        "{} clients, {n} processes frozen for {}; server: postgresql_connection_timeout {CONNECTION_TIMEOUT_MS} ms, \
         postgresql_request_timeout {REQUEST_TIMEOUT_MS} ms, pool 10",
        plan.clients,
        secs(end - start)
    ));
    load_figures(&mut report, &ledger, start, end);
    // The box is shared: what a request took before the freeze (queueing for the CPU) is
    // allowed on top of the bound, and reported.
    let before: Vec<Sample> = ledger.samples.iter().filter(|x| x.done() < start).cloned().collect();
    let noise = longest(&before);
    let bound = Duration::from_millis(REQUEST_TIMEOUT_MS) + WAIT_SLACK.max(noise);
    let longest_wait = longest(&ledger.samples);
    report.note(format!(
        "bound on a wait: the request timeout {REQUEST_TIMEOUT_MS} ms + max(slack {}, the longest wait before the freeze {}) = {}; \
         the longest wait: {}",
        ms(WAIT_SLACK),
        ms(noise),
        ms(bound),
        ms(longest_wait)
    ));
    report
        .check(longest_wait <= bound, format!("the longest wait {} is over the bound {}", ms(longest_wait), ms(bound)));
    report.check(
        bound < end - start,
        format!("inconclusive: the freeze ({}) was not longer than the bound ({})", ms(end - start), ms(bound)),
    );
    let hello_longest = longest(&ledger.hello);
    let hello_before: Vec<Sample> = ledger.hello.iter().filter(|x| x.done() < start).cloned().collect();
    let hello_noise = longest(&hello_before);
    let hello_bound = HELLO_BOUND + hello_noise;
    let frozen_hellos = ledger.hello.iter().filter(|h| h.done() >= start && h.sent <= end).cloned().collect::<Vec<_>>();
    report.note(format!(
        "/hello while frozen: {} probes, {}, longest {} (bound: 1 s + the longest /hello before the freeze, {})",
        frozen_hellos.len(),
        statuses(&frozen_hellos),
        ms(longest(&frozen_hellos)),
        ms(hello_noise)
    ));
    report
        .check(hello_longest <= hello_bound, format!("/hello took {} (bound {})", ms(hello_longest), ms(hello_bound)));
    let frozen_hellos = frozen_hellos.len();
    report.check(frozen_hellos > 0, "no /hello probe overlapped the freeze");
    check_writes(&mut report, &db, server.port, &ledger)?;
    Ok(report)
}

/// (c) the server killed (SIGKILL) under load, a new one started on the same database.
fn scenario_kill(bin: &Path, cluster: &PgCluster, plan: &Plan) -> Result<Report> {
    let mut report = Report::new("kill: kill -9 of the server under load, then a new server");
    let db = cluster.create_database("faults_kill")?;
    let config = server_config(&db, false, "");
    let mut server = start_server(bin, &config)?;
    let load = Load::start(server.port, plan.clients, "kill");
    thread::sleep(plan.before);
    let start = load.now();
    server.child.kill().map_err(|e| format!("killing the server: {e}"))?;
    let _ = server.child.wait();
    let killed_at = Instant::now();
    let ledger = load.finish();
    drop(server);
    let restarted = start_server(bin, &config)?;
    let recover = killed_at.elapsed();
    say!("  killed at {}; a new server answered /hello {} after the kill", secs(start), secs(recover));
    report.cell("requests sent", ledger.samples.len().to_string());
    let during: Vec<Sample> = ledger.samples.iter().filter(|s| s.done() >= start).cloned().collect();
    let before: Vec<Sample> = ledger.samples.iter().filter(|s| s.done() < start).cloned().collect();
    report.cell("errors by status (during the fault)", errors_by_status(&during));
    report.cell("longest wait", ms(longest(&ledger.samples)));
    report.cell("time to recover", format!("{} (kill → the new server's first 200 on /hello)", ms(recover)));
    let before_errors = before.iter().filter(|x| x.outcome != Outcome::Ok).count();
    report.check(before_errors == 0, format!("{before_errors} errors before the kill: {}", errors_by_status(&before)));
    report.note(format!(
        "{} clients, killed after {} of load; {} requests in flight at the kill",
        plan.clients,
        secs(plan.before),
        during.len()
    ));
    check_writes(&mut report, &db, restarted.port, &ledger)?;
    Ok(report)
}

/// Three servers on one database.
struct Trio {
    servers: Vec<Server>,
    db: String,
}

impl Trio {
    fn port(&self, i: usize) -> u16 {
        self.servers[i % self.servers.len()].port
    }
}

/// (d) three instances started together on an empty database.
fn scenario_instances(bin: &Path, cluster: &PgCluster, trio: &mut Option<Trio>) -> Result<Report> {
    let mut report = Report::new("instances: three instances started together on an empty database");
    let db = cluster.create_database("faults_instances")?;
    let t = Instant::now();
    let t3 = start_trio(bin, &db)?;
    let ready = t.elapsed();
    let mut sent = 0usize;
    let mut errors: Vec<Sample> = Vec::new();
    let mut longest_wait = Duration::ZERO;
    let mut record = |s: Sample| {
        sent += 1;
        longest_wait = longest_wait.max(s.took);
        if s.outcome != Outcome::Ok {
            errors.push(s);
        }
    };
    // A user per instance, then sessions on all three at once (dynamic and static keys: the
    // first sessions of a database create its keys), several rounds.
    let t0 = Instant::now();
    let mut users = Vec::new();
    for i in 0..3 {
        let sent_at = t0.elapsed();
        let (o, text) = call(
            t3.port(i),
            "5.4",
            "POST",
            "/recipe/signup",
            Some(&signup_body(&format!("trio-{i}@example.com"))),
            CLIENT_TIMEOUT,
        );
        record(Sample { sent: sent_at, took: t0.elapsed() - sent_at, outcome: o.clone(), detail: String::new() });
        users.push(
            json_str(&text, "\"user\"", "id")
                .ok_or_else(|| format!("sign-up on instance {i}: {} {text}", o.label()))?,
        );
    }
    const ROUNDS: usize = 4;
    let barrier = Arc::new(Barrier::new(3 * 2));
    let threads: Vec<_> = (0..6)
        .map(|k| {
            let (port, user, barrier) = (t3.port(k), users[k % 3].clone(), barrier.clone());
            thread::spawn(move || {
                let mut out = Vec::new();
                for _ in 0..ROUNDS {
                    barrier.wait();
                    let body = if k < 3 { session_body(&user) } else { static_session_body(&user) };
                    let t = Instant::now();
                    let (o, text) = call(port, "5.4", "POST", "/recipe/session", Some(&body), CLIENT_TIMEOUT);
                    out.push((k, o, t.elapsed(), text));
                }
                out
            })
        })
        .collect();
    let mut created: Vec<(usize, String, String)> = Vec::new(); // (instance, access, refresh)
    let mut create_failed = Vec::new();
    for th in threads {
        for (k, o, took, text) in th.join().map_err(|_| "a session thread panicked".to_string())? {
            record(Sample { sent: Duration::ZERO, took, outcome: o.clone(), detail: String::new() });
            if o != Outcome::Ok {
                let key = if k < 3 { "dynamic" } else { "static" };
                create_failed.push(format!(
                    "{key}-key session on instance {}: {} in {}: {}",
                    k % 3,
                    o.label(),
                    ms(took),
                    text.trim()
                ));
            }
            if let Some((a, r)) = tokens(&text) {
                created.push((k % 3, a, r));
            }
        }
    }
    // Each session verifies on the next instance and refreshes on the one after.
    let mut cross_failed = Vec::new();
    for (i, access, refresh) in &created {
        for (path, body, on) in [
            ("/recipe/session/verify", verify_body(access), i + 1),
            ("/recipe/session/refresh", refresh_body(refresh), i + 2),
        ] {
            let t = Instant::now();
            let (o, text) = call(t3.port(on), "5.4", "POST", path, Some(&body), CLIENT_TIMEOUT);
            record(Sample { sent: Duration::ZERO, took: t.elapsed(), outcome: o.clone(), detail: String::new() });
            if o != Outcome::Ok {
                cross_failed.push(format!(
                    "{path} on instance {} of a session of instance {i}: {}",
                    on % 3,
                    text.trim()
                ));
            }
        }
    }
    report.cell("requests sent", sent.to_string());
    report.cell("errors by status", errors_by_status(&errors));
    report.cell("longest wait", ms(longest_wait));
    report.cell("time to recover", format!("— (all three ready {} after their spawn)", ms(ready)));
    report.cell("writes lost", "— (see the key and migration counts)");
    report.check(errors.is_empty(), format!("errors: {}", errors_by_status(&errors)));
    report
        .check(cross_failed.is_empty(), format!("sessions not served by another instance: {:?}", first(&cross_failed)));
    report.check(create_failed.is_empty(), format!("sessions not created: {:?}", first(&create_failed)));
    report.check(created.len() == 6 * ROUNDS, format!("{} of {} sessions created", created.len(), 6 * ROUNDS));

    // The database: each migration once, one key per slot.
    let history =
        psql(&db, "SELECT version, count(*) FROM refinery_schema_history GROUP BY version ORDER BY version;")?;
    let history: Vec<(String, u64)> = rows2(&history);
    report.note(format!("refinery_schema_history (version, rows): {history:?}"));
    report.check(!history.is_empty(), "no migration recorded");
    report.check(history.iter().all(|(_, n)| *n == 1), format!("a migration recorded more than once: {history:?}"));
    let dynamic = psql(&db, "SELECT app_id, count(*) FROM session_access_token_signing_keys GROUP BY app_id;")?;
    let dynamic = rows2(&dynamic);
    report.note(format!("session_access_token_signing_keys (app, keys): {dynamic:?}"));
    report.check(dynamic.len() == 1 && dynamic[0].1 == 1, format!("dynamic signing keys: {dynamic:?} (one expected)"));
    let statics = psql(&db, "SELECT algorithm, count(*) FROM jwt_signing_keys GROUP BY algorithm;")?;
    let statics = rows2(&statics);
    report.note(format!("jwt_signing_keys (algorithm, keys): {statics:?}"));
    report.check(
        !statics.is_empty() && statics.iter().all(|(_, n)| *n == 1),
        format!("static signing keys: {statics:?} (one per algorithm expected)"),
    );
    let kv = psql(&db, "SELECT name, count(*) FROM key_value GROUP BY name ORDER BY name;")?;
    let kv = rows2(&kv);
    report.note(format!("key_value (name, rows): {kv:?}"));
    report.check(kv.iter().all(|(_, n)| *n == 1), format!("key_value rows: {kv:?}"));
    report.note(format!(
        "{} sessions created on the three at once ({} rounds × 3 instances × dynamic and static key), each verified on the next instance and refreshed on the third",
        created.len(),
        ROUNDS
    ));
    *trio = Some(t3);
    Ok(report)
}

/// `a|b` rows as (a, b as a number).
fn rows2(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.trim().split_once('|')?;
            Some((a.to_string(), b.trim().parse().ok()?))
        })
        .collect()
}

/// Three servers spawned together on `db` (grace period 2 s for the CDI 5.6 checks).
fn start_trio(bin: &Path, db: &str) -> Result<Trio> {
    let config = server_config(db, false, "refresh_token_rotation_grace_period: 2\n");
    let mut servers = (0..3).map(|_| Server::spawn_with_config(bin, &config, &[])).collect::<Result<Vec<_>>>()?;
    for s in &mut servers {
        s.wait_ready(Duration::from_secs(120))?;
    }
    Ok(Trio { servers, db: db.to_string() })
}

/// `k` refreshes of `token` at once, spread over the trio's instances; the outcomes and
/// bodies in instance order.
fn refresh_at_once(trio: &Trio, cdi: &'static str, tokens_: &[String]) -> Vec<(Outcome, String, Duration)> {
    let barrier = Arc::new(Barrier::new(tokens_.len()));
    let threads: Vec<_> = tokens_
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let (port, body, barrier) = (trio.port(k), refresh_body(t), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let (o, text) = call(port, cdi, "POST", "/recipe/session/refresh", Some(&body), CLIENT_TIMEOUT);
                (o, text, start.elapsed())
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| {
            t.join().unwrap_or_else(|_| (Outcome::NoAnswer("thread panicked".into()), String::new(), Duration::ZERO))
        })
        .collect()
}

/// Tallies of the refresh scenario.
#[derive(Default)]
struct Tally {
    sent: usize,
    answers: Vec<Sample>,
}

impl Tally {
    fn add(&mut self, results: &[(Outcome, String, Duration)]) {
        for (o, _, took) in results {
            self.sent += 1;
            self.answers.push(Sample { sent: Duration::ZERO, took: *took, outcome: o.clone(), detail: String::new() });
        }
    }

    /// One refresh on instance `i`.
    fn one(&mut self, trio: &Trio, i: usize, cdi: &str, token: &str) -> (Outcome, String) {
        let t = Instant::now();
        let (o, text) =
            call(trio.port(i), cdi, "POST", "/recipe/session/refresh", Some(&refresh_body(token)), CLIENT_TIMEOUT);
        self.sent += 1;
        self.answers.push(Sample {
            sent: Duration::ZERO,
            took: t.elapsed(),
            outcome: o.clone(),
            detail: String::new(),
        });
        (o, text)
    }
}

fn refresh_token_of(body: &str) -> Option<String> {
    json_str(body, "\"refreshToken\"", "token")
}

/// A new session (created on instance 0) for the refresh checks: its refresh token.
fn new_session(trio: &Trio, cdi: &str, user: &str) -> Result<(String, String)> {
    let (o, text) = call(trio.port(0), cdi, "POST", "/recipe/session", Some(&session_body(user)), CLIENT_TIMEOUT);
    let handle = json_str(&text, "\"session\"", "handle");
    match (o, handle, refresh_token_of(&text)) {
        (Outcome::Ok, Some(h), Some(r)) => Ok((h, r)),
        (o, _, _) => Err(format!("creating a session: {} {text}", o.label())),
    }
}

/// (e) concurrent refreshes of one token on several instances.
fn scenario_refresh(bin: &Path, cluster: &PgCluster, trio: &mut Option<Trio>) -> Result<Report> {
    let mut report = Report::new("refresh: concurrent refreshes of one refresh token on three instances");
    let t3 = match trio.take() {
        Some(t) => t,
        None => start_trio(bin, &cluster.create_database("faults_refresh")?)?,
    };
    let (o, text) =
        call(t3.port(0), "5.4", "POST", "/recipe/signup", Some(&signup_body("refresh@example.com")), CLIENT_TIMEOUT);
    let user = json_str(&text, "\"user\"", "id").ok_or_else(|| format!("sign-up: {} {text}", o.label()))?;
    let mut tally = Tally::default();
    const K: usize = 6;
    let theft = |o: &Outcome| *o == Outcome::Business("TOKEN_THEFT_DETECTED".into());

    // CDI 5.4 (1): K refreshes of one current token at once all succeed.
    let (_, rt) = new_session(&t3, "5.4", &user)?;
    let results = refresh_at_once(&t3, "5.4", &vec![rt.clone(); K]);
    tally.add(&results);
    let ok = results.iter().filter(|r| r.0 == Outcome::Ok).count();
    report.note(format!("CDI 5.4: {K} refreshes of one current token at once on 3 instances: {ok} OK (all expected)"));
    report.check(ok == K, format!("CDI 5.4 concurrent refreshes of the current token: {}", statuses_of(&results)));
    let children: Vec<String> = results.iter().filter_map(|r| refresh_token_of(&r.1)).collect();
    if children.len() >= 2 {
        // (2) the first child used is promoted; then the old token and a sibling are thefts,
        // and the session lives on (5.4 does not revoke): the promoted child's child refreshes.
        let (o1, t1) = tally.one(&t3, 0, "5.4", &children[0]);
        let (o_old, _) = tally.one(&t3, 1, "5.4", &rt);
        let (o_sib, _) = tally.one(&t3, 2, "5.4", &children[1]);
        let next = refresh_token_of(&t1).unwrap_or_default();
        let (o_next, _) = tally.one(&t3, 1, "5.4", &next);
        report.note(format!(
            "CDI 5.4: a child refreshed: {}; then the old token: {}; a sibling child: {}; the promoted child's child: {} \
             (expected OK, TOKEN_THEFT_DETECTED, TOKEN_THEFT_DETECTED, OK)",
            o1.label(),
            o_old.label(),
            o_sib.label(),
            o_next.label()
        ));
        report.check(o1 == Outcome::Ok, format!("CDI 5.4 first use of a child: {}", o1.label()));
        report.check(theft(&o_old), format!("CDI 5.4 old token after its child was used: {}", o_old.label()));
        report.check(theft(&o_sib), format!("CDI 5.4 sibling child after another was used: {}", o_sib.label()));
        report.check(o_next == Outcome::Ok, format!("CDI 5.4 session after a theft (not revoked): {}", o_next.label()));
    }

    // CDI 5.4 (3): sibling children refreshed at once: exactly one succeeds, the rest are
    // thefts (the promotion takes the row's lock); several sessions.
    let mut sibling_rounds = Vec::new();
    for _ in 0..5 {
        let (_, rt) = new_session(&t3, "5.4", &user)?;
        let mut kids = Vec::new();
        for i in 0..3 {
            let (o, text) = tally.one(&t3, i, "5.4", &rt);
            if o == Outcome::Ok {
                kids.extend(refresh_token_of(&text));
            }
        }
        let results = refresh_at_once(&t3, "5.4", &kids);
        tally.add(&results);
        let ok = results.iter().filter(|r| r.0 == Outcome::Ok).count();
        let thefts = results.iter().filter(|r| theft(&r.0)).count();
        sibling_rounds.push((ok, thefts));
        report.check(
            kids.len() == 3 && ok == 1 && thefts == 2,
            format!("CDI 5.4 three sibling children at once: {}", statuses_of(&results)),
        );
    }
    report.note(format!(
        "CDI 5.4: three sibling children refreshed at once on 3 instances, 5 sessions: (OK, thefts) = {sibling_rounds:?} (expected (1, 2) each)"
    ));

    // CDI 5.4 (4): one unpromoted child refreshed at once on every instance: all succeed.
    let (_, rt) = new_session(&t3, "5.4", &user)?;
    let (_, text) = tally.one(&t3, 0, "5.4", &rt);
    let child = refresh_token_of(&text).unwrap_or_default();
    let results = refresh_at_once(&t3, "5.4", &vec![child; K]);
    tally.add(&results);
    let ok = results.iter().filter(|r| r.0 == Outcome::Ok).count();
    report.note(format!("CDI 5.4: one child refreshed {K} times at once: {ok} OK (all expected: one promotes it, the rest find it current)"));
    report.check(ok == K, format!("CDI 5.4 one child at once: {}", statuses_of(&results)));

    // CDI 5.6 (5): K refreshes of the current token at once all succeed; exactly one child is
    // the current token afterwards; a displaced child is ORPHANED_BRANCH theft and revokes.
    let (handle, rt) = new_session(&t3, "5.6", &user)?;
    let results = refresh_at_once(&t3, "5.6", &vec![rt.clone(); K]);
    tally.add(&results);
    let ok = results.iter().filter(|r| r.0 == Outcome::Ok).count();
    report.check(ok == K, format!("CDI 5.6 concurrent refreshes of the current token: {}", statuses_of(&results)));
    let children: Vec<String> = results.iter().filter_map(|r| refresh_token_of(&r.1)).collect();
    let hashes = psql(
        &t3.db,
        &format!(
            "SELECT refresh_token_hash_2 = {h_rt} OR prev_refresh_token_hash_2 = {h_rt} AS _, refresh_token_hash_2, \
             coalesce(prev_refresh_token_hash_2, '') FROM session_info WHERE session_handle = {};",
            lit(&handle),
            h_rt = double_hash_sql(&rt)
        ),
    )?;
    let row: Vec<&str> = hashes.trim().split('|').collect();
    let (current, prev) = (row.get(1).copied().unwrap_or(""), row.get(2).copied().unwrap_or(""));
    let mut live = Vec::new();
    for c in &children {
        let h = psql(&t3.db, &format!("SELECT {};", double_hash_sql(c)))?;
        if h.trim() == current {
            live.push(c.clone());
        }
    }
    let prev_is_rt = psql(&t3.db, &format!("SELECT {};", double_hash_sql(&rt)))?.trim() == prev;
    report.note(format!(
        "CDI 5.6: {K} refreshes of one current token at once: {ok} OK; children that are the session's current token: {} \
         (exactly 1 expected); the previous token is the one refreshed: {prev_is_rt}",
        live.len()
    ));
    report.check(live.len() == 1, format!("CDI 5.6: {} of the {} children are current", live.len(), children.len()));
    report.check(prev_is_rt, "CDI 5.6: the previous token is not the token refreshed");
    if let (Some(live), Some(orphan)) = (live.first(), children.iter().find(|c| !live.contains(c))) {
        // The displaced child while the previous token is still the one all children came
        // from (refreshing the live child first would move `prev` on, and the displaced child
        // would be STALE_LINEAGE, also a theft).
        let (o_orphan, orphan_text) = tally.one(&t3, 2, "5.6", orphan);
        let subtype = json_str(&orphan_text, "", "recentTokenReuseSubtype").unwrap_or_default();
        let (o_live, _) = tally.one(&t3, 1, "5.6", live);
        report.note(format!(
            "CDI 5.6: a displaced child: {} {subtype}; then the live child: {} \
             (expected TOKEN_THEFT_DETECTED ORPHANED_BRANCH, then UNAUTHORISED: the theft revoked the session)",
            o_orphan.label(),
            o_live.label()
        ));
        report.check(
            theft(&o_orphan) && subtype == "ORPHANED_BRANCH",
            format!("CDI 5.6 displaced child: {} {subtype}", o_orphan.label()),
        );
        report.check(
            o_live == Outcome::Business("UNAUTHORISED".into()),
            format!("CDI 5.6 live child after a theft: {}", o_live.label()),
        );
    }

    // CDI 5.6 (6): the previous token within the grace period refreshes; after it, RECENT_PREV.
    let (_, rt) = new_session(&t3, "5.6", &user)?;
    let (o1, _) = tally.one(&t3, 0, "5.6", &rt);
    let (o_grace, _) = tally.one(&t3, 1, "5.6", &rt);
    thread::sleep(Duration::from_millis(2500));
    let (o_late, late_text) = tally.one(&t3, 2, "5.6", &rt);
    let subtype = json_str(&late_text, "", "recentTokenReuseSubtype").unwrap_or_default();
    report.note(format!(
        "CDI 5.6 (grace period 2 s): refresh {}, the same token again at once {}, after 2.5 s {} {subtype} \
         (expected OK, OK, TOKEN_THEFT_DETECTED RECENT_PREV)",
        o1.label(),
        o_grace.label(),
        o_late.label()
    ));
    report.check(o1 == Outcome::Ok && o_grace == Outcome::Ok, "CDI 5.6: a refresh within the grace period failed");
    report.check(
        theft(&o_late) && subtype == "RECENT_PREV",
        format!("CDI 5.6 after the grace period: {} {subtype}", o_late.label()),
    );

    let non_200: Vec<Sample> =
        tally.answers.iter().filter(|s| !matches!(s.outcome, Outcome::Ok | Outcome::Business(_))).cloned().collect();
    report.cell("requests sent", tally.sent.to_string());
    report.cell(
        "errors by status",
        format!("{} (business answers: {})", errors_by_status(&non_200), statuses(&tally.answers)),
    );
    report.cell("longest wait", ms(longest(&tally.answers)));
    report.cell("time to recover", "—");
    report.cell("writes lost", "—");
    report.check(non_200.is_empty(), format!("non-200 answers: {}", errors_by_status(&non_200)));
    *trio = Some(t3);
    Ok(report)
}

/// SQL of the reference's `sha256hex(sha256hex(token))`.
fn double_hash_sql(token: &str) -> String {
    format!("encode(sha256(convert_to(encode(sha256(convert_to({}, 'UTF8')), 'hex'), 'UTF8')), 'hex')", lit(token))
}

fn statuses_of(results: &[(Outcome, String, Duration)]) -> String {
    let samples: Vec<Sample> = results
        .iter()
        .map(|(o, _, d)| Sample { sent: Duration::ZERO, took: *d, outcome: o.clone(), detail: String::new() })
        .collect();
    statuses(&samples)
}

/// (f) the fuzz pass, on both backends (PostgreSQL on this cluster).
fn scenario_fuzz(root: &Path, cluster: &PgCluster) -> Result<Report> {
    let mut report = Report::new("fuzz: malformed input to every route, both backends");
    let mut cmd = cargo(root);
    cmd.args(["test", "-p", "st-tests", "--test", "http", "every_route_survives_malformed_input", "--", "--nocapture"])
        .env("ST_TEST_POSTGRES_URL", cluster.url());
    let t = Instant::now();
    let out = cmd.output().map_err(|e| format!("running cargo test: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("fuzz (")).collect();
    for l in &lines {
        report.note(l.to_string());
    }
    // The requests answered 5xx (the test prints them indented, `#<n> …`).
    for l in stderr.lines().filter(|l| l.trim_start().starts_with('#')).take(20) {
        report.note(format!("5xx: {}", l.trim()));
    }
    report.cell(
        "requests sent",
        lines
            .iter()
            .map(|l| l.split(": ").nth(1).unwrap_or("?").split(" requests").next().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(" + "),
    );
    report.cell(
        "5xx or no answer",
        lines.iter().map(|l| l.rsplit(", ").next().unwrap_or("?")).collect::<Vec<_>>().join("; "),
    );
    report.cell("time", secs(t.elapsed()));
    report.check(
        out.status.success(),
        format!("the fuzz pass failed ({}; its 5xx requests are listed above)", out.status),
    );
    report.check(
        lines.len() == 2,
        format!("expected the figures of both backends, got {} lines:\n{}", lines.len(), crate::tail(&stderr, 15)),
    );
    Ok(report)
}
