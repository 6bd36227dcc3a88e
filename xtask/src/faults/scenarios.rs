//! The scenarios, one function each.

use super::load::{
    call, check_writes, errors_by_status, first, lit, load_figures, longest, ms, refresh_body, session_body,
    signup_body, static_session_body, statuses, tokens, verify_body, Load, Outcome, Report, Sample,
};
use super::{
    server_config, start_server, Plan, CLIENT_TIMEOUT, CONNECTION_TIMEOUT_MS, HELLO_BOUND, REQUEST_TIMEOUT_MS,
    WAIT_SLACK,
};
use crate::pg::psql;
use crate::util::json_str;
use crate::{cargo, secs, PgCluster, Result, Server};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// (a) PostgreSQL stopped under load and started again.
pub(super) fn scenario_stop(bin: &Path, cluster: &PgCluster, plan: &Plan) -> Result<Report> {
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
pub(super) struct Thaw<'a>(&'a PgCluster, bool);

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
pub(super) fn scenario_freeze(bin: &Path, cluster: &PgCluster, plan: &Plan) -> Result<Report> {
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
pub(super) fn scenario_kill(bin: &Path, cluster: &PgCluster, plan: &Plan) -> Result<Report> {
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
pub(super) struct Trio {
    pub(super) servers: Vec<Server>,
    pub(super) db: String,
}

impl Trio {
    pub(super) fn port(&self, i: usize) -> u16 {
        self.servers[i % self.servers.len()].port
    }
}

/// (d) three instances started together on an empty database.
pub(super) fn scenario_instances(bin: &Path, cluster: &PgCluster, trio: &mut Option<Trio>) -> Result<Report> {
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
pub(super) fn rows2(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (a, b) = l.trim().split_once('|')?;
            Some((a.to_string(), b.trim().parse().ok()?))
        })
        .collect()
}

/// Three servers spawned together on `db` (grace period 2 s for the CDI 5.6 checks).
pub(super) fn start_trio(bin: &Path, db: &str) -> Result<Trio> {
    let config = server_config(db, false, "refresh_token_rotation_grace_period: 2\n");
    let mut servers = (0..3).map(|_| Server::spawn_with_config(bin, &config, &[])).collect::<Result<Vec<_>>>()?;
    for s in &mut servers {
        s.wait_ready(Duration::from_secs(120))?;
    }
    Ok(Trio { servers, db: db.to_string() })
}

/// `k` refreshes of `token` at once, spread over the trio's instances; the outcomes and
/// bodies in instance order.
pub(super) fn refresh_at_once(trio: &Trio, cdi: &'static str, tokens_: &[String]) -> Vec<(Outcome, String, Duration)> {
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
pub(super) struct Tally {
    pub(super) sent: usize,
    pub(super) answers: Vec<Sample>,
}

impl Tally {
    pub(super) fn add(&mut self, results: &[(Outcome, String, Duration)]) {
        for (o, _, took) in results {
            self.sent += 1;
            self.answers.push(Sample { sent: Duration::ZERO, took: *took, outcome: o.clone(), detail: String::new() });
        }
    }

    /// One refresh on instance `i`.
    pub(super) fn one(&mut self, trio: &Trio, i: usize, cdi: &str, token: &str) -> (Outcome, String) {
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

pub(super) fn refresh_token_of(body: &str) -> Option<String> {
    json_str(body, "\"refreshToken\"", "token")
}

/// A new session (created on instance 0) for the refresh checks: its refresh token.
pub(super) fn new_session(trio: &Trio, cdi: &str, user: &str) -> Result<(String, String)> {
    let (o, text) = call(trio.port(0), cdi, "POST", "/recipe/session", Some(&session_body(user)), CLIENT_TIMEOUT);
    let handle = json_str(&text, "\"session\"", "handle");
    match (o, handle, refresh_token_of(&text)) {
        (Outcome::Ok, Some(h), Some(r)) => Ok((h, r)),
        (o, _, _) => Err(format!("creating a session: {} {text}", o.label())),
    }
}

/// (e) concurrent refreshes of one token on several instances.
pub(super) fn scenario_refresh(bin: &Path, cluster: &PgCluster, trio: &mut Option<Trio>) -> Result<Report> {
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
pub(super) fn double_hash_sql(token: &str) -> String {
    format!("encode(sha256(convert_to(encode(sha256(convert_to({}, 'UTF8')), 'hex'), 'UTF8')), 'hex')", lit(token))
}

pub(super) fn statuses_of(results: &[(Outcome, String, Duration)]) -> String {
    let samples: Vec<Sample> = results
        .iter()
        .map(|(o, _, d)| Sample { sent: Duration::ZERO, took: *d, outcome: o.clone(), detail: String::new() })
        .collect();
    statuses(&samples)
}

/// (f) the fuzz pass, on both backends (PostgreSQL on this cluster).
pub(super) fn scenario_fuzz(root: &Path, cluster: &PgCluster) -> Result<Report> {
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
