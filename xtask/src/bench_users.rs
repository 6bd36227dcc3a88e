//! `cargo xtask bench users`: the server on PostgreSQL with many email-password users.
//!
//! 1. Seeds users through SQL (`INSERT … SELECT generate_series` into the four tables of an
//!    email-password user, all with one bcrypt-11 hash computed once), first to the smallest
//!    size, then up to each larger one.
//! 2. At each size: latency (p50/p99, sequential requests) of `GET /public/users?limit=100`
//!    ascending, descending, with `email=user12` and from a pagination token in the middle of
//!    the set; then `EXPLAIN ANALYZE` of the listing query (a copy of the server's, see
//!    [`listing_sql`]). Ratio largest/smallest size: target ≤ 3×.
//! 3. Sign-in (wrk, existing credentials) and sign-up (unique e-mails) at a few client counts,
//!    beside raw bcrypt-11 verify / hash throughput with 2 threads measured in the same run
//!    (target ≥ 90 %); `GET /hello` p99 measured with a second, rate-limited wrk while 16
//!    clients sign in (target < 10 ms).

#[path = "../../crates/storage-postgres/src/listing_sql.rs"]
mod listing;

use crate::baseline;
use crate::pg::BenchDb;
use crate::util::{json_str, load1, load_span, percentile, ratio, uptime, verdict, Flags, Table};
use crate::wrk::{self, Spec, WrkResult};
use crate::{build_release_supertokens, http_get, http_request, repo_root, Result, Server};
use std::thread;
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password-1";
const BCRYPT_COST: u32 = 11;
/// time_joined of seeded user i is `T0 + 10·i` ms.
const T0: i64 = 1_600_000_000_000;
const PAGE: usize = 100;
const SEARCH: &str = "user12";
const LISTING_TARGET: f64 = 3.0;
const HASH_TARGET: f64 = 0.9;
const HELLO_P99_TARGET_MS: f64 = 10.0;

/// Seeded user i: id (a valid UUID), e-mail.
fn user_id(i: u64) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

/// The same id as a SQL expression of `i`.
const USER_ID_SQL: &str = "lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')";

/// The server's pagination token of user i (`base64("<id>;<time_joined>")`).
fn pagination_token(i: u64) -> String {
    crate::util::base64(format!("{};{}", user_id(i), T0 + 10 * i as i64).as_bytes())
}

/// A listing request shape.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    ascending: bool,
    search: bool,
    /// Start after the middle user (pagination token).
    deep: bool,
}

const CASES: [Case; 6] = [
    Case { name: "ASC, first page", ascending: true, search: false, deep: false },
    Case { name: "DESC, first page", ascending: false, search: false, deep: false },
    Case { name: "ASC, email=user12", ascending: true, search: true, deep: false },
    Case { name: "DESC, email=user12", ascending: false, search: true, deep: false },
    Case { name: "ASC, page after the middle user", ascending: true, search: false, deep: true },
    Case { name: "DESC, page after the middle user", ascending: false, search: false, deep: true },
];

impl Case {
    fn path(&self, users: u64) -> String {
        let order = if self.ascending { "ASC" } else { "DESC" };
        let mut p = format!("/public/users?limit={PAGE}&timeJoinedOrder={order}");
        if self.search {
            p.push_str(&format!("&email={SEARCH}"));
        }
        if self.deep {
            p.push_str(&format!("&paginationToken={}", crate::util::url_encode(&pagination_token(users / 2))));
        }
        p
    }

    /// `EXECUTE` arguments for the prepared copy of the listing query.
    fn execute_args(&self, users: u64) -> String {
        if self.search {
            // The server's LIKE patterns for one e-mail tag (prefix, or start of the domain
            // part), no phone or provider tags, and the reference's 1000 matches per recipe.
            return format!("'public', 'public', '{{\"{SEARCH}%\",\"%@{SEARCH}%\"}}', '{{}}', '{{}}', 1000");
        }
        let mut args = String::from("'public', 'public', '{}'");
        if self.deep {
            let mid = users / 2;
            args.push_str(&format!(", {}, '{}'", T0 + 10 * mid as i64, user_id(mid)));
        }
        // A page asks for one row more than it shows, to know if there is a next.
        args.push_str(&format!(", {}", PAGE + 1));
        args
    }
}

