//! `cargo xtask bench passkey` (issue 22): passkey sign-in — `POST
//! /public/recipe/webauthn/options/signin` then `POST /public/recipe/webauthn/signin` with a
//! freshly signed ES256 assertion — on the in-memory store and on PostgreSQL, at 1 and 16
//! clients, beside a bare actix-web handler doing the same signature check in the same rounds
//! (`st-bench-baseline serve`, `POST /webauthn/signin`: the JSON body, base64url, clientDataJSON
//! parsed and looked at, the relying-party hash, the ES256 verify over `authenticatorData ‖
//! SHA-256(clientDataJSON)` with ring, a user object as the answer; no storage).
//!
//! * The load generator is `st-bench-baseline passkey-run` (crates/bench-baseline/src/passkey.rs),
//!   not wrk: every sign-in signs the challenge of options generated a moment before, which
//!   cannot be computed ahead and which Lua cannot sign. It is a release build (ring's P-256
//!   signing, a thread and a keep-alive connection per client), and xtask stays std-only.
//! * The client's own cost is on the same two cores as the server. It cannot be taken out (a
//!   fresh challenge per sign-in), so it is the same on both sides of the ratio — one ES256
//!   signature per sign-in, for the bare handler over a challenge the client makes itself — and
//!   it is measured: the client's CPU-seconds over the run (as a share of the box's busy CPU),
//!   its µs per assertion built and signed, and the CPU µs per sign-in of the process under
//!   test (server or bare handler), which the client does not inflate.
//! * Set-up: `--users` users per server signed up through the server (`options/register` and
//!   `signup`, one ES256 credential each, CBOR attestation `none`), their keys written to a file
//!   the load generator and the bare handler read. The credentials report no signature counter
//!   (synced passkeys), so runs may sign in any user in any order; client c of C takes the users
//!   i ≡ c (mod C) in turn.
//! * CDI 5.5, where a sign-in uses up its options (the options row is deleted with the accepted
//!   assertion).
//! * Ratios: per round, the server's sign-ins per second over the bare handler's in that round;
//!   the median of the rounds (range in brackets). Order alternates between rounds.

