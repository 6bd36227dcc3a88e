//! The load the faults are injected under: its requests, its clients, and the figures and
//! checks drawn from what they recorded.

use super::{CLIENT_TIMEOUT, PASSWORD};
use crate::pg::psql;
use crate::util::json_str;
use crate::{http_request, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// What one request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
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
    pub(super) fn label(&self) -> String {
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
pub(super) struct Sample {
    pub(super) sent: Duration,
    pub(super) took: Duration,
    pub(super) outcome: Outcome,
    /// The start of the answer's body, for errors of the load.
    pub(super) detail: String,
}

impl Sample {
    pub(super) fn done(&self) -> Duration {
        self.sent + self.took
    }
}

/// A POST (or a GET when `body` is `None`) with the CDI version; returns the outcome and the body.
pub(super) fn call(
    port: u16,
    cdi: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> (Outcome, String) {
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

pub(super) fn signup_body(email: &str) -> String {
    format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#)
}

pub(super) fn session_body(user_id: &str) -> String {
    format!(
        r#"{{"userId":"{user_id}","userDataInJWT":{{}},"userDataInDatabase":{{}},"enableAntiCsrf":false,"useDynamicSigningKey":true}}"#
    )
}

pub(super) fn static_session_body(user_id: &str) -> String {
    format!(
        r#"{{"userId":"{user_id}","userDataInJWT":{{}},"userDataInDatabase":{{}},"enableAntiCsrf":false,"useDynamicSigningKey":false}}"#
    )
}

pub(super) fn refresh_body(token: &str) -> String {
    format!(r#"{{"refreshToken":"{token}","enableAntiCsrf":false,"useDynamicSigningKey":true}}"#)
}

pub(super) fn verify_body(token: &str) -> String {
    format!(r#"{{"accessToken":"{token}","doAntiCsrfCheck":false,"enableAntiCsrf":false,"checkDatabase":true}}"#)
}

/// The tokens of a session answer (create or refresh).
pub(super) fn tokens(body: &str) -> Option<(String, String)> {
    Some((json_str(body, "\"accessToken\"", "token")?, json_str(body, "\"refreshToken\"", "token")?))
}

// ---------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------

/// An acknowledged session: its handle, its last acknowledged tokens and the CDI version its
/// client speaks.
#[derive(Clone, Debug)]
pub(super) struct AckedSession {
    pub(super) handle: String,
    pub(super) access: String,
    pub(super) refresh: String,
    pub(super) cdi: &'static str,
}

/// What the load clients sent and what was acknowledged.
#[derive(Default)]
pub(super) struct Ledger {
    pub(super) samples: Vec<Sample>,
    pub(super) hello: Vec<Sample>,
    pub(super) users: Vec<String>,
    pub(super) sessions: Vec<AckedSession>,
}

/// Load clients and a `/hello` prober, running until [`Load::finish`].
pub(super) struct Load {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) workers: Vec<thread::JoinHandle<Ledger>>,
    pub(super) prober: Option<thread::JoinHandle<Vec<Sample>>>,
    pub(super) t0: Instant,
}

impl Load {
    /// `clients` clients on `port`; even ones speak CDI 5.4 (refresh promotes lazily), odd ones
    /// 5.6 (every refresh rotates, i.e. writes).
    pub(super) fn start(port: u16, clients: usize, tag: &str) -> Load {
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
    pub(super) fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Stop the clients (each finishes its request in flight) and merge their ledgers.
    pub(super) fn finish(mut self) -> Ledger {
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
pub(super) fn load_client(port: u16, cdi: &'static str, tag: &str, stop: &AtomicBool, t0: Instant) -> Ledger {
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
pub(super) struct Report {
    pub(super) name: String,
    /// (column, value) of the scenario's table row.
    pub(super) row: Vec<(String, String)>,
    pub(super) notes: Vec<String>,
    pub(super) failures: Vec<String>,
}

impl Report {
    pub(super) fn new(name: &str) -> Report {
        Report { name: name.into(), row: Vec::new(), notes: Vec::new(), failures: Vec::new() }
    }

    pub(super) fn broken(name: &str, error: String) -> Report {
        let mut r = Report::new(name);
        r.failures.push(format!("the scenario could not run: {error}"));
        r
    }

    pub(super) fn cell(&mut self, column: &str, value: impl Into<String>) {
        self.row.push((column.into(), value.into()));
    }

    pub(super) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        say!("  {note}");
        self.notes.push(note);
    }

    /// Record an invariant: `ok`, or a failure described by `what`.
    pub(super) fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            say!("  INVARIANT FAILED: {what}");
            self.failures.push(what);
        }
    }

    pub(super) fn print(&self) {
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
pub(super) fn errors_by_status(samples: &[Sample]) -> String {
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

pub(super) fn longest(samples: &[Sample]) -> Duration {
    samples.iter().map(|s| s.took).max().unwrap_or_default()
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Time from `fault_end` to the first acknowledged request sent at or after it: (the answer's
/// time, the time to recover).
pub(super) fn recovery(samples: &[Sample], fault_end: Duration) -> Option<(Duration, Duration)> {
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
pub(super) fn load_figures(report: &mut Report, ledger: &Ledger, start: Duration, end: Duration) -> Option<Duration> {
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
pub(super) fn statuses(samples: &[Sample]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        *by.entry(s.outcome.label()).or_default() += 1;
    }
    by.iter().map(|(k, v)| format!("{k} × {v}")).collect::<Vec<_>>().join(", ")
}

/// SQL string literal.
pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The values of `ids` missing from `table.column`, by one query.
pub(super) fn missing(db_url: &str, table: &str, column: &str, ids: &[String]) -> Result<Vec<String>> {
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
pub(super) fn check_writes(report: &mut Report, db_url: &str, port: u16, ledger: &Ledger) -> Result<usize> {
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

pub(super) fn first(v: &[String]) -> &[String] {
    &v[..v.len().min(5)]
}