/// Latency of one case at one size.
struct Listing {
    users: u64,
    case: Case,
    /// Sorted latencies of the completed requests.
    latencies_ms: Vec<f64>,
    /// Why the case stopped before `--requests` requests, if it did.
    cut_short: Option<String>,
    /// `Execution Time` of EXPLAIN ANALYZE (NaN when it exceeded [`Limits::explain_s`]).
    db_ms: f64,
    load_before: f64,
    load_after: f64,
}

impl Listing {
    fn p(&self, q: f64) -> f64 {
        percentile(&self.latencies_ms, q)
    }

    /// A latency cell: the value, or why there is none.
    fn cell(&self, q: f64, limits: &Limits) -> String {
        if self.latencies_ms.is_empty() {
            format!("> {} s (timed out)", limits.timeout_s)
        } else {
            format!("{:.1}", self.p(q))
        }
    }
}

/// Time limits of the listing measurements (the search query is quadratic: see the docs).
struct Limits {
    requests: usize,
    /// Per request.
    timeout_s: u64,
    /// Per case: stop issuing requests after this long.
    budget_s: u64,
    /// `statement_timeout` of EXPLAIN ANALYZE; beyond it, plain EXPLAIN.
    explain_s: u64,
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "users",
        args,
        &["--duration", "--requests", "--sizes", "--signin-conns", "--timeout", "--budget"],
    )?;
    let duration = flags.seconds("--duration", 10)?;
    let requests: usize = flags.num("--requests", 200)?;
    let limits = Limits {
        requests,
        timeout_s: flags.seconds("--timeout", 30)?,
        budget_s: flags.seconds("--budget", 300)?,
        explain_s: 30,
    };
    let mut sizes: Vec<u64> = flags.num_list("--sizes", &[100_000, 1_000_000])?;
    sizes.sort_unstable();
    let signin_conns: Vec<usize> = flags.num_list("--signin-conns", &[2, 16])?;
    let smallest = sizes.first().copied().unwrap_or(0);
    if smallest < 2 * PAGE as u64 || requests == 0 {
        return Err(format!("users: sizes must be at least {} and --requests positive", 2 * PAGE));
    }

    wrk::ensure_wrk()?;
    let root = repo_root();
    let server_bin = build_release_supertokens(&root)?;
    let baseline_bin = baseline::build(&root)?;
    let uptime_before = uptime();

    let db = BenchDb::create("users")?;
    let config = format!("core_config_version: 0\npostgresql_connection_uri: \"{}\"\n", db.url);
    let mut server = Server::spawn_with_config(&server_bin, &config, &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    say!("server ready on port {} (schema created by its migration)", server.port);
    let hash = baseline::bcrypt_make(&baseline_bin, PASSWORD, BCRYPT_COST)?;

    // Listing at each size.
    let mut seeded = 0u64;
    let mut seeding = Table::new(&["users after", "added", "seconds (INSERT … SELECT + VACUUM ANALYZE)"]);
    let mut listings: Vec<Listing> = Vec::new();
    let mut plans = String::new();
    for &size in &sizes {
        let t = Instant::now();
        seed(&db, seeded + 1, size, &hash)?;
        seeding.row(vec![size.to_string(), (size - seeded).to_string(), format!("{:.1}", t.elapsed().as_secs_f64())]);
        seeded = size;
        check_first_page_token(&server)?;
        for case in CASES {
            let listing = measure_listing(&server, &db, case, size, &limits)?;
            if [0, 2, 5].iter().any(|&i| CASES[i].name == case.name) {
                let (how, plan) = explain(&db, case, size, listing.latencies_ms.is_empty(), &limits)?;
                plans.push_str(&format!("-- {size} users, {}: {how} of the listing query\n{plan}\n", case.name));
            }
            listings.push(listing);
        }
    }

    // Sign-in / sign-up against raw bcrypt.
    let signin_prelude =
        format!("function init(args) math.randomseed(os.time() + tid * 7919) end\nlocal users = {seeded}");
    let signin_body =
        format!(r#"'{{"email":"user' .. math.random(1, users) .. '@example.com","password":"{PASSWORD}"}}'"#);
    expect_ok(
        &server,
        "/public/recipe/signin",
        &format!(r#"{{"email":"user1@example.com","password":"{PASSWORD}"}}"#),
    )?;
    let mut hashing = Table::new(&[
        "operation",
        "clients",
        "req/s",
        "p50 ms",
        "p99 ms",
        "raw bcrypt-11/s, 2 threads (mean of before / after)",
        "ratio",
        "target",
        "verdict",
        "load 1m before→after",
        "problems",
    ]);
    // Raw bcrypt throughput right before and right after the server's runs (the box is shared).
    let raw = |verify: bool| baseline::bcrypt_rate(&baseline_bin, verify, 2, duration, BCRYPT_COST);
    let raw_verify_before = raw(true)?;
    let hello = |d: u64| Spec { lua: "function delay() return 10 end".into(), ..Spec::get(server.url("/hello"), 2, d) };
    say!("GET /hello probe while idle");
    let hello_idle = wrk::run(&hello(duration.saturating_sub(2).max(1)))?;
    let mut hello_busy: Option<(usize, WrkResult)> = None;
    let mut signins = Vec::new();
    for &c in &signin_conns {
        let spec = Spec {
            timeout_s: 120,
            ..Spec::post_lua(server.url("/public/recipe/signin"), c, duration, &signin_prelude, &signin_body)
        };
        let running = wrk::spawn(&spec)?;
        let probe = if c == *signin_conns.iter().max().unwrap_or(&c) {
            // A second, light wrk (2 connections, a request every 10 ms each) on /hello.
            thread::sleep(Duration::from_secs(1));
            Some(wrk::run(&hello(duration.saturating_sub(2).max(1)))?)
        } else {
            None
        };
        let r = running.finish()?;
        if let Some(p) = probe {
            hello_busy = Some((c, p));
        }
        signins.push((c, r));
    }
    let raw_verify = (raw_verify_before, raw(true)?);
    for (c, r) in &signins {
        hashing.row(hash_row("sign-in", *c, r, raw_verify));
    }
    let raw_hash_before = raw(false)?;
    let mut signups = Vec::new();
    for &c in &signin_conns {
        let prelude = format!(
            "local counter = 0\nlocal function next_email()\n  counter = counter + 1\n  return 'signup-{}-{c}-' .. tid .. '-' .. counter .. '@example.com'\nend",
            std::process::id()
        );
        let body = format!(r#"'{{"email":"' .. next_email() .. '","password":"{PASSWORD}"}}'"#);
        let spec = Spec {
            timeout_s: 120,
            ..Spec::post_lua(server.url("/public/recipe/signup"), c, duration, &prelude, &body)
        };
        signups.push((c, wrk::run(&spec)?));
    }
    let raw_hash = (raw_hash_before, raw(false)?);
    for (c, r) in &signups {
        hashing.row(hash_row("sign-up", *c, r, raw_hash));
    }
    let rss = server.rss_kib().map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN);
    let uptime_after = uptime();

    // Report.
    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!("server RSS at the end: {rss:.1} MiB");
    println!();
    seeding.print();
    let mut table = Table::new(&[
        "users",
        "GET /public/users?limit=100",
        "requests",
        "p50 ms",
        "p99 ms",
        "query alone ms (EXPLAIN ANALYZE)",
        "load 1m before→after",
    ]);
    for l in &listings {
        table.row(vec![
            l.users.to_string(),
            l.case.name.into(),
            match &l.cut_short {
                None => l.latencies_ms.len().to_string(),
                Some(why) => format!("{} ({why})", l.latencies_ms.len()),
            },
            l.cell(0.5, &limits),
            l.cell(0.99, &limits),
            match (l.latencies_ms.is_empty(), l.db_ms.is_nan()) {
                (true, _) => "not run (request timed out)".into(),
                (false, true) => format!("> {} s", limits.explain_s),
                (false, false) => format!("{:.1}", l.db_ms),
            },
            load_span(l.load_before, l.load_after),
        ]);
    }
    table.print();
    if let (Some(&small), Some(&large)) = (sizes.first(), sizes.last()) {
        let mut growth = Table::new(&[
            "case",
            &format!("p50 {large}/{small}"),
            &format!("p99 {large}/{small}"),
            "target",
            "verdict",
        ]);
        for case in CASES {
            let at = |n: u64, q: f64| {
                listings.iter().find(|l| l.users == n && l.case.name == case.name).map_or(f64::NAN, |l| l.p(q))
            };
            let (p50, p99) = (at(large, 0.5) / at(small, 0.5), at(large, 0.99) / at(small, 0.99));
            growth.row(vec![
                case.name.into(),
                times(p50),
                times(p99),
                format!("≤ {LISTING_TARGET}×"),
                verdict(p50.max(p99), LISTING_TARGET, false).into(),
            ]);
        }
        growth.print();
    }
    hashing.print();
    let mut probe = Table::new(&[
        "GET /hello (2 connections, 100 req/s each)",
        "req/s",
        "p50 ms",
        "p99 ms",
        "target p99",
        "verdict",
    ]);
    let mut probe_row = |label: String, r: &WrkResult, judged: bool| {
        probe.row(vec![
            label,
            format!("{:.0}", r.rps),
            format!("{:.2}", r.p50_ms),
            format!("{:.2}", r.p99_ms),
            if judged { format!("< {HELLO_P99_TARGET_MS} ms") } else { String::new() },
            if judged { verdict(r.p99_ms, HELLO_P99_TARGET_MS, false).into() } else { String::new() },
        ]);
    };
    probe_row("idle server".into(), &hello_idle, false);
    if let Some((c, r)) = &hello_busy {
        probe_row(format!("while {c} clients sign in"), r, true);
    }
    probe.print();
    println!("```\n{plans}```");
    drop(server);
    Ok(())
}

/// `3.21×`, or `n/a` when a side timed out.
fn times(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}×")
    } else {
        "n/a (timed out)".into()
    }
}

