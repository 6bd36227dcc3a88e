//! `cargo xtask bench tenants`: one app with many tenants (`--tenants`, default 100,000) on
//! PostgreSQL, beside the same server with one tenant (its own database on the same cluster):
//!
//! 1. The one-tenant server: start-up time and idle RSS; `--users` users signed up in
//!    `public`, a session each.
//! 2. The many-tenant server: `PUT /recipe/multitenancy/tenant/v2` for `tenant-0` …
//!    `tenant-<n-1>` from `--create-conns` clients on keep-alive connections (rate overall, in
//!    the first and the last tenth, and latency); its RSS after that, then a restart (start-up
//!    time with every tenant loaded, idle RSS); `GET /recipe/multitenancy/tenant/list/v2` once
//!    (every tenant must be there; its time); then `--users` users signed up on random
//!    tenants, a session each.
//! 3. Latency blocks: 1 tenant, many, 1 tenant, … (`--rounds` many-tenant blocks, each between
//!    two one-tenant blocks), the server not measured paused (SIGSTOP). Every server reloads all
//!    its tenants a minute after its previous reload ended (`SyncCoreConfigWithDb`, counted at
//!    its start on the metrics port). A resumed server is measured right after its next reload
//!    (the one that fell due while it was paused, or the one it waits for), once its CPU time
//!    has stopped growing; that reload is reported apart: how long the server was busy, its
//!    CPU-seconds, and the slowest `GET /hello` of a probe sending one every 10 ms meanwhile.
//!    Then, on it: e-mail-password sign-in of a random user (on its tenant) with
//!    `--signin-conns` connections, and session verify of the sessions in turn, without and with
//!    the database check, with `--verify-conns`. A block lasts less than a minute, so no reload
//!    falls into its runs.
//!
//! Target: the many-tenant p99 at most 1.5 times the one-tenant p99 (the mean of the blocks
//! before and after), for sign-in and verify: the median of the rounds' ratios.

use crate::bench_flow::{lua_headers, server_bin, server_config, Client};
use crate::pg::BenchDb;
use crate::util::{json_str, load_span, percentile, uptime, verdict, Flags, Table};
use crate::wrk::{self, lua_lines, Spec, WrkResult};
use crate::{Result, Server, Stats, TempDir};
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const P99_TARGET: f64 = 1.5;
const PASSWORD: &str = "bench-password-1";

/// A second database on the bench database's server, dropped on drop.
struct ExtraDb<'a> {
    main: &'a BenchDb,
    name: String,
    url: String,
}

impl<'a> ExtraDb<'a> {
    fn create(main: &'a BenchDb, suffix: &str) -> Result<ExtraDb<'a>> {
        let (base, query) = match main.url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (main.url.as_str(), None),
        };
        let (server, main_name) = base.rsplit_once('/').ok_or("tenants: unexpected database URL")?;
        let name = format!("{main_name}_{suffix}");
        let url = match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        };
        main.psql(&format!("CREATE DATABASE {name};"))?;
        say!("created database {name}");
        Ok(ExtraDb { main, name, url })
    }
}

impl Drop for ExtraDb<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.main.psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", self.name)) {
            say!("warning: dropping database {}: {e}", self.name);
        }
    }
}

/// xorshift64*, for the choice of tenants (reproducible from its seed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// A server ready for the latency runs: user i (1-based) is `user<i>@example.com` of
/// `tenants[i - 1]`; `tokens/access.txt` has their access tokens, one per line.
struct Prepared {
    tenants: Vec<String>,
    tokens: TempDir,
}

/// One measured latency run.
struct Run {
    round: usize,
    target: String,
    operation: &'static str,
    conns: usize,
    result: WrkResult,
}