use crate::baseline::{self, BaselineServer};
use crate::bench_flow::{server_bin, start_server, API_KEY};
use crate::pg::BenchDb;
use crate::util::{load1, load_span, uptime, Flags, Table};
use crate::{repo_root, Result, Stats, TempDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `cdi-version` of every request.
const CDI: &str = "5.5";

/// One measured run.
struct Run {
    conns: usize,
    round: usize,
    /// `memory`, `postgres` or `bare handler`.
    target: String,
    load_before: f64,
    load_after: f64,
    /// The load generator's `key=value` line.
    values: HashMap<String, f64>,
    error: String,
}

impl Run {
    fn get(&self, key: &str) -> f64 {
        self.values.get(key).copied().unwrap_or(f64::NAN)
    }

    /// Sign-ins per second.
    fn rate(&self) -> f64 {
        self.get("flows_per_s")
    }

    /// CPU µs of the process under test per sign-in.
    fn target_us(&self) -> f64 {
        self.get("target_cpu_s") * 1e6 / self.get("flows")
    }

    fn problems(&self) -> String {
        let mut p = Vec::new();
        for (key, what) in [("not_ok", "not OK"), ("errors", "errors")] {
            if self.get(key) > 0.0 {
                p.push(format!("{} {what}", self.get(key)));
            }
        }
        if !self.error.is_empty() {
            p.push(self.error.clone());
        }
        p.join("; ")
    }
}

/// A server under test and its users' keys.
struct Target {
    name: &'static str,
    server: crate::Server,
    keys: PathBuf,
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "passkey",
        args,
        &[
            "--duration",
            "--rounds",
            "--conns",
            "--users",
            "--backends",
            "--server-bin",
            "--client-bin",
            "--server-config",
        ],
    )?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[1, 16])?;
    let users: usize = flags.num("--users", 1000)?;
    let backends = flags.word_list("--backends", &["memory", "postgres"]);
    if rounds == 0 || conns.contains(&0) || users < conns.iter().copied().max().unwrap_or(1) {
        return Err("passkey: --rounds and --conns must be positive and --users at least the largest --conns".into());
    }
    if let Some(b) = backends.iter().find(|b| !["memory", "postgres"].contains(&b.as_str())) {
        return Err(format!("passkey: unknown backend `{b}` (memory, postgres)"));
    }

    let bin = server_bin(&flags)?;
    // `--client-bin`: an `st-bench-baseline` release binary built beforehand (as `--server-bin`).
    let client_bin = match flags.raw("--client-bin") {
        Some(p) if Path::new(p).is_file() => PathBuf::from(p),
        Some(p) => return Err(format!("--client-bin: {p} is not a file")),
        None => baseline::build(&repo_root())?,
    };
    let uptime_before = uptime();
    let dir = TempDir::new("st-bench-passkey")?;
    let db = if backends.iter().any(|b| b == "postgres") { Some(BenchDb::create("passkey")?) } else { None };
    let mut targets = Vec::new();
    for backend in &backends {
        let (name, url) = match (backend.as_str(), &db) {
            ("postgres", Some(db)) => ("postgres", Some(db.url.as_str())),
            _ => ("memory", None),
        };
        let server = start_server(&bin, url, &flags)?;
        let keys = dir.path().join(format!("keys-{name}.tsv"));
        say!("{name} server ready on port {}; signing up {users} passkey users", server.port);
        let port = server.port.to_string();
        let file = keys.display().to_string();
        let users = users.to_string();
        client(&client_bin, &["passkey-setup", "--port", &port, "--users", &users, "--out", &file])?;
        targets.push(Target { name, server, keys });
    }
    let first = targets.first().ok_or("passkey: no backend selected")?;
    let bare = BaselineServer::start(&client_bin, &[("ST_BENCH_PASSKEYS", &first.keys.display().to_string())])?;

    let mut runs = Vec::new();
    for (c, round) in conns.iter().flat_map(|&c| (1..=rounds).map(move |r| (c, r))) {
        say!("--- {c} client(s), round {round} of {rounds} ---");
        if let Some(db) = &db {
            db.psql(
                "VACUUM ANALYZE webauthn_credentials, webauthn_generated_options, webauthn_users, \
                 webauthn_user_to_tenant, app_id_to_user_id, all_auth_recipe_users, user_last_active;",
            )?;
        }
        let mut sides: Vec<(String, u16, u32, &Path)> =
            vec![("bare handler".to_string(), bare.port, bare.pid(), first.keys.as_path())];
        for t in &targets {
            sides.push((t.name.to_string(), t.server.port, t.server.child.id(), t.keys.as_path()));
        }
        if round % 2 == 0 {
            sides.reverse();
        }
        for (target, port, pid, keys) in sides {
            let kind = if target == "bare handler" { "baseline" } else { "server" };
            let load_before = load1();
            let (port, pid, c_s, d_s, keys) =
                (port.to_string(), pid.to_string(), c.to_string(), duration.to_string(), keys.display().to_string());
            let out = client(
                &client_bin,
                &[
                    "passkey-run",
                    "--port",
                    &port,
                    "--target",
                    kind,
                    "--conns",
                    &c_s,
                    "--seconds",
                    &d_s,
                    "--keys",
                    &keys,
                    "--pid",
                    &pid,
                ],
            );
            let (values, error) = match out {
                Ok(line) => (key_values(&line), String::new()),
                Err(e) => (HashMap::new(), e),
            };
            let run = Run { conns: c, round, target, load_before, load_after: load1(), values, error };
            say!("{} at {c}: {:.0} sign-ins/s {}", run.target, run.rate(), run.problems());
            runs.push(run);
        }
    }
    let uptime_after = uptime();

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.as_ref().is_some_and(BenchDb::throwaway) {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    println!(
        "flow: POST /public/recipe/webauthn/options/signin, then POST /public/recipe/webauthn/signin with an ES256 \
         assertion of its challenge (CDI {CDI}; {users} users per server); bare handler: one POST /webauthn/signin \
         with an assertion of a challenge made by the client; {duration} s per run, {cores} cores"
    );
    println!();
    report(&runs, &conns, rounds, &targets, duration as f64 * cores);
    Ok(())
}