/// A sign-in / sign-up row; `raw` is the raw bcrypt rate (before, after) the server's runs.
fn hash_row(operation: &str, conns: usize, r: &WrkResult, (before, after): (f64, f64)) -> Vec<String> {
    let raw = (before + after) / 2.0;
    vec![
        operation.into(),
        conns.to_string(),
        format!("{:.2}", r.rps),
        format!("{:.0}", r.p50_ms),
        format!("{:.0}", r.p99_ms),
        format!("{raw:.2} ({before:.2} / {after:.2})"),
        ratio(r.rps, raw),
        format!("≥ {HASH_TARGET}"),
        verdict(r.rps / raw, HASH_TARGET, true).into(),
        load_span(r.load_before, r.load_after),
        r.problems(),
    ]
}

/// Users `from..=to`: the four rows of an email-password user each, in one transaction, then
/// `VACUUM ANALYZE` so that the planner knows the new size.
///
/// As superuser the foreign-key triggers are skipped (`session_replication_role = replica`;
/// the rows are consistent by construction): on tables without statistics PostgreSQL checked
/// each row's keys through the `(app_id)` indexes, which made 100k users take minutes.
fn seed(db: &BenchDb, from: u64, to: u64, hash: &str) -> Result<()> {
    let superuser = db.psql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user;")?.trim() == "t";
    say!("seeding users {from}..={to}{}", if superuser { "" } else { " (not superuser: with FK checks)" });
    let skip_fk_checks = if superuser { "SET LOCAL session_replication_role = replica;" } else { "" };
    let seed = format!(
        "SELECT i, {USER_ID_SQL} AS u, {T0} + 10 * i AS t, 'user' || i || '@example.com' AS email \
         FROM generate_series({from}::BIGINT, {to}::BIGINT) i"
    );
    db.psql(&format!(
        "BEGIN;\n\
         {skip_fk_checks}\n\
         CREATE TEMP TABLE seed ON COMMIT DROP AS {seed};\n\
         INSERT INTO app_id_to_user_id (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
           is_linked_or_is_a_primary_user, time_joined, primary_or_recipe_user_time_joined) \
           SELECT 'public', u, 'emailpassword', u, FALSE, t, t FROM seed;\n\
         INSERT INTO all_auth_recipe_users (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
           is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
           SELECT 'public', 'public', u, u, FALSE, 'emailpassword', t, t FROM seed;\n\
         INSERT INTO emailpassword_users (app_id, user_id, email, password_hash, time_joined) \
           SELECT 'public', u, email, '{hash}', t FROM seed;\n\
         INSERT INTO emailpassword_user_to_tenant (app_id, tenant_id, user_id, email) \
           SELECT 'public', 'public', u, email FROM seed;\n\
         COMMIT;\n\
         VACUUM ANALYZE;\n"
    ))?;
    let count = db.psql("SELECT count(*) FROM all_auth_recipe_users;")?;
    say!("all_auth_recipe_users now holds {} rows", count.trim());
    Ok(())
}