/// Start-up and memory figures of one server state.
struct Footprint {
    what: String,
    startup_ms: Option<f64>,
    rss_mib: f64,
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "tenants",
        args,
        &[
            "--tenants",
            "--create-conns",
            "--users",
            "--duration",
            "--rounds",
            "--signin-conns",
            "--verify-conns",
            "--server-bin",
        ],
    )?;
    let tenants: usize = flags.num("--tenants", 100_000)?;
    let create_conns: usize = flags.num("--create-conns", 4)?;
    let users: usize = flags.num("--users", 100)?;
    let duration = flags.seconds("--duration", 10)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let signin_conns: usize = flags.num("--signin-conns", 2)?;
    let verify_conns: usize = flags.num("--verify-conns", 16)?;
    if [tenants, create_conns, users, rounds, signin_conns, verify_conns].contains(&0) {
        return Err("tenants: every number must be positive".into());
    }

    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let uptime_before = uptime();
    let db = BenchDb::create("tenants")?;
    let one_db = ExtraDb::create(&db, "one")?;
    let mut footprints = Vec::new();
    let mut runs = Vec::new();

    // 1. One tenant.
    let (one, ready, one_metrics) = start(&bin, &one_db.url)?;
    footprints.push(Footprint { what: "1 tenant, idle".into(), startup_ms: Some(ready), rss_mib: idle_rss(&one)? });
    let one_prepared = prepare(&one, vec!["public".to_string(); users])?;

    // 2. Many tenants.
    let (mut many, ready, _) = start(&bin, &db.url)?;
    footprints.push(Footprint {
        what: "before creating the tenants (1 tenant)".into(),
        startup_ms: Some(ready),
        rss_mib: idle_rss(&many)?,
    });
    let creation = create_tenants(&many, tenants, create_conns)?;
    footprints.push(Footprint {
        what: format!("{tenants} tenants, idle after their creation"),
        startup_ms: None,
        rss_mib: idle_rss(&many)?,
    });
    say!("restarting the server with {tenants} tenants");
    many.stop()?;
    let (restarted, ready, many_metrics) = start(&bin, &db.url)?;
    many = restarted;
    footprints.push(Footprint {
        what: format!("{tenants} tenants, restarted, idle"),
        startup_ms: Some(ready),
        rss_mib: idle_rss(&many)?,
    });
    let list = list_tenants(&many, tenants)?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
    let chosen: Vec<String> = (0..users).map(|_| format!("tenant-{}", rng.below(tenants))).collect();
    let many_prepared = prepare(&many, chosen)?;
    let many_label = format!("{tenants} tenants");

    // 3. The latency blocks: 1 tenant, many, 1 tenant, many, …, 1 tenant (each many-tenant
    //    block between two one-tenant blocks, its reference). The server not measured is paused
    //    (SIGSTOP), so that its periodic jobs do not run during the other's runs. Every server
    //    reloads all its tenants a minute after its last reload ended: a resumed server is
    //    measured right after its next reload (the one that fell due while it was paused, or
    //    the one it waits for), whose cost is reported apart, and a block lasts less than the
    //    minute to the one after.
    let conns = (signin_conns, verify_conns);
    let mut reloads = Vec::new();
    for round in 1..=rounds + 1 {
        let mut blocks = vec![(&one, one_metrics, &many, &one_prepared, "1 tenant")];
        if round <= rounds {
            blocks.push((&many, many_metrics, &one, &many_prepared, many_label.as_str()));
        }
        for (server, metrics, other, prepared, label) in blocks {
            pause(other, true)?;
            pause(server, false)?;
            let reload = await_reload(server, metrics)?;
            let rss = server.rss_kib()? as f64 / 1024.0;
            say!(
                "{label}: resumed; its tenant reload started after {:.1} s, busy {:.1} s, {:.2} CPU-s, \
                 slowest /hello meanwhile {:.0} ms; RSS {rss:.1} MiB",
                reload.waited_s,
                reload.wall_s,
                reload.cpu_s,
                reload.hello_max_ms
            );
            reloads.push((round, label.to_string(), reload, rss));
            measure(server, prepared, round, label, duration, conns, &mut runs)?;
        }
    }
    pause(&one, false)?;
    pause(&many, false)?;
    footprints.push(Footprint {
        what: format!("{tenants} tenants, after the latency runs"),
        startup_ms: None,
        rss_mib: many.rss_kib()? as f64 / 1024.0,
    });
    footprints.push(Footprint {
        what: "1 tenant, after the latency runs".into(),
        startup_ms: None,
        rss_mib: one.rss_kib()? as f64 / 1024.0,
    });
    many.stop()?;
    drop(one);
    let uptime_after = uptime();

    // Report.
    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!();
    let mut t = Table::new(&[
        "tenants created",
        "clients",
        "seconds",
        "tenants/s",
        "tenants/s, first tenth",
        "tenants/s, last tenth",
        "p50 ms",
        "p99 ms",
        "load 1m before→after",
    ]);
    t.row(vec![
        tenants.to_string(),
        create_conns.to_string(),
        format!("{:.1}", creation.seconds),
        format!("{:.0}", tenants as f64 / creation.seconds),
        format!("{:.0}", creation.first_tenth_rate),
        format!("{:.0}", creation.last_tenth_rate),
        format!("{:.2}", creation.p50_ms),
        format!("{:.2}", creation.p99_ms),
        load_span(creation.load_before, creation.load_after),
    ]);
    t.print();
    let mut t = Table::new(&["server", "start-up (spawn → first 200 on /hello)", "RSS MiB"]);
    for f in &footprints {
        t.row(vec![
            f.what.clone(),
            f.startup_ms.map_or_else(String::new, |ms| format!("{ms:.0} ms")),
            format!("{:.1}", f.rss_mib),
        ]);
    }
    t.print();
    println!(
        "GET /recipe/multitenancy/tenant/list/v2 with {tenants} tenants: {} tenants listed, {:.2} MB, {:.0} ms\n",
        list.0,
        list.1 as f64 / 1e6,
        list.2
    );
    let mut t = Table::new(&[
        "round",
        "server",
        "operation",
        "conns",
        "req/s",
        "p50 ms",
        "p99 ms",
        "load 1m before→after",
        "problems",
    ]);
    for r in &runs {
        t.row(vec![
            r.round.to_string(),
            r.target.clone(),
            r.operation.into(),
            r.conns.to_string(),
            format!("{:.0}", r.result.rps),
            format!("{:.2}", r.result.p50_ms),
            format!("{:.2}", r.result.p99_ms),
            load_span(r.result.load_before, r.result.load_after),
            r.result.problems(),
        ]);
    }
    t.print();
    let mut t = Table::new(&[
        "round",
        "server",
        "reload of every tenant: s busy",
        "server CPU-s",
        "slowest /hello meanwhile, ms",
        "/hello > 100 ms",
        "RSS MiB after it",
    ]);
    for (round, label, r, rss) in &reloads {
        t.row(vec![
            round.to_string(),
            label.clone(),
            format!("{:.1}", r.wall_s),
            format!("{:.2}", r.cpu_s),
            format!("{:.0}", r.hello_max_ms),
            r.hello_slow.to_string(),
            format!("{rss:.1}"),
        ]);
    }
    t.print();
    let mut t = Table::new(&[
        "operation",
        &format!("p99 {tenants} tenants / 1 tenant"),
        "p99 ms, many / 1 tenant",
        "p50 ms, many / 1 tenant",
        "req/s, many / 1 tenant",
    ]);
    for op in OPERATIONS {
        let of = |target: &str, round: usize| {
            runs.iter().find(|r| r.operation == op && r.target == target && r.round == round).map(|r| &r.result)
        };
        // Round r's many-tenant run against the mean of the one-tenant runs around it.
        let mean = |a: &WrkResult, b: &WrkResult, f: fn(&WrkResult) -> f64| (f(a) + f(b)) / 2.0;
        let rows: Vec<[f64; 6]> = (1..=rounds)
            .filter_map(|r| {
                let (m, a, b) = (of(&many_label, r)?, of("1 tenant", r)?, of("1 tenant", r + 1)?);
                Some([
                    m.p99_ms,
                    mean(a, b, |x| x.p99_ms),
                    m.p50_ms,
                    mean(a, b, |x| x.p50_ms),
                    m.rps,
                    mean(a, b, |x| x.rps),
                ])
            })
            .collect();
        let med = |k: usize| Stats::of(&rows.iter().map(|row| row[k]).collect::<Vec<_>>()).median;
        let ratios: Vec<f64> = rows.iter().map(|row| row[0] / row[1]).collect();
        let Stats { median, min, max } = Stats::of(&ratios);
        t.row(vec![
            op.into(),
            format!("{median:.2} ({min:.2}–{max:.2}; {}, target ≤ {P99_TARGET})", verdict(median, P99_TARGET, false)),
            format!("{:.2} / {:.2}", med(0), med(1)),
            format!("{:.2} / {:.2}", med(2), med(3)),
            format!("{:.0} / {:.0}", med(4), med(5)),
        ]);
    }
    println!(
        "p99 ratio: the median over {rounds} round(s) of the many-tenant run's p99 over the mean of the one-tenant \
         runs before and after it (range in brackets); other columns: medians over the rounds."
    );
    t.print();
    Ok(())
}

