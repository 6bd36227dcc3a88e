//! Shared pieces of the recipe benchmarks (`passwordless`, `thirdparty`, `tenants`): requests
//! as an SDK sends them (CDI 5.4 header and an API key), the server's binary and config, a
//! keep-alive HTTP client for setup work, the SQL the server runs to read a user back after a
//! sign-in (reproduced for pgbench), and the rounds of server runs beside pgbench with their
//! ratios.

use crate::pg::BenchDb;
use crate::util::{load_span, verdict, Flags, Table};
use crate::wrk::{self, Spec, WrkResult, POST_HEADERS};
use crate::{build_release_supertokens, find, repo_root, Result, Stats};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `cdi-version` header of every request (the latest version the SDKs of the day send).
pub const CDI_VERSION: &str = "5.4";

/// The server's `api_keys` (every request carries it, as an SDK's would).
pub const API_KEY: &str = "bench-api-key-0123456789";

/// Lua setting the method, the JSON content type, the CDI version and the API key of every
/// wrk request.
pub fn lua_headers() -> String {
    format!(
        "{POST_HEADERS}wrk.headers[\"cdi-version\"] = \"{CDI_VERSION}\"\nwrk.headers[\"api-key\"] = \"{API_KEY}\"\n"
    )
}

/// `config.yaml` of a server on `db_url` with the API key.
pub fn server_config(db_url: &str) -> String {
    format!("core_config_version: 0\npostgresql_connection_uri: \"{db_url}\"\napi_keys: \"{API_KEY}\"\n")
}

/// The server under test, started and answering: on the database at `db_url`, or in memory
/// (`None`), with the API key and the `--server-config` lines.
pub fn start_server(bin: &std::path::Path, db_url: Option<&str>, flags: &Flags) -> Result<crate::Server> {
    let config = match db_url {
        Some(url) => server_config(url),
        None => format!("core_config_version: 0\napi_keys: \"{API_KEY}\"\n"),
    };
    let mut server = crate::Server::spawn_with_config(bin, &format!("{config}{}", extra_config(flags)), &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    Ok(server)
}

/// Extra `config.yaml` lines from `--server-config 'key: value;…'` (`;`-separated), for
/// experiments with other settings.
pub fn extra_config(flags: &Flags) -> String {
    flags.raw("--server-config").unwrap_or_default().split(';').map(|l| format!("{}\n", l.trim())).collect()
}

/// `--server-bin PATH` (a release binary built beforehand, e.g. from a worktree of a given
/// commit, so that several benchmarks share one build), else `cargo build --release`.
pub fn server_bin(flags: &Flags) -> Result<PathBuf> {
    match flags.raw("--server-bin") {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_file() {
                say!("using the server binary {} (not building)", p.display());
                Ok(p)
            } else {
                Err(format!("--server-bin: {} is not a file", p.display()))
            }
        }
        None => build_release_supertokens(&repo_root()),
    }
}

/// Wall-clock milliseconds, for the rows pgbench writes (this is a tool, not server code).
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// A keep-alive HTTP/1.1 client for the setup requests and the tenant creation
// ---------------------------------------------------------------------------------------------

/// One persistent connection to the server on 127.0.0.1 (reopened when the server closed it).
pub struct Client {
    port: u16,
    stream: Option<TcpStream>,
    timeout: Duration,
}

impl Client {
    pub fn new(port: u16) -> Client {
        Client { port, stream: None, timeout: Duration::from_secs(60) }
    }

    /// `method path` with a JSON body, the CDI version and the API key; returns (status, body).
    pub fn call(&mut self, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
        // A connection the server closed while idle fails on first use: one retry on a new one.
        match self.try_call(method, path, body) {
            Ok(r) => Ok(r),
            Err(_) if self.stream.take().is_some() => {
                self.try_call(method, path, body).map_err(|e| format!("{method} {path}: {e}"))
            }
            Err(e) => Err(format!("{method} {path}: {e}")),
        }
    }