/// The first ascending page holds users 1..=100, and its token must be what
/// [`pagination_token`] builds for user 101, the next page's first user (as the reference's
/// token, since bf5ec44), so the deep-page token is a real server token.
fn check_first_page_token(server: &Server) -> Result<()> {
    let path = format!("/public/users?limit={PAGE}&timeJoinedOrder=ASC");
    let r = http_get(server.port, &path, Duration::from_secs(120)).map_err(|e| format!("GET {path}: {e}"))?;
    let body = String::from_utf8_lossy(&r.body);
    let token = json_str(&body, "", "nextPaginationToken");
    let next = PAGE as u64 + 1;
    if r.status != 200 || token.as_deref() != Some(pagination_token(next).as_str()) {
        return Err(format!(
            "GET {path}: expected HTTP 200 with nextPaginationToken {} (user {next}), got {} {token:?}",
            pagination_token(next),
            r.status
        ));
    }
    Ok(())
}

/// Up to `limits.requests` sequential GETs (a new connection each) of one case, within the
/// time budget; a request that times out ends the case (and its query is cancelled).
fn measure_listing(server: &Server, db: &BenchDb, case: Case, users: u64, limits: &Limits) -> Result<Listing> {
    let path = case.path(users);
    say!("{users} users, {}: {} × GET {path}", case.name, limits.requests);
    let load_before = load1();
    let started = Instant::now();
    let mut latencies_ms = Vec::with_capacity(limits.requests);
    let mut cut_short = None;
    for i in 0..limits.requests {
        if started.elapsed() > Duration::from_secs(limits.budget_s) {
            cut_short = Some(format!("budget of {} s used up", limits.budget_s));
            break;
        }
        let t = Instant::now();
        let r = match http_get(server.port, &path, Duration::from_secs(limits.timeout_s)) {
            Ok(r) => r,
            Err(e) => {
                say!("  GET {path} failed after {:.1} s ({e}); cancelling its query", t.elapsed().as_secs_f64());
                cancel_queries(db)?;
                cut_short = Some(format!("request {} timed out after {} s", i + 1, limits.timeout_s));
                break;
            }
        };
        latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if i == 0 && (r.status != 200 || !String::from_utf8_lossy(&r.body).contains("\"users\":[{")) {
            return Err(format!("GET {path}: HTTP {} {}", r.status, String::from_utf8_lossy(&r.body)));
        }
    }
    let load_after = load1();
    latencies_ms.sort_by(f64::total_cmp);
    let db_ms = if latencies_ms.is_empty() {
        f64::NAN
    } else {
        explain(db, case, users, false, limits)?
            .1
            .lines()
            .find_map(|l| l.trim().strip_prefix("Execution Time: "))
            .and_then(|v| v.trim_end_matches(" ms").parse().ok())
            .unwrap_or(f64::NAN)
    };
    say!(
        "  {} requests, p50 {:.1} ms, p99 {:.1} ms; the query alone {db_ms:.1} ms",
        latencies_ms.len(),
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.99)
    );
    Ok(Listing { users, case, latencies_ms, cut_short, db_ms, load_before, load_after })
}