const OPERATIONS: [&str; 3] = ["sign-in", "verify (no db)", "verify (db)"];

/// Spawn a server on `db_url` with a metrics port and wait for it; returns it, its start-up
/// time in ms and its metrics port.
fn start(bin: &Path, db_url: &str) -> Result<(Server, f64, u16)> {
    let metrics = crate::free_port().map_err(|e| format!("finding a free port: {e}"))?;
    let config = format!("{}metrics_port: {metrics}\n", server_config(db_url));
    let mut server = Server::spawn_with_config(bin, &config, &[])?;
    let ready = server.wait_ready(Duration::from_secs(600))?;
    say!("server ready on port {} in {:.0} ms", server.port, ready.as_secs_f64() * 1000.0);
    Ok((server, ready.as_secs_f64() * 1000.0, metrics))
}

/// Completed runs of the job that reloads every tenant (`SyncCoreConfigWithDb`), from `GET
/// /metrics` on the metrics port.
///
/// A 408 is asked again (3 times, 200 ms apart): actix-web measures its request timeout from a
/// clock each worker refreshes every 500 ms, so a server resumed after a `SIGSTOP` longer than
/// the timeout may answer 408 to a request that arrives before that clock has caught up.
fn reload_runs(metrics_port: u16) -> Result<u64> {
    const LINE: &str = "supertokens_cron_runs_total{job=\"SyncCoreConfigWithDb\",result=\"run\"} ";
    let get =
        || crate::http_get(metrics_port, "/metrics", Duration::from_secs(10)).map_err(|e| format!("GET /metrics: {e}"));
    let mut r = get()?;
    for _ in 0..3 {
        if r.status != 408 {
            break;
        }
        thread::sleep(Duration::from_millis(200));
        r = get()?;
    }
    let body = String::from_utf8_lossy(&r.body);
    body.lines()
        .find_map(|l| l.strip_prefix(LINE)?.trim().parse().ok())
        .ok_or_else(|| format!("GET /metrics: HTTP {}, no SyncCoreConfigWithDb runs", r.status))
}