    /// `call`, which must answer HTTP 200 with `"status":"OK"`; returns the body.
    pub fn ok(&mut self, method: &str, path: &str, body: &str) -> Result<String> {
        let (status, text) = self.call(method, path, body)?;
        if status != 200 || !text.contains("\"status\":\"OK\"") {
            return Err(format!("{method} {path} {body}: answered {status}: {text}"));
        }
        Ok(text)
    }

    fn try_call(&mut self, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
                let s = TcpStream::connect_timeout(&addr, self.timeout)?;
                s.set_read_timeout(Some(self.timeout))?;
                s.set_write_timeout(Some(self.timeout))?;
                s.set_nodelay(true)?;
                self.stream.insert(s)
            }
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             cdi-version: {CDI_VERSION}\r\napi-key: {API_KEY}\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(req.as_bytes())?;
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the end of the headers"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status: u16 =
            head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("bad status line"))?;
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no Content-Length (this client reads only sized bodies)"))?;
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the body"));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(len);
        if header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.stream = None;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// The server's SQL after a sign-in, for the pgbench scripts
// ---------------------------------------------------------------------------------------------

/// Statements the server runs to answer a sign-in (taken from its statement log with
/// `log_statement = all`, crates/storage-postgres/src/users.rs, useridmapping.rs,
/// emailverification.rs and active_users.rs), for schema `public`. `uid` and `email` are SQL
/// expressions; the app is the constant `'public'` where the server binds it.
pub mod user_sql {
    /// `get_auth_user`: the user's group with every login method.
    pub fn auth_user(uid: &str) -> String {
        format!(
            "SELECT a.user_id::TEXT, a.recipe_id, COALESCE(ep.time_joined, tp.time_joined, pl.time_joined, wa.time_joined), \
             a.is_linked_or_is_a_primary_user, a.primary_or_recipe_user_id::TEXT, ARRAY(SELECT r.tenant_id::TEXT \
             FROM public.all_auth_recipe_users r WHERE r.app_id = a.app_id AND r.user_id = a.user_id ORDER BY r.tenant_id), \
             COALESCE(ep.email, tp.email, pl.email, wa.email)::TEXT, pl.phone_number::TEXT, tp.third_party_id::TEXT, \
             tp.third_party_user_id::TEXT FROM public.app_id_to_user_id a \
             LEFT JOIN public.emailpassword_users ep ON ep.app_id = a.app_id AND ep.user_id = a.user_id \
             LEFT JOIN public.thirdparty_users tp ON tp.app_id = a.app_id AND tp.user_id = a.user_id \
             LEFT JOIN public.passwordless_users pl ON pl.app_id = a.app_id AND pl.user_id = a.user_id \
             LEFT JOIN public.webauthn_users wa ON wa.app_id = a.app_id AND wa.user_id = a.user_id \
             WHERE a.app_id = 'public' AND a.primary_or_recipe_user_id = (SELECT p.primary_or_recipe_user_id \
             FROM public.app_id_to_user_id p WHERE p.app_id = 'public' AND p.user_id = {uid}) \
             AND COALESCE(ep.user_id, tp.user_id, pl.user_id, wa.user_id) IS NOT NULL \
             ORDER BY 3, a.user_id::TEXT COLLATE \"C\";"
        )
    }

    /// The user object's id mappings and verified e-mails (`user_json`).
    pub fn mappings_and_verified(uid: &str) -> String {
        format!(
            "WITH m AS (SELECT m.supertokens_user_id::TEXT AS st, m.external_user_id AS ext FROM public.userid_mapping m \
             WHERE m.app_id = 'public' AND m.supertokens_user_id = ANY(ARRAY[{uid}]::TEXT[]::BPCHAR[])) \
             SELECT 'm', st, ext FROM m UNION ALL SELECT 'v', v.user_id::TEXT, v.email::TEXT \
             FROM public.emailverification_verified_emails v WHERE v.app_id = 'public' \
             AND v.user_id IN (SELECT UNNEST(ARRAY[{uid}]::TEXT[]) UNION SELECT ext FROM m);"
        )
    }