/// Cancel every running statement on the benchmark database but ours (the server keeps
/// running a query whose client gave up).
fn cancel_queries(db: &BenchDb) -> Result<()> {
    db.psql(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active';",
    )
    .map(drop)
}

/// The plan of the listing query, prepared as the server prepares it: `EXPLAIN (ANALYZE,
/// BUFFERS)` limited to `limits.explain_s`, plain `EXPLAIN` when that is exceeded or
/// `plain_only`. Returns (what was run, plan).
fn explain(db: &BenchDb, case: Case, users: u64, plain_only: bool, limits: &Limits) -> Result<(String, String)> {
    let run = |options: &str| {
        db.psql(&format!(
            "SET statement_timeout = '{}s';\n{}PREPARE list_users AS {};\nEXPLAIN {options} EXECUTE list_users({});\n",
            limits.explain_s,
            // As the server runs a search (`list_users` in crates/storage-postgres/src/users.rs).
            if case.search {
                "SET synchronize_seqscans = off;\nSET max_parallel_workers_per_gather = 0;\n"
            } else {
                ""
            },
            listing_sql(case.ascending, case.deep, case.search),
            case.execute_args(users)
        ))
    };
    if !plain_only {
        match run("(ANALYZE, BUFFERS)") {
            Ok(plan) => return Ok(("EXPLAIN (ANALYZE, BUFFERS)".into(), plan)),
            Err(e) if e.contains("statement timeout") => {}
            Err(e) => return Err(e),
        }
    }
    let how = format!("EXPLAIN (ANALYZE would take more than {} s)", limits.explain_s);
    Ok((how, run("")?))
}