/// SIGSTOP (`true`) or SIGCONT a server.
fn pause(server: &Server, stop: bool) -> Result<()> {
    let signal = if stop { "-STOP" } else { "-CONT" };
    let status = std::process::Command::new("kill")
        .args([signal, &server.child.id().to_string()])
        .status()
        .map_err(|e| format!("kill {signal}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill {signal} {} failed: {status}", server.child.id()))
    }
}

/// User + system CPU time of a process in clock ticks (`/proc/<pid>/stat`, fields 14 and 15).
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    // After the comm: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let fields: Vec<u64> = after_comm.split_whitespace().skip(11).take(2).filter_map(|v| v.parse().ok()).collect();
    match fields.as_slice() {
        [u, s] => Ok(u + s),
        _ => Err(format!("unexpected /proc/{pid}/stat")),
    }
}

/// What a reload of every tenant cost, seen from outside.
struct Reload {
    /// Seconds waited for it to start.
    waited_s: f64,
    /// From its start (the job counter counts started runs) until the server's CPU time grows by
    /// at most 20 ms in a second.
    wall_s: f64,
    cpu_s: f64,
    /// The slowest `GET /hello` of a probe sending one every 10 ms meanwhile, and how many
    /// took more than 100 ms.
    hello_max_ms: f64,
    hello_slow: usize,
}

/// Wait (at most 90 s) for the server's next tenant reload to start (the job counter is read
/// every 100 ms), then until it is idle again, with a `/hello` probe running throughout.
fn await_reload(server: &Server, metrics_port: u16) -> Result<Reload> {
    use std::sync::atomic::AtomicBool;
    const TICK_S: f64 = 0.01;
    let pid = server.child.id();
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let probe = s.spawn(|| {
            let mut client = Client::new(server.port);
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                if client.call("GET", "/hello", "").is_ok() {
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                thread::sleep(Duration::from_millis(10));
            }
            latencies
        });
        let watched = (|| -> Result<(f64, f64, f64)> {
            let before = reload_runs(metrics_port)?;
            let started = Instant::now();
            while reload_runs(metrics_port)? == before {
                if started.elapsed() > Duration::from_secs(90) {
                    return Err("tenants: no tenant reload within 90 s".into());
                }
                thread::sleep(Duration::from_millis(100));
            }
            let waited = started.elapsed().as_secs_f64();
            let (reload_started, first) = (Instant::now(), cpu_ticks(pid)?);
            let mut samples = vec![(0.0, first)];
            loop {
                thread::sleep(Duration::from_millis(100));
                let t = reload_started.elapsed().as_secs_f64();
                let now = cpu_ticks(pid)?;
                samples.push((t, now));
                let second_ago = samples.iter().rev().find(|(at, _)| t - at >= 1.0).map(|x| x.1);
                if second_ago.is_some_and(|b| now - b <= 2) || t > 60.0 {
                    // Busy until the last sample that still grew.
                    let busy_until = samples.iter().find(|(_, c)| *c == now).map_or(t, |x| x.0);
                    return Ok((waited, busy_until, (now - first) as f64 * TICK_S));
                }
            }
        })();
        stop.store(true, Ordering::Relaxed);
        let latencies = probe.join().unwrap_or_default();
        let (waited_s, wall_s, cpu_s) = watched?;
        Ok(Reload {
            waited_s,
            wall_s,
            cpu_s,
            hello_max_ms: latencies.iter().copied().fold(0.0, f64::max),
            hello_slow: latencies.iter().filter(|&&l| l > 100.0).count(),
        })
    })
}

