//! `cargo xtask bench linking`: an e-mail-password sign-in as supertokens-node 24 makes it with
//! automatic account linking on, against the same sign-in without account linking, on
//! PostgreSQL at 16 clients: the core-side overhead per sign-in in milliseconds and as a ratio.
//!
//! * The core calls of one sign-in are those the SDK sent in the project's SDK test app
//!   (tests/sdk/node/app.js, supertokens-node 24.0.3, `GET /test/core-calls`) for a returning,
//!   verified user, with the app's e-mail verification, roles and sessions:
//!   - without account linking ([`PLAIN`]): `GET /public/users/by-accountinfo` (e-mail, union),
//!     `GET /public/recipe/multitenancy/tenant/v2` (the first-factor check), `POST
//!     /public/recipe/signin`, `GET /user/id`, `GET /recipe/user/email/verify`, `GET
//!     /public/recipe/user/roles`, `POST /public/recipe/session`;
//!   - with automatic linking (`shouldAutomaticallyLink`, `shouldRequireVerification`) and the
//!     user already primary, as every user is after its first such sign-in ([`LINKING`]): the
//!     same, plus a second `GET /public/users/by-accountinfo` after the user read (the SDK's
//!     look-up of a primary user the signed-in user could be linked to). The first sign-in of
//!     a user also sends `POST /recipe/accountlinking/user/primary` (once per user, not
//!     measured). The SDK does not call `GET /recipe/accountlinking/user/primary/check` on a
//!     sign-in (only its `canCreatePrimaryUser` function does). The app's MFA recipe adds four
//!     more calls (`GET /user/id`, the tenant, the user's metadata, `POST
//!     /recipe/session/regenerate`); they are MFA's, not linking's, and are left out.
//! * The users: `--users` per flow, signed up through the server, their e-mails verified
//!   through it, and the linking flow's made primary users through it. Passwords are hashed
//!   with `bcrypt_log_rounds` = `--bcrypt-log-rounds` (default 4, not the default 11): at 11
//!   the one bcrypt check of a sign-in takes about 100 ms of CPU and the calls around it would
//!   vanish in its noise; both flows make exactly one check, so the cost does not change the
//!   difference measured, only the ratio.
//! * wrk: each thread cycles through its users; its requests are the steps of its current
//!   sign-in in order (spread over its connections, so a sign-in's steps overlap one another
//!   but every step of every sign-in is sent). Sign-ins per second are requests / steps. At c
//!   connections each with one request in flight, a sign-in made of S sequential calls takes
//!   on average S·c / requests-per-second = c / sign-ins-per-second (Little's law): that is
//!   the latency compared; the overhead is its difference, the ratio linking / plain. The
//!   box's time per sign-in (1000 / sign-ins per second, ms) is c times less, with the same
//!   ratio: the extra cost of a sign-in on a saturated box, queueing left out.
//! * Rounds (default 3): plain then linking in odd rounds, the reverse in even ones; `VACUUM
//!   ANALYZE` before each round; the table gives the median over the rounds of each round's
//!   difference and ratio.

use crate::bench_flow::{extra_config, lua_headers, server_bin, server_config, Client};
use crate::pg::BenchDb;
use crate::util::{json_str, load_span, uptime, url_encode, Flags, Table};
use crate::wrk::{self, lua_string, Spec, WrkResult};
use crate::{Result, Server, Stats};
use std::time::Duration;

/// The password of every user.
const PASSWORD: &str = "bench-password-1";

