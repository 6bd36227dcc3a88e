//! `cargo xtask bench session`: session create / refresh / verify throughput of the server
//! (in-memory and PostgreSQL) at several concurrencies, beside ceilings measured in the same
//! run on the same box:
//! * bare `POST /verify` and `POST /sign` of `st-bench-baseline` (HTTP + JSON + the RS256 work
//!   of the endpoint, nothing else);
//! * `pgbench` running the SQL of create (INSERT INTO session_info + user_last_active upsert)
//!   and refresh (BEGIN; SELECT … FOR UPDATE; COMMIT + upsert) on the same database, whose
//!   tables the server's own migration created.
//!
//! Ratios: verify without database vs bare /verify (target ≥ 0.8); create and refresh vs the
//! lower of their ceilings (target ≥ 0.7; /sign alone for the in-memory store).
//!
//! `--ceiling-alg ES256` (issue 26; with `--server-config 'access_token_signing_algorithm:
//! ES256'`): the bare ceilings are `POST /sign-es256` and `POST /verify-es256` (P-256 with ring),
//! and each round also runs the bare RS256 `/verify` (on tokens of the baseline's own RSA key)
//! beside them, so the table shows what an ES256 verification costs against an RS256 one; the
//! per-operation CPU cost of each algorithm (`st-bench-baseline sig-cost`) is printed before and
//! after the runs.
//!
//! The box is shared and its speed drifts by tens of percent within minutes, so each
//! concurrency is measured in `--rounds` rounds (default 3) of every run, ceilings included,
//! and each ratio is taken within its round, against that round's ceilings: the table reports
//! the median of those ratios, with their range, and the verdict is on the median. Within a
//! round each target gets its own ceilings next to its runs: bare /sign just before its create
//! and again just after its refresh (their mean is the ceiling), bare /verify just before its
//! verifies.

use crate::baseline::{self, BaselineServer};
use crate::bench_flow::server_bin;
use crate::pg::BenchDb;
use crate::util::{json_str, load_span, uptime, verdict, Flags, Table};
use crate::wrk::{self, lua_lines, Spec, WrkResult};
use crate::{http_get, http_request, repo_root, Result, Server, Stats, TempDir};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const VERIFY_TARGET: f64 = 0.8;
const WRITE_TARGET: f64 = 0.7;

/// Sessions are created for `bench-user-<random 1..=CREATE_USERS>` (so the user_last_active
/// upsert mostly updates, without every request fighting for one row).
const CREATE_USERS: u32 = 10_000;

/// Lua: a create-session body for a random user (used for the server and for baseline /sign).
const CREATE_INIT: &str = "function init(args) math.randomseed(os.time() + tid * 7919) end";
const CREATE_BODY: &str = r#"'{"userId":"bench-user-' .. math.random(1, 10000) .. '","userDataInJWT":{},"userDataInDatabase":{},"enableAntiCsrf":false}'"#;
const REFRESH_BODY: &str =
    r#"'{"refreshToken":"' .. next_item() .. '","enableAntiCsrf":false,"useDynamicSigningKey":true}'"#;

fn verify_body(check_database: bool) -> String {
    format!(
        r#"'{{"accessToken":"' .. next_item() .. '","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":{check_database}}}'"#
    )
}

/// A server under test with `max_conns` pre-created sessions (tokens in `access.txt` and
/// `refresh.txt`, one per line; session i belongs to `bench-refresh-user-<i>`).
struct Target {
    name: &'static str,
    server: Server,
    tokens: TempDir,
}