/// The server's listing statements (crates/storage-postgres/src/listing_sql.rs, compiled here
/// too), for schema `public` without a table prefix. Page parameters: $1 app, $2 tenant, $3
/// recipe ids, then the (time_joined, id) to start after when paging, then the limit. Search
/// parameters: $1 app, $2 tenant, $3 e-mail / $4 phone / $5 provider patterns, $6 the limit
/// per recipe.
fn listing_sql(ascending: bool, cursor: bool, searching: bool) -> String {
    let tables = listing::ListingTables {
        aaru: "public.all_auth_recipe_users",
        ep_t: "public.emailpassword_user_to_tenant",
        pl_t: "public.passwordless_user_to_tenant",
        tp_t: "public.thirdparty_user_to_tenant",
        tp: "public.thirdparty_users",
        wa_t: "public.webauthn_user_to_tenant",
    };
    if searching {
        tables.search(ascending)
    } else {
        tables.page(ascending, cursor)
    }
}

/// POST a JSON body; the answer must be HTTP 200 with `"status":"OK"`.
fn expect_ok(server: &Server, path: &str, body: &str) -> Result<()> {
    let r = http_request(
        server.port,
        "POST",
        path,
        // As the benchmarked requests (`wrk::POST_HEADERS`): CDI 5.4's refresh keeps the
        // parent token usable, 5.6's (the default without the header) rotates it.
        &[("Content-Type", "application/json"), ("cdi-version", "5.4")],
        Some(body.as_bytes()),
        Duration::from_secs(60),
    )
    .map_err(|e| format!("POST {path}: {e}"))?;
    let text = String::from_utf8_lossy(&r.body);
    if r.status != 200 || !text.contains("\"status\":\"OK\"") {
        return Err(format!("POST {path} answered {}: {text}", r.status));
    }
    Ok(())
}