/// `st-bench-baseline <args>` with the API key and CDI version: its last line of stdout.
fn client(bin: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args).args(["--api-key", API_KEY, "--cdi", CDI]).stdin(Stdio::null());
    let out = cmd.output().map_err(|e| format!("running {}: {e}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        say!("{}: {}", args.first().unwrap_or(&""), stderr.trim());
    }
    if !out.status.success() {
        return Err(format!("st-bench-baseline {} failed ({}): {}", args.join(" "), out.status, stderr.trim()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(stdout.lines().last().unwrap_or_default().to_string())
}

/// `key=number` pairs of a line (other values skipped).
fn key_values(line: &str) -> HashMap<String, f64> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// The per-run table, then the ratio table (median of the rounds' ratios, with their range).
/// `capacity` is the box's CPU-seconds in one run (seconds × cores).
fn report(runs: &[Run], conns: &[usize], rounds: usize, targets: &[Target], capacity: f64) {
    let mut table = Table::new(&[
        "clients",
        "round",
        "target",
        "sign-ins/s",
        "req/s",
        "p50 / p99 ms per request",
        "p99 ms per sign-in",
        "target CPU µs per sign-in",
        "client CPU: % of box busy (µs per assertion)",
        "box busy %",
        "load 1m before→after",
        "problems",
    ]);
    for r in runs {
        table.row(vec![
            r.conns.to_string(),
            r.round.to_string(),
            r.target.clone(),
            format!("{:.0}", r.rate()),
            format!("{:.0}", r.get("requests_per_s")),
            format!("{:.2} / {:.2}", r.get("request_p50_ms"), r.get("request_p99_ms")),
            format!("{:.2}", r.get("flow_p99_ms")),
            format!("{:.0}", r.target_us()),
            format!("{:.0}% ({:.0})", 100.0 * r.get("client_cpu_s") / r.get("box_busy_s"), r.get("client_assert_us")),
            format!("{:.0}", 100.0 * r.get("box_busy_s") / capacity),
            load_span(r.load_before, r.load_after),
            r.problems(),
        ]);
    }
    table.print();
    let mut ratios = Table::new(&[
        "backend",
        "clients",
        "sign-ins/s: server / bare handler",
        "server sign-ins/s",
        "bare handler sign-ins/s",
        "server p99 ms: per request / per sign-in",
        "bare handler p99 ms",
        "CPU µs per sign-in: server / bare handler",
        "client CPU % of box busy: server runs / bare runs",
    ]);
    let median = |xs: Vec<f64>| Stats::of(&xs).median;
    for t in targets {
        for &c in conns {
            let (mut ratio, mut pairs) = (Vec::new(), Vec::new());
            for round in 1..=rounds {
                let find = |name: &str| runs.iter().find(|r| r.conns == c && r.round == round && r.target == name);
                if let (Some(s), Some(b)) = (find(t.name), find("bare handler")) {
                    ratio.push(s.rate() / b.rate());
                    pairs.push((s, b));
                }
            }
            if pairs.is_empty() {
                continue;
            }
            let of = |f: &dyn Fn(&Run) -> f64, server: bool| {
                median(pairs.iter().map(|(s, b)| if server { f(s) } else { f(b) }).collect())
            };
            let share = |r: &Run| 100.0 * r.get("client_cpu_s") / r.get("box_busy_s");
            let Stats { median: m, min, max } = Stats::of(&ratio);
            ratios.row(vec![
                t.name.to_string(),
                c.to_string(),
                format!("{m:.2} ({min:.2}–{max:.2})"),
                format!("{:.0}", of(&Run::rate, true)),
                format!("{:.0}", of(&Run::rate, false)),
                format!("{:.2} / {:.2}", of(&|r| r.get("request_p99_ms"), true), of(&|r| r.get("flow_p99_ms"), true)),
                format!("{:.2}", of(&|r| r.get("request_p99_ms"), false)),
                format!("{:.0} / {:.0}", of(&Run::target_us, true), of(&Run::target_us, false)),
                format!("{:.0}% / {:.0}%", of(&share, true), of(&share, false)),
            ]);
        }
    }
    println!(
        "Ratios: the median over {rounds} round(s) of each round's server sign-ins/s over that round's bare \
         handler's (range in brackets); other columns: medians over the rounds. Server CPU is the server \
         process's only (not PostgreSQL's)."
    );
    ratios.print();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_generators_line_is_read() {
        let v = key_values("flows=10 seconds=2.000 flows_per_s=5.0 file=/tmp/x not_ok=0");
        assert_eq!(v.get("flows"), Some(&10.0));
        assert_eq!(v.get("flows_per_s"), Some(&5.0));
        assert_eq!(v.get("file"), None);
        let run = Run {
            conns: 1,
            round: 1,
            target: "memory".into(),
            load_before: 0.0,
            load_after: 0.0,
            values: key_values("flows=4 target_cpu_s=0.002 not_ok=1 errors=0"),
            error: String::new(),
        };
        assert!((run.target_us() - 500.0).abs() < 1e-9);
        assert_eq!(run.problems(), "1 not OK");
    }
}