/// One measured run.
struct Run {
    conns: usize,
    round: usize,
    target: &'static str,
    /// For a ceiling run of the baseline server: the target whose runs it brackets.
    beside: &'static str,
    operation: &'static str,
    result: WrkResult,
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "session",
        args,
        &[
            "--duration",
            "--conns",
            "--backends",
            "--server-config",
            "--rounds",
            "--ceiling-alg",
            "--server-bin",
            "--baseline-bin",
        ],
    )?;
    // The bare handlers the ratios are taken against: RS256 (`/sign`, `/verify`), or ES256.
    let es256 = match flags.raw("--ceiling-alg") {
        None | Some("RS256") => false,
        Some("ES256") => true,
        Some(other) => return Err(format!("session: --ceiling-alg {other}: RS256 or ES256")),
    };
    let (sign_path, verify_path) = if es256 { ("/sign-es256", "/verify-es256") } else { ("/sign", "/verify") };
    let duration = flags.seconds("--duration", 5)?;
    let rounds = flags.num_list("--rounds", &[3])?;
    let rounds = match rounds.as_slice() {
        [n] if *n > 0 => *n,
        _ => return Err("session: --rounds takes one positive number".into()),
    };
    let conns: Vec<usize> = flags.num_list("--conns", &[1, 16, 64])?;
    let backends = flags.word_list("--backends", &["memory", "postgres"]);
    // Extra config.yaml lines for the servers under test, `;`-separated, e.g.
    // `--server-config 'max_server_pool_size: 4'`: for experiments with other settings.
    let extra_config: String =
        flags.raw("--server-config").unwrap_or_default().split(';').map(|l| format!("{}\n", l.trim())).collect();
    let max_conns = conns.iter().copied().max().unwrap_or(1);
    if conns.contains(&0) {
        return Err("session: --conns must be positive".into());
    }
    if let Some(b) = backends.iter().find(|b| !["memory", "postgres"].contains(&b.as_str())) {
        return Err(format!("session: unknown backend `{b}` (memory, postgres)"));
    }

    wrk::ensure_wrk()?;
    let root = repo_root();
    let server_bin = server_bin(&flags)?;
    let baseline_bin = match flags.raw("--baseline-bin") {
        Some(p) if Path::new(p).is_file() => Path::new(p).to_path_buf(),
        Some(p) => return Err(format!("session: --baseline-bin: {p} is not a file")),
        None => baseline::build(&root)?,
    };
    let sig_cost_before = if es256 { sig_cost(&baseline_bin)? } else { String::new() };
    let uptime_before = uptime();

    let db = if backends.iter().any(|b| b == "postgres") { Some(BenchDb::create("session")?) } else { None };
    let mut targets = Vec::new();
    for backend in &backends {
        let (name, config) = match (backend.as_str(), &db) {
            ("postgres", Some(db)) => {
                ("postgres", format!("core_config_version: 0\npostgresql_connection_uri: \"{}\"\n", db.url))
            }
            _ => ("memory", "core_config_version: 0\n".to_string()),
        };
        let config = format!("{config}{extra_config}");
        let mut server = Server::spawn_with_config(&server_bin, &config, &[])?;
        server.wait_ready(Duration::from_secs(120))?;
        say!("{name} server ready on port {}; creating {max_conns} sessions", server.port);
        let tokens = create_sessions(&server, max_conns)?;
        targets.push(Target { name, server, tokens });
    }
    let first = targets.first().ok_or("session: no backend selected")?;

    // The baseline verifies the first server's tokens with that server's public keys.
    let jwks = http_get(first.server.port, "/.well-known/jwks.json", Duration::from_secs(10))
        .map_err(|e| format!("GET /.well-known/jwks.json: {e}"))?;
    let jwks = String::from_utf8_lossy(&jwks.body).into_owned();
    let baseline = BaselineServer::start(&baseline_bin, &[("ST_BENCH_JWKS", &jwks)])?;
    let access0 = first_line(&first.tokens, "access.txt")?;
    expect_ok(baseline.port, verify_path, &format!(r#"{{"accessToken":"{access0}","checkDatabase":false}}"#))?;
    let baseline_access = first.tokens.path().join("access.txt");
    // With ES256 ceilings, RS256 tokens of the baseline's own key for its bare RS256 /verify.
    let rs256_tokens = if es256 { Some(baseline_rs256_tokens(baseline.port, max_conns)?) } else { None };

    if let Some(db) = &db {
        db.psql(&pgbench_fixture(max_conns))?;
    }
    // Fresh tables have no statistics until autovacuum's first ANALYZE (up to a minute or
    // more); meanwhile PostgreSQL looked sessions up through session_info_tenant_id_index
    // (app_id, tenant_id) and filtered every row. Analyze before each round so that the
    // benchmark measures the steady state, not that cold-start artefact.
    let analyze = |db: &Option<BenchDb>| -> Result<()> {
        match db {
            Some(db) => db.psql("VACUUM ANALYZE session_info, user_last_active;").map(drop),
            None => Ok(()),
        }
    };

    let mut runs: Vec<Run> = Vec::new();
    let mut record = |conns: usize,
                      round: usize,
                      (target, beside): (&'static str, &'static str),
                      operation: &'static str,
                      result: WrkResult| {
        runs.push(Run { conns, round, target, beside, operation, result });
    };
    for (c, round) in conns.iter().flat_map(|&c| (1..=rounds).map(move |r| (c, r))) {
        let threads = c.clamp(1, 2);
        say!("--- {c} connection(s), round {round} of {rounds} ---");
        analyze(&db)?;
        for t in &targets {
            let url = |p: &str| t.server.url(p);
            let refresh_file = t.tokens.path().join("refresh.txt");
            let access_file = t.tokens.path().join("access.txt");
            let (own, ceiling) = ((t.name, ""), ("baseline", t.name));
            // Bare /sign right before the target's create and right after its refresh: the
            // ceiling of both is the mean of the two.
            let sign = Spec::post_lua(baseline.url(sign_path), c, duration, CREATE_INIT, CREATE_BODY);
            record(c, round, ceiling, "bare /sign", wrk::run(&sign)?);
            let spec = Spec::post_lua(url("/public/recipe/session"), c, duration, CREATE_INIT, CREATE_BODY);
            record(c, round, own, "create", wrk::run(&spec)?);
            // The create run grew session_info by up to a hundred times since the round's
            // ANALYZE. Statements prepared on the small table keep generic plans that tie the
            // (app_id, tenant_id) index with the primary key and may filter every row; a live
            // database's autovacuum re-analyzes a table that grows like this within a minute.
            // Measure refresh and verify on current statistics, as in that steady state.
            if t.name == "postgres" {
                analyze(&db)?;
            }
            let spec = Spec::post_lua(
                url("/public/recipe/session/refresh"),
                c,
                duration,
                &lua_lines(&refresh_file, c, threads),
                REFRESH_BODY,
            );
            record(c, round, own, "refresh", wrk::run(&spec)?);
            record(c, round, ceiling, "bare /sign", wrk::run(&sign)?);
            let verify = Spec::post_lua(
                baseline.url(verify_path),
                c,
                duration,
                &lua_lines(&baseline_access, c, threads),
                &verify_body(false),
            );
            record(c, round, ceiling, "bare /verify", wrk::run(&verify)?);
            if let Some(dir) = &rs256_tokens {
                let rs256 = Spec::post_lua(
                    baseline.url("/verify"),
                    c,
                    duration,
                    &lua_lines(&dir.path().join("access.txt"), c, threads),
                    &verify_body(false),
                );
                record(c, round, ceiling, "bare /verify RS256", wrk::run(&rs256)?);
            }
            for (operation, check_db) in [("verify (no db)", false), ("verify (db)", true)] {
                let spec = Spec::post_lua(
                    url("/recipe/session/verify"),
                    c,
                    duration,
                    &lua_lines(&access_file, c, threads),
                    &verify_body(check_db),
                );
                record(c, round, own, operation, wrk::run(&spec)?);
            }
        }

        if let Some(db) = &db {
            record(c, round, ("pgbench", ""), "create SQL", db.pgbench(&pgbench_create(), c, duration)?);
            record(c, round, ("pgbench", ""), "refresh SQL", db.pgbench(&pgbench_refresh(), c, duration)?);
        }
    }
    let uptime_after = uptime();
    let sig_cost_after = if es256 { sig_cost(&baseline_bin)? } else { String::new() };

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if es256 {
        println!("ceilings: bare {sign_path} and {verify_path} (ES256, ring P-256); `bare /verify RS256` is the RS256 /verify on the baseline's own RSA-2048 tokens");
        println!("one core's CPU per signature (st-bench-baseline sig-cost), before the runs:\n{sig_cost_before}after:\n{sig_cost_after}");
    }
    if db.as_ref().is_some_and(BenchDb::throwaway) {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off), shared by the server and pgbench");
    }
    println!();
    let mut table = Table::new(&[
        "conns",
        "round",
        "target",
        "operation",
        "req/s (pgbench: TPS)",
        "p50 ms",
        "p99 ms",
        "load 1m before→after",
        "problems",
    ]);
    for r in &runs {
        table.row(vec![
            r.conns.to_string(),
            r.round.to_string(),
            if r.beside.is_empty() { r.target.to_string() } else { format!("{} ({})", r.target, r.beside) },
            r.operation.into(),
            format!("{:.0}", r.result.rps),
            format!("{:.2}", r.result.p50_ms),
            format!("{:.2}", r.result.p99_ms),
            load_span(r.result.load_before, r.result.load_after),
            r.result.problems(),
        ]);
    }
    table.print();

    // The mean req/s of the matching runs (NaN: none).
    let rps = |c: usize, round: usize, (target, beside): (&str, &str), op: &str| {
        let found: Vec<f64> = runs
            .iter()
            .filter(|r| {
                r.conns == c && r.round == round && r.target == target && r.beside == beside && r.operation == op
            })
            .map(|r| r.result.rps)
            .collect();
        found.iter().sum::<f64>() / found.len() as f64
    };
    let mut ratios = Table::new(&[
        "backend",
        "conns",
        "verify (no db) / bare /verify",
        "create / ceiling",
        "create ceiling",
        "refresh / ceiling",
        "refresh ceiling",
    ]);
    for t in &targets {
        for &c in &conns {
            // Per round: (ratio, ceiling req/s, which ceiling).
            let per_round = |op: &str, sql_op: Option<&str>| -> Vec<(f64, f64, &'static str)> {
                (1..=rounds)
                    .map(|round| {
                        let (ceiling, which) = match sql_op {
                            None => (rps(c, round, ("baseline", t.name), "bare /verify"), "/verify"),
                            Some(sql_op) => {
                                let sign = rps(c, round, ("baseline", t.name), "bare /sign");
                                let sql = rps(c, round, ("pgbench", ""), sql_op);
                                if t.name == "postgres" && sql < sign {
                                    (sql, "pgbench")
                                } else {
                                    (sign, "/sign")
                                }
                            }
                        };
                        (rps(c, round, (t.name, ""), op) / ceiling, ceiling, which)
                    })
                    .collect()
            };
            let cell = |rounds: &[(f64, f64, &str)], target: f64| {
                let Stats { median: med, min: lo, max: hi } =
                    Stats::of(&rounds.iter().map(|r| r.0).collect::<Vec<_>>());
                format!("{med:.2} ({lo:.2}–{hi:.2}; {}, target ≥ {target})", verdict(med, target, true))
            };
            let label = |rounds: &[(f64, f64, &'static str)]| {
                let ceilings: Vec<f64> = rounds.iter().map(|r| r.1).collect();
                let mut which: Vec<&str> = rounds.iter().map(|r| r.2).collect();
                which.sort_unstable();
                which.dedup();
                format!("{:.0} ({})", Stats::of(&ceilings).median, which.join(", "))
            };
            let verify = per_round("verify (no db)", None);
            let create = per_round("create", Some("create SQL"));
            let refresh = per_round("refresh", Some("refresh SQL"));
            ratios.row(vec![
                t.name.into(),
                c.to_string(),
                cell(&verify, VERIFY_TARGET),
                cell(&create, WRITE_TARGET),
                label(&create),
                cell(&refresh, WRITE_TARGET),
                label(&refresh),
            ]);
        }
    }
    println!();
    println!("Ratios: the median over {rounds} round(s) of each round's ratio to that round's ceiling (range in brackets); ceilings: median req/s.");
    ratios.print();
    if es256 {
        let mut versus =
            Table::new(&["conns", "bare /verify-es256 req/s", "bare /verify RS256 req/s", "ES256 / RS256"]);
        for &c in &conns {
            for t in targets.iter().take(1) {
                let per = |op: &str| (1..=rounds).map(|r| rps(c, r, ("baseline", t.name), op)).collect::<Vec<_>>();
                let (es, rs) = (per("bare /verify"), per("bare /verify RS256"));
                let ratio: Vec<f64> = es.iter().zip(&rs).map(|(e, r)| e / r).collect();
                let Stats { median, min, max } = Stats::of(&ratio);
                versus.row(vec![
                    c.to_string(),
                    format!("{:.0}", Stats::of(&es).median),
                    format!("{:.0}", Stats::of(&rs).median),
                    format!("{median:.2} ({min:.2}–{max:.2})"),
                ]);
            }
        }
        println!();
        println!(
            "Bare verification, ES256 against RS256 (the first backend's rounds; medians, ratio range in brackets):"
        );
        versus.print();
    }
    Ok(())
}

/// `st-bench-baseline sig-cost --seconds 2`: its `alg=… sign_us=… verify_us=…` lines.
fn sig_cost(bin: &Path) -> Result<String> {
    let out = Command::new(bin)
        .args(["sig-cost", "--seconds", "2"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {} sig-cost: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("st-bench-baseline sig-cost failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `n` RS256 access tokens from the baseline's own `POST /sign` (its RSA key), in `access.txt`.
fn baseline_rs256_tokens(port: u16, n: usize) -> Result<TempDir> {
    let dir = TempDir::new("st-bench-rs256")?;
    let mut access = String::new();
    for i in 0..n {
        let answer = expect_ok(port, "/sign", &format!(r#"{{"userId":"bench-rs256-user-{i}","userDataInJWT":{{}}}}"#))?;
        access.push_str(&json_str(&answer, "\"accessToken\"", "token").ok_or_else(|| format!("no token in {answer}"))?);
        access.push('\n');
    }
    fs::write(dir.path().join("access.txt"), &access).map_err(|e| e.to_string())?;
    let first = first_line(&dir, "access.txt")?;
    expect_ok(port, "/verify", &format!(r#"{{"accessToken":"{first}","checkDatabase":false}}"#))?;
    Ok(dir)
}

/// Create `n` sessions through the server; write their tokens to `access.txt` / `refresh.txt`
/// and check that refresh and both verifies accept the first ones.
fn create_sessions(server: &Server, n: usize) -> Result<TempDir> {
    let dir = TempDir::new("st-bench-tokens")?;
    let (mut access, mut refresh) = (String::new(), String::new());
    for i in 0..n {
        let body = format!(
            r#"{{"userId":"bench-refresh-user-{i}","userDataInJWT":{{}},"userDataInDatabase":{{}},"enableAntiCsrf":false}}"#
        );
        let answer = expect_ok(server.port, "/public/recipe/session", &body)?;
        let token =
            |anchor: &str| json_str(&answer, anchor, "token").ok_or_else(|| format!("no {anchor} token in {answer}"));
        access.push_str(&token("\"accessToken\"")?);
        access.push('\n');
        refresh.push_str(&token("\"refreshToken\"")?);
        refresh.push('\n');
    }
    fs::write(dir.path().join("access.txt"), &access).map_err(|e| e.to_string())?;
    fs::write(dir.path().join("refresh.txt"), &refresh).map_err(|e| e.to_string())?;

    let refresh0 = first_line(&dir, "refresh.txt")?;
    let access0 = first_line(&dir, "access.txt")?;
    for _ in 0..2 {
        // Twice: the same (parent) refresh token must keep working, as the benchmark reuses it.
        expect_ok(
            server.port,
            "/public/recipe/session/refresh",
            &format!(r#"{{"refreshToken":"{refresh0}","enableAntiCsrf":false,"useDynamicSigningKey":true}}"#),
        )?;
    }
    for check in [false, true] {
        expect_ok(
            server.port,
            "/recipe/session/verify",
            &format!(
                r#"{{"accessToken":"{access0}","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":{check}}}"#
            ),
        )?;
    }
    Ok(dir)
}

fn first_line(dir: &TempDir, file: &str) -> Result<String> {
    fs::read_to_string(dir.path().join(file))
        .map_err(|e| e.to_string())?
        .lines()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("{file} is empty"))
}

/// POST a JSON body; the answer must be HTTP 200 with `"status":"OK"`. Returns the body.
fn expect_ok(port: u16, path: &str, body: &str) -> Result<String> {
    let r = http_request(
        port,
        "POST",
        path,
        // As the benchmarked requests (`wrk::POST_HEADERS`): CDI 5.4's refresh keeps the
        // parent token usable, 5.6's (the default without the header) rotates it.
        &[("Content-Type", "application/json"), ("cdi-version", "5.4")],
        Some(body.as_bytes()),
        Duration::from_secs(30),
    )
    .map_err(|e| format!("POST {path}: {e}"))?;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    if r.status != 200 || !text.contains("\"status\":\"OK\"") {
        return Err(format!("POST {path} answered {}: {text}", r.status));
    }
    Ok(text)
}

/// Wall-clock milliseconds for the rows pgbench writes (this is a tool, not server code).
#[allow(clippy::disallowed_methods)]
fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A 64-character refresh_token_hash_2 (sha256 hex in the server).
const HASH2: &str = "5f2c0c1e9b3a4d6e8f70112233445566778899aabbccddeeff00112233445566";

/// session_info rows `pgb-r-<i>` (users `pgb-refresh-user-<i>`) that pgbench client i refreshes.
fn pgbench_fixture(n: usize) -> String {
    let now = now_ms();
    format!(
        "INSERT INTO session_info (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, \
         session_data, expires_at, created_at_time, jwt_user_payload, use_static_key) \
         SELECT 'public', 'public', 'pgb-r-' || i, 'pgb-refresh-user-' || i, '{HASH2}', '{{}}', {exp}, {now}, '{{}}', FALSE \
         FROM generate_series(0, {last}) i;",
        exp = now + 8_640_000_000,
        last = n.saturating_sub(1),
    )
}

/// The upsert of `touch_user_last_active` (crates/storage-postgres/src/active_users.rs).
fn last_active_upsert(user_expr: &str, now: i64) -> String {
    format!(
        "INSERT INTO user_last_active (app_id, user_id, last_active_time) VALUES ('public', {user_expr}, {now}) \
         ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time;"
    )
}

/// The SQL of session creation: `session_insert` + `last_active_upsert`, same column sizes
/// (36-character handle, 64-character hash, `{}` payloads).
fn pgbench_create() -> String {
    let now = now_ms();
    format!(
        "\\set u random(1, {CREATE_USERS})\n\
         INSERT INTO session_info (app_id, tenant_id, session_handle, user_id, refresh_token_hash_2, \
         session_data, expires_at, created_at_time, jwt_user_payload, use_static_key) \
         VALUES ('public', 'public', gen_random_uuid()::TEXT, 'bench-user-' || :u::TEXT, '{HASH2}', '{{}}', {exp}, {now}, '{{}}', FALSE);\n\
         {upsert}\n",
        exp = now + 8_640_000_000,
        upsert = last_active_upsert("'bench-user-' || :u::TEXT", now),
    )
}

/// The SQL of refreshing with a parent token: `session_select_for_update` in a transaction
/// (no UPDATE: the row does not change) + `last_active_upsert`. Client i uses row `pgb-r-<i>`.
fn pgbench_refresh() -> String {
    format!(
        "BEGIN;\n\
         SELECT user_id, refresh_token_hash_2, session_data, expires_at, created_at_time, jwt_user_payload, use_static_key \
         FROM session_info WHERE app_id = 'public' AND tenant_id = 'public' AND session_handle = 'pgb-r-' || :client_id::TEXT FOR UPDATE;\n\
         COMMIT;\n\
         {upsert}\n",
        upsert = last_active_upsert("'pgb-refresh-user-' || :client_id::TEXT", now_ms()),
    )
}