/// One core call of a sign-in: method and path (`{email}`, `{id}` replaced per user), body
/// (`None` for GET).
type Step = (&'static str, &'static str, Option<&'static str>);

const BY_ACCOUNT_INFO: Step = ("GET", "/public/users/by-accountinfo?email={email_q}&doUnionOfAccountInfo=true", None);

/// The SDK's calls of a sign-in without account linking.
const PLAIN: &[Step] = &[
    BY_ACCOUNT_INFO,
    ("GET", "/public/recipe/multitenancy/tenant/v2", None),
    ("POST", "/public/recipe/signin", Some(r#"{"email":"{email}","password":"{password}"}"#)),
    ("GET", "/user/id?userId={id}", None),
    ("GET", "/recipe/user/email/verify?userId={id}&email={email_q}", None),
    ("GET", "/public/recipe/user/roles?userId={id}", None),
    ("POST", "/public/recipe/session", Some(SESSION_BODY)),
];

/// The SDK's calls of a sign-in with automatic account linking, for a primary user.
const LINKING: &[Step] = &[
    BY_ACCOUNT_INFO,
    ("GET", "/public/recipe/multitenancy/tenant/v2", None),
    ("POST", "/public/recipe/signin", Some(r#"{"email":"{email}","password":"{password}"}"#)),
    ("GET", "/user/id?userId={id}", None),
    BY_ACCOUNT_INFO,
    ("GET", "/recipe/user/email/verify?userId={id}&email={email_q}", None),
    ("GET", "/public/recipe/user/roles?userId={id}", None),
    ("POST", "/public/recipe/session", Some(SESSION_BODY)),
];

/// The session the SDK creates: its claims in the payload (e-mail verified, roles).
const SESSION_BODY: &str = r#"{"userId":"{id}","recipeUserId":"{id}","userDataInJWT":{"st-ev":{"v":true,"t":1},"st-role":{"v":[],"t":1}},"userDataInDatabase":{},"useDynamicSigningKey":true,"enableAntiCsrf":false}"#;

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "linking",
        args,
        &["--duration", "--rounds", "--conns", "--users", "--bcrypt-log-rounds", "--server-bin", "--server-config"],
    )?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[16])?;
    let users: usize = flags.num("--users", 500)?;
    let cost: u32 = flags.num("--bcrypt-log-rounds", 4)?;
    if rounds == 0 || conns.contains(&0) || users == 0 {
        return Err("linking: --rounds, --conns and --users must be positive".into());
    }

    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let uptime_before = uptime();
    let db = BenchDb::create("linking")?;
    let config = format!("{}bcrypt_log_rounds: {cost}\n{}", server_config(&db.url), extra_config(&flags));
    let mut server = Server::spawn_with_config(&bin, &config, &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    say!("server ready on port {}; signing up {users} users per flow", server.port);
    let mut client = Client::new(server.port);
    let mut plain_users = Vec::with_capacity(users);
    let mut linking_users = Vec::with_capacity(users);
    for i in 0..users {
        for (prefix, list) in [("plain", &mut plain_users), ("link", &mut linking_users)] {
            let email = format!("{prefix}-{i}@example.com");
            let answer = client.ok(
                "POST",
                "/public/recipe/signup",
                &format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#),
            )?;
            let id = json_str(&answer, "\"user\"", "id").ok_or_else(|| format!("no user id in {answer}"))?;
            let token = client.ok(
                "POST",
                "/public/recipe/user/email/verify/token",
                &format!(r#"{{"userId":"{id}","email":"{email}"}}"#),
            )?;
            let token = json_str(&token, "", "token").ok_or_else(|| format!("no token in {token}"))?;
            client.ok(
                "POST",
                "/public/recipe/user/email/verify",
                &format!(r#"{{"method":"token","token":"{token}"}}"#),
            )?;
            if prefix == "link" {
                client.ok("POST", "/recipe/accountlinking/user/primary", &format!(r#"{{"recipeUserId":"{id}"}}"#))?;
            }
            list.push((id, email));
        }
    }
    // Every step of both flows answers OK for a user of the flow.
    for (steps, (id, email)) in [(PLAIN, &plain_users[0]), (LINKING, &linking_users[0])] {
        for step in steps {
            let (method, path, body) = fill(step, id, email);
            let (status, text) = client.call(method, &path, body.as_deref().unwrap_or(""))?;
            if status != 200 || !text.contains("\"status\":\"OK\"") {
                return Err(format!("{method} {path}: answered {status}: {text}"));
            }
            if path.contains("by-accountinfo")
                && steps.len() == LINKING.len()
                && !text.contains("\"isPrimaryUser\":true")
            {
                return Err(format!("the linking flow's user is not a primary user: {text}"));
            }
        }
    }

    let mut runs: Vec<Run> = Vec::new();
    for &c in &conns {
        for round in 1..=rounds {
            say!("--- {c} connection(s), round {round} of {rounds} ---");
            db.psql("VACUUM ANALYZE;")?;
            let mut order = [("plain", PLAIN, &plain_users), ("linking", LINKING, &linking_users)];
            if round % 2 == 0 {
                order.reverse();
            }
            for (flow, steps, list) in order {
                let spec = Spec {
                    url: server.url("/"),
                    conns: c,
                    duration_s: duration,
                    timeout_s: 10,
                    lua: wrk_lua(steps, list, c.clamp(1, 2)),
                    check_ok: true,
                };
                let result = wrk::run(&spec)?;
                let sign_ins = result.rps / steps.len() as f64;
                runs.push(Run { conns: c, round, flow, steps: steps.len(), result, sign_ins });
            }
        }
    }
    let uptime_after = uptime();

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!(
        "sign-in: the core calls of supertokens-node 24 (plain: {} calls; automatic linking, primary user: {} calls), {users} verified users per flow, bcrypt_log_rounds {cost}",
        PLAIN.len(),
        LINKING.len()
    );
    println!();
    report(&runs, &conns, rounds);
    drop(server);
    Ok(())
}

struct Run {
    conns: usize,
    round: usize,
    flow: &'static str,
    steps: usize,
    result: WrkResult,
    sign_ins: f64,
}

impl Run {
    /// Mean sign-in latency (ms) by Little's law: c / sign-ins per second.
    fn latency_ms(&self) -> f64 {
        1000.0 * self.conns as f64 / self.sign_ins
    }
}

/// A step for one user: method, path, body.
fn fill(step: &Step, id: &str, email: &str) -> (&'static str, String, Option<String>) {
    let sub = |s: &str| {
        s.replace("{email_q}", &url_encode(email))
            .replace("{email}", email)
            .replace("{id}", id)
            .replace("{password}", PASSWORD)
    };
    (step.0, sub(step.1), step.2.map(sub))
}

/// The wrk script: thread t signs in its users (every `threads`-th from t) in turn, each
/// sign-in its steps in order.
fn wrk_lua(steps: &[Step], users: &[(String, String)], threads: usize) -> String {
    let mut table = String::from("local signins = {\n");
    for (id, email) in users {
        table.push_str("  {");
        for step in steps {
            let (method, path, body) = fill(step, id, email);
            let body = body.map_or("nil".to_string(), |b| lua_string(&b));
            table.push_str(&format!("{{\"{method}\", {}, {body}}}, ", lua_string(&path)));
        }
        table.push_str("},\n");
    }
    table.push_str("}\n");
    let script = r#"
local mine = {}
local signin, step = 1, 0
function init(args)
  for i = tid + 1, #signins, @THREADS@ do mine[#mine + 1] = signins[i] end
end
function request()
  step = step + 1
  if step > #mine[signin] then
    step = 1
    signin = signin % #mine + 1
  end
  local s = mine[signin][step]
  return wrk.format(s[1], s[2], nil, s[3])
end
"#;
    format!("{}{table}{}", lua_headers(), script.replace("@THREADS@", &threads.to_string()))
}

/// The runs, then per concurrency the medians over the rounds of each flow's sign-ins per
/// second and latency, and of each round's overhead and ratio.
fn report(runs: &[Run], conns: &[usize], rounds: usize) {
    let mut table = Table::new(&[
        "conns",
        "round",
        "flow (calls)",
        "req/s",
        "sign-ins/s",
        "sign-in ms (c / sign-ins/s)",
        "p50 / p99 ms per call",
        "load 1m before→after",
        "problems",
    ]);
    for r in runs {
        table.row(vec![
            r.conns.to_string(),
            r.round.to_string(),
            format!("{} ({})", r.flow, r.steps),
            format!("{:.0}", r.result.rps),
            format!("{:.0}", r.sign_ins),
            format!("{:.2}", r.latency_ms()),
            format!("{:.2} / {:.2}", r.result.p50_ms, r.result.p99_ms),
            load_span(r.result.load_before, r.result.load_after),
            r.result.problems(),
        ]);
    }
    table.print();
    let mut summary = Table::new(&[
        "conns",
        "plain sign-ins/s",
        "linking sign-ins/s",
        "plain sign-in ms",
        "linking sign-in ms",
        "overhead ms per sign-in (range)",
        "ratio linking / plain ms (range)",
        "box ms per sign-in, plain → linking (1000 / sign-ins/s)",
    ]);
    for &c in conns {
        let (mut plain, mut linking, mut overhead, mut ratio) = (vec![], vec![], vec![], vec![]);
        for round in 1..=rounds {
            let find = |flow: &str| runs.iter().find(|r| r.conns == c && r.round == round && r.flow == flow);
            let (Some(p), Some(l)) = (find("plain"), find("linking")) else { continue };
            plain.push(p);
            linking.push(l);
            overhead.push(l.latency_ms() - p.latency_ms());
            ratio.push(l.latency_ms() / p.latency_ms());
        }
        let med = |rs: &[&Run], f: &dyn Fn(&Run) -> f64| Stats::of(&rs.iter().map(|r| f(r)).collect::<Vec<_>>()).median;
        let (o, q) = (Stats::of(&overhead), Stats::of(&ratio));
        summary.row(vec![
            c.to_string(),
            format!("{:.0}", med(&plain, &|r| r.sign_ins)),
            format!("{:.0}", med(&linking, &|r| r.sign_ins)),
            format!("{:.2}", med(&plain, &|r| r.latency_ms())),
            format!("{:.2}", med(&linking, &|r| r.latency_ms())),
            format!("{:.2} ({:.2}–{:.2})", o.median, o.min, o.max),
            format!("{:.3} ({:.3}–{:.3})", q.median, q.min, q.max),
            format!("{:.2} → {:.2}", med(&plain, &|r| 1000.0 / r.sign_ins), med(&linking, &|r| 1000.0 / r.sign_ins)),
        ]);
    }
    println!(
        "Overhead: the median over {rounds} round(s) of each round's linking sign-in latency minus the plain one's \
         (latency = c / sign-ins per second), and of their ratio; box ms: the whole box's time per sign-in at \
         saturation (c times less than the latency, same ratio)."
    );
    summary.print();
}