/// RSS after 2 s of idleness.
fn idle_rss(server: &Server) -> Result<f64> {
    thread::sleep(Duration::from_secs(2));
    Ok(server.rss_kib()? as f64 / 1024.0)
}

struct Creation {
    seconds: f64,
    first_tenth_rate: f64,
    last_tenth_rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    load_before: f64,
    load_after: f64,
}

/// `PUT /recipe/multitenancy/tenant/v2` for `tenant-0` … `tenant-<n-1>`: client k creates the
/// tenants i ≡ k (mod clients), each on one keep-alive connection.
fn create_tenants(server: &Server, n: usize, clients: usize) -> Result<Creation> {
    say!("creating {n} tenants with {clients} clients");
    let load_before = crate::util::load1();
    let started = Instant::now();
    let done = AtomicUsize::new(0);
    let results: Vec<Result<Vec<(f64, f64)>>> = thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let done = &done;
                s.spawn(move || -> Result<Vec<(f64, f64)>> {
                    let mut client = Client::new(server.port);
                    let mut out = Vec::with_capacity(n / clients + 1);
                    for i in (k..n).step_by(clients) {
                        let t = Instant::now();
                        let body = format!(r#"{{"tenantId":"tenant-{i}"}}"#);
                        let answer = client.ok("PUT", "/recipe/multitenancy/tenant/v2", &body)?;
                        if !answer.contains("\"createdNew\":true") {
                            return Err(format!("tenant-{i} was not created: {answer}"));
                        }
                        out.push((started.elapsed().as_secs_f64(), t.elapsed().as_secs_f64() * 1000.0));
                        let total = done.fetch_add(1, Ordering::Relaxed) + 1;
                        if total.is_multiple_of((n / 10).max(1)) {
                            say!(
                                "  {total} tenants in {:.1} s ({:.0}/s so far)",
                                started.elapsed().as_secs_f64(),
                                total as f64 / started.elapsed().as_secs_f64()
                            );
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a creating thread panicked".into()))).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let load_after = crate::util::load1();
    let mut all = Vec::with_capacity(n);
    for r in results {
        all.extend(r?);
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let tenth = (n / 10).max(1);
    let at = |i: usize| all.get(i.min(n - 1)).map_or(f64::NAN, |x| x.0);
    let first_tenth_rate = tenth as f64 / at(tenth - 1);
    let last_tenth_rate = tenth as f64 / (at(n - 1) - at(n - 1 - tenth));
    let mut latencies: Vec<f64> = all.iter().map(|x| x.1).collect();
    latencies.sort_by(f64::total_cmp);
    say!("created {n} tenants in {seconds:.1} s ({:.0}/s)", n as f64 / seconds);
    Ok(Creation {
        seconds,
        first_tenth_rate,
        last_tenth_rate,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        load_before,
        load_after,
    })
}

/// `GET /recipe/multitenancy/tenant/list/v2`: (tenants listed, bytes, ms); all must be there.
fn list_tenants(server: &Server, created: usize) -> Result<(usize, usize, f64)> {
    let t = Instant::now();
    let (status, body) = Client::new(server.port).call("GET", "/recipe/multitenancy/tenant/list/v2", "")?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let listed = body.matches("\"tenantId\":").count();
    if status != 200 || listed != created + 1 {
        return Err(format!("tenant/list/v2: HTTP {status}, {listed} tenants listed, expected {}", created + 1));
    }
    Ok((listed, body.len(), ms))
}

/// Sign up user i on `tenants[i - 1]` and create a session for it (2 clients in parallel).
fn prepare(server: &Server, tenants: Vec<String>) -> Result<Prepared> {
    say!("signing up {} users and creating their sessions", tenants.len());
    let tokens_of = |k: usize| -> Result<Vec<(usize, String)>> {
        let mut client = Client::new(server.port);
        let mut out = Vec::new();
        for (i, tenant) in tenants.iter().enumerate().skip(k).step_by(2) {
            let email = format!("user{}@example.com", i + 1);
            let signup = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
            let answer = client.ok("POST", &format!("/{tenant}/recipe/signup"), &signup)?;
            let id = json_str(&answer, "\"user\"", "id").ok_or_else(|| format!("no user id in {answer}"))?;
            let session =
                format!(r#"{{"userId":"{id}","userDataInJWT":{{}},"userDataInDatabase":{{}},"enableAntiCsrf":false}}"#);
            let answer = client.ok("POST", &format!("/{tenant}/recipe/session"), &session)?;
            let token = json_str(&answer, "\"accessToken\"", "token").ok_or_else(|| format!("no token in {answer}"))?;
            out.push((i, token));
        }
        Ok(out)
    };
    let parts: Vec<Result<Vec<(usize, String)>>> = thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|k| s.spawn(move || tokens_of(k))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a sign-up thread panicked".into()))).collect()
    });
    let mut tokens = Vec::new();
    for p in parts {
        tokens.extend(p?);
    }
    tokens.sort_by_key(|t| t.0);
    let dir = TempDir::new("st-bench-tenant-tokens")?;
    let lines: String = tokens.iter().map(|(_, t)| format!("{t}\n")).collect();
    fs::write(dir.path().join("access.txt"), lines).map_err(|e| e.to_string())?;
    // Each kind of request once, before wrk.
    let mut client = Client::new(server.port);
    client.ok(
        "POST",
        &format!("/{}/recipe/signin", tenants[0]),
        &format!(r#"{{"email":"user1@example.com","password":"{PASSWORD}"}}"#),
    )?;
    for check in [false, true] {
        client.ok("POST", "/recipe/session/verify", &verify_body(&tokens[0].1, check))?;
    }
    Ok(Prepared { tenants, tokens: dir })
}

fn verify_body(token: &str, check_database: bool) -> String {
    format!(
        r#"{{"accessToken":"{token}","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":{check_database}}}"#
    )
}

/// Sign-in and both verifies on `server`, each on a random prepared user.
fn measure(
    server: &Server,
    prepared: &Prepared,
    round: usize,
    target: &str,
    duration: u64,
    (signin_conns, verify_conns): (usize, usize),
    runs: &mut Vec<Run>,
) -> Result<()> {
    say!("--- {target}, round {round} ---");
    let tenants: String = prepared.tenants.iter().map(|t| format!("'{t}',")).collect();
    let signin = format!(
        "{headers}local tenants = {{{tenants}}}\n\
         function init(args) math.randomseed(os.time() + tid * 7919) end\n\
         function request()\n  local i = math.random(1, #tenants)\n  \
         return wrk.format(nil, '/' .. tenants[i] .. '/recipe/signin', nil, \
         '{{\"email\":\"user' .. i .. '@example.com\",\"password\":\"{PASSWORD}\"}}')\nend\n",
        headers = lua_headers(),
    );
    let spec = Spec {
        url: server.url("/"),
        conns: signin_conns,
        duration_s: duration,
        timeout_s: 60,
        lua: signin,
        check_ok: true,
    };
    runs.push(Run {
        round,
        target: target.into(),
        operation: "sign-in",
        conns: signin_conns,
        result: wrk::run(&spec)?,
    });
    let threads = verify_conns.clamp(1, 2);
    for (operation, check) in [("verify (no db)", false), ("verify (db)", true)] {
        let body = format!(
            r#"'{{"accessToken":"' .. next_item() .. '","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":{check}}}'"#
        );
        let lines = lua_lines(&prepared.tokens.path().join("access.txt"), prepared.tenants.len(), threads);
        let lua = format!(
            "{headers}{lines}\nfunction request()\n  return wrk.format(nil, nil, nil, {body})\nend\n",
            headers = lua_headers(),
        );
        let spec = Spec {
            url: server.url("/recipe/session/verify"),
            conns: verify_conns,
            duration_s: duration,
            timeout_s: 10,
            lua,
            check_ok: true,
        };
        runs.push(Run { round, target: target.into(), operation, conns: verify_conns, result: wrk::run(&spec)? });
    }
    Ok(())
}
