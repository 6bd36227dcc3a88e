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

use crate::pg::BENCH_PG_URL_ENV;
use crate::util::{uptime, Flags};
use crate::{cargo, repo_root, run_step, secs, target_dir, PgCluster, Result, Server, StepResult};
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod load;
mod scenarios;

use load::{call, session_body, Outcome, Report};
use scenarios::{
    scenario_freeze, scenario_fuzz, scenario_instances, scenario_kill, scenario_refresh, scenario_stop, Trio,
};

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