    /// `external_user_id`: the mapping of one id.
    pub fn mapping(uid: &str) -> String {
        format!(
            "SELECT supertokens_user_id::TEXT, external_user_id::TEXT, external_user_id_info FROM public.userid_mapping \
             WHERE app_id = 'public' AND supertokens_user_id = {uid};"
        )
    }

    /// `set_email_verified`.
    pub fn verify_email(uid: &str, email: &str) -> String {
        format!(
            "INSERT INTO public.emailverification_verified_emails (app_id, user_id, email) \
             VALUES ('public', {uid}, {email}) ON CONFLICT DO NOTHING;"
        )
    }

    /// `touch_user_last_active` (the server writes it once per user per 5 minutes).
    pub fn last_active(uid: &str, now: i64) -> String {
        format!(
            "INSERT INTO public.user_last_active (app_id, user_id, last_active_time) VALUES ('public', {uid}, {now}) \
             ON CONFLICT (app_id, user_id) DO UPDATE SET last_active_time = EXCLUDED.last_active_time;"
        )
    }

    /// The `app_id_to_user_id` and `all_auth_recipe_users` rows of a new user of `recipe`.
    pub fn new_user_rows(uid: &str, recipe: &str, now: i64) -> String {
        format!(
            "INSERT INTO public.app_id_to_user_id (app_id, user_id, recipe_id, primary_or_recipe_user_id, \
             is_linked_or_is_a_primary_user) VALUES ('public', {uid}, '{recipe}', {uid}, FALSE);\n\
             INSERT INTO public.all_auth_recipe_users (app_id, tenant_id, user_id, primary_or_recipe_user_id, \
             is_linked_or_is_a_primary_user, recipe_id, time_joined, primary_or_recipe_user_time_joined) \
             VALUES ('public', 'public', {uid}, {uid}, FALSE, '{recipe}', {now}, {now});"
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Rounds of server runs beside pgbench
// ---------------------------------------------------------------------------------------------

/// The server's `postgresql_connection_pool_size` (default): the most database connections it
/// uses, whatever the number of HTTP clients.
pub const SERVER_DB_POOL: usize = 10;

/// One measured run.
pub struct FlowRun {
    pub conns: usize,
    pub round: usize,
    /// `server` or `pgbench`.
    pub target: &'static str,
    /// Connections to the server (wrk) or to the database (pgbench).
    pub clients: usize,
    pub result: WrkResult,
    /// Flows per second: wrk's requests / requests per flow; pgbench's TPS (one script = one flow).
    pub flows: f64,
}

/// What a flow benchmark runs.
pub struct FlowBench<'a> {
    pub db: &'a BenchDb,
    pub conns: &'a [usize],
    pub rounds: usize,
    pub duration: u64,
    /// HTTP requests per flow (2 for create + consume).
    pub requests_per_flow: f64,
    /// Run before each round (VACUUM ANALYZE of the tables the flow writes).
    pub before_round: &'a str,
}

impl FlowBench<'_> {
    /// Every concurrency, `rounds` times: the server's wrk run with c connections, pgbench with
    /// c clients and, when c exceeds the server's database pool, pgbench with as many clients as
    /// that pool (the server never uses more connections; and on two cores, 64 busy backends
    /// starve pgbench's own two threads, so that c clients alone are no ceiling). In alternating
    /// order (server first in odd rounds), so that a drift of the box's speed does not always
    /// favour the same side.
    pub fn measure(
        &self,
        server: &dyn Fn(usize, usize) -> Spec,
        pgbench: &dyn Fn(usize) -> String,
    ) -> Result<Vec<FlowRun>> {
        let mut runs = Vec::new();
        for (c, round) in self.conns.iter().flat_map(|&c| (1..=self.rounds).map(move |r| (c, r))) {
            say!("--- {c} connection(s), round {round} of {} ---", self.rounds);
            self.db.psql(self.before_round)?;
            let mut sides = vec![("server", c), ("pgbench", c)];
            if c > SERVER_DB_POOL {
                sides.push(("pgbench", SERVER_DB_POOL));
            }
            if round % 2 == 0 {
                sides.reverse();
            }
            for (target, clients) in sides {
                let (result, flows) = if target == "server" {
                    let result = wrk::run(&server(c, round))?;
                    let flows = result.rps / self.requests_per_flow;
                    (result, flows)
                } else {
                    let result = self.db.pgbench(&pgbench(clients), clients, self.duration)?;
                    let flows = result.rps;
                    (result, flows)
                };
                runs.push(FlowRun { conns: c, round, target, clients, result, flows });
            }
        }
        Ok(runs)
    }
}

/// The per-run table and the ratio table: per round, the server's flows/s over the better
/// pgbench run's of that round (the ceiling); the median of the rounds' ratios, with their range.
pub fn report(runs: &[FlowRun], conns: &[usize], rounds: usize, target: f64, flow: &str) {
    let mut table = Table::new(&[
        "conns",
        "round",
        "target (connections)",
        "req/s (pgbench: TPS)",
        "flows/s",
        "p50 ms",
        "p99 ms",
        "load 1m before→after",
        "problems",
    ]);
    for r in runs {
        table.row(vec![
            r.conns.to_string(),
            r.round.to_string(),
            format!("{} ({})", r.target, r.clients),
            format!("{:.0}", r.result.rps),
            format!("{:.0}", r.flows),
            format!("{:.2}", r.result.p50_ms),
            format!("{:.2}", r.result.p99_ms),
            load_span(r.result.load_before, r.result.load_after),
            r.result.problems(),
        ]);
    }
    table.print();
    let mut ratios = Table::new(&[
        "conns",
        &format!("{flow}: server / ceiling flows/s"),
        "server flows/s",
        "ceiling flows/s (pgbench clients)",
        "pgbench flows/s with c clients",
        "server p50 / p99 ms (per request)",
        "pgbench p50 / p99 ms (per flow, c clients)",
    ]);
    for &c in conns {
        let mut per_round = Vec::new();
        let (mut server, mut ceilings, mut same) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let of_round = |r: &&FlowRun| r.conns == c && r.round == round;
            let Some(s) = runs.iter().filter(of_round).find(|r| r.target == "server") else { continue };
            let best = runs
                .iter()
                .filter(of_round)
                .filter(|r| r.target == "pgbench")
                .max_by(|a, b| a.flows.total_cmp(&b.flows));
            let Some(best) = best else { continue };
            per_round.push(s.flows / best.flows);
            server.push(s);
            ceilings.push(best);
            same.extend(runs.iter().filter(of_round).find(|r| r.target == "pgbench" && r.clients == c));
        }
        let med = |rs: &[&FlowRun], f: &dyn Fn(&FlowRun) -> f64| {
            Stats::of(&rs.iter().map(|r| f(r)).collect::<Vec<_>>()).median
        };
        let mut which: Vec<String> = ceilings.iter().map(|r| r.clients.to_string()).collect();
        which.sort();
        which.dedup();
        let Stats { median, min, max } = Stats::of(&per_round);
        ratios.row(vec![
            c.to_string(),
            format!("{median:.2} ({min:.2}–{max:.2}; {}, target ≥ {target})", verdict(median, target, true)),
            format!("{:.0}", med(&server, &|r| r.flows)),
            format!("{:.0} ({})", med(&ceilings, &|r| r.flows), which.join(", ")),
            format!("{:.0}", med(&same, &|r| r.flows)),
            format!("{:.2} / {:.2}", med(&server, &|r| r.result.p50_ms), med(&server, &|r| r.result.p99_ms)),
            format!("{:.2} / {:.2}", med(&same, &|r| r.result.p50_ms), med(&same, &|r| r.result.p99_ms)),
        ]);
    }
    println!(
        "Ratios: the median over {rounds} round(s) of each round's server flows/s over that round's ceiling, the \
         better of its pgbench runs (range in brackets); other columns: medians over the rounds."
    );
    ratios.print();
}
