//! `cargo xtask bench passwordless`: the passwordless sign-in flow on PostgreSQL, `POST
//! /public/recipe/signinup/code` then `…/code/consume` with the code it returned (half the
//! time the `linkCode`, half the time `deviceId` + `userInputCode`), for a new e-mail half the
//! time and for a returning user otherwise, at several concurrencies, beside `pgbench` running
//! the same SQL on the same database in the same rounds (target: at least 0.7 of its flows/s).
//!
//! * wrk: each thread keeps a queue of the codes its create requests got back; a connection
//!   consumes a queued code when there is one, else creates a new one. So the flows are
//!   interleaved across the thread's connections, and the flows/s are wrk's requests / 2.
//! * Returning users: `ret-<i>@example.com`, i < [`pool`], signed up through the server before
//!   the runs. wrk thread t cycles through the i ≡ t (mod threads), pgbench client c uses
//!   i = c + C·k: no two flows of one e-mail are ever in flight together (a consume deletes
//!   every device of its e-mail, so another flow's code would be gone).
//! * pgbench: one script execution = one flow, the statements the server runs, in its order and
//!   its transactions (read from the server's statement log with `log_statement = all`; see
//!   crates/storage-postgres/src/passwordless.rs): the device and code inserts; the code (by
//!   link-code hash, or the device and its codes), the locked device and every device of its
//!   e-mail, the code again, their deletion; the user of the e-mail; for a new user its four
//!   rows, then the verified e-mail, the user, its last activity (the server writes that once
//!   per user per 5 minutes: for a returning user, seeded minutes before, not at all), its
//!   mappings and verified e-mails, and its id mapping. Random 43- and 44-character strings stand
//!   in for the hashes and the salt, which the server computes (SHA-256, base64) itself.

use crate::bench_flow::{
    extra_config, lua_headers, now_ms, report, server_bin, server_config, user_sql, Client, FlowBench,
};
use crate::pg::BenchDb;
use crate::util::{json_str, uptime, Flags};
use crate::wrk::{self, Spec};
use crate::{Result, Server};
use std::time::Duration;

const TARGET: f64 = 0.7;

/// The returning users: enough that every pgbench client and every wrk connection has its own.
fn pool(max_conns: usize) -> usize {
    (8 * max_conns).max(512)
}

pub fn run(args: &[String]) -> Result<()> {
    let flags =
        Flags::parse("passwordless", args, &["--duration", "--rounds", "--conns", "--server-bin", "--server-config"])?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[1, 16, 64])?;
    if rounds == 0 || conns.contains(&0) {
        return Err("passwordless: --rounds and --conns must be positive".into());
    }
    let pool = pool(conns.iter().copied().max().unwrap_or(1));

    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let uptime_before = uptime();
    let db = BenchDb::create("passwordless")?;
    let mut server =
        Server::spawn_with_config(&bin, &format!("{}{}", server_config(&db.url), extra_config(&flags)), &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    say!("server ready on port {}; signing up {pool} returning users", server.port);
    let mut client = Client::new(server.port);
    for i in 0..pool {
        let consumed = flow(&mut client, &format!("ret-{i}@example.com"), i % 2 == 0)?;
        if !consumed.contains("\"createdNewUser\":true") {
            return Err(format!("the first sign-in of ret-{i} did not create a user: {consumed}"));
        }
    }
    // Both ways of consuming must sign a returning user in.
    for (i, link) in [(0, true), (1, false)] {
        let consumed = flow(&mut client, &format!("ret-{i}@example.com"), link)?;
        if !consumed.contains("\"createdNewUser\":false") {
            return Err(format!("the second sign-in of ret-{i} created a user: {consumed}"));
        }
    }

    let bench = FlowBench {
        db: &db,
        conns: &conns,
        rounds,
        duration,
        requests_per_flow: 2.0,
        before_round: "VACUUM ANALYZE passwordless_devices, passwordless_codes, passwordless_users, \
                       passwordless_user_to_tenant, app_id_to_user_id, all_auth_recipe_users, \
                       emailverification_verified_emails, user_last_active;",
    };
    let server_spec = |c: usize, round: usize| Spec {
        url: server.url("/"),
        conns: c,
        duration_s: duration,
        timeout_s: 10,
        lua: wrk_lua(pool, c.clamp(1, 2), &format!("{}r{round}c{c}", std::process::id())),
        check_ok: false,
    };
    let runs = bench.measure(&server_spec, &|c| pgbench_flow(pool, c))?;
    let uptime_after = uptime();

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off), shared by the server and pgbench");
    }
    println!("flow: create code + consume it (link code or device id + user input code, 1:1), new e-mail or one of {pool} returning users (1:1)");
    println!();
    report(&runs, &conns, rounds, TARGET, "create + consume");
    drop(server);
    Ok(())
}

/// One flow through the server: create a code for `email`, consume it (by link code or by
/// device id + user input code); returns the consume answer.
fn flow(client: &mut Client, email: &str, link: bool) -> Result<String> {
    let created = client.ok("POST", "/public/recipe/signinup/code", &format!(r#"{{"email":"{email}"}}"#))?;
    let field = |k: &str| json_str(&created, "", k).ok_or_else(|| format!("no {k} in {created}"));
    let body = if link {
        format!(r#"{{"preAuthSessionId":"{}","linkCode":"{}"}}"#, field("preAuthSessionId")?, field("linkCode")?)
    } else {
        format!(
            r#"{{"preAuthSessionId":"{}","deviceId":"{}","userInputCode":"{}"}}"#,
            field("preAuthSessionId")?,
            field("deviceId")?,
            field("userInputCode")?
        )
    };
    client.ok("POST", "/public/recipe/signinup/code/consume", &body)
}

/// The wrk script: per thread, a queue of created codes; consume one when queued, else create
/// one (for a new e-mail or the thread's next returning user, 1:1). Bodies without
/// `"status":"OK"` count as not OK.
fn wrk_lua(pool: usize, threads: usize, nonce: &str) -> String {
    let script = r#"
local pool = {}
local next_returning = 0
local counter = 0
local queue = {}
local first, last = 1, 0
function init(args)
  math.randomseed(os.time() + tid * 7919)
  for i = tid, @POOL@ - 1, @THREADS@ do pool[#pool + 1] = 'ret-' .. i .. '@example.com' end
end
function request()
  if first <= last then
    local f = queue[first]
    queue[first] = nil
    first = first + 1
    local body
    if math.random(0, 1) == 0 then
      body = '{"preAuthSessionId":"' .. f[1] .. '","linkCode":"' .. f[2] .. '"}'
    else
      body = '{"preAuthSessionId":"' .. f[1] .. '","deviceId":"' .. f[3] .. '","userInputCode":"' .. f[4] .. '"}'
    end
    return wrk.format(nil, '/public/recipe/signinup/code/consume', nil, body)
  end
  local email
  if math.random(0, 1) == 1 then
    counter = counter + 1
    email = 'new-@NONCE@-' .. tid .. '-' .. counter .. '@example.com'
  else
    next_returning = next_returning % #pool + 1
    email = pool[next_returning]
  end
  return wrk.format(nil, '/public/recipe/signinup/code', nil, '{"email":"' .. email .. '"}')
end
function response(status, headers, body)
  if not string.find(body, '"status":"OK"', 1, true) then
    not_ok = not_ok + 1
    return
  end
  local link = string.match(body, '"linkCode":"([^"]+)"')
  if link then
    last = last + 1
    queue[last] = {
      string.match(body, '"preAuthSessionId":"([^"]+)"'), link,
      string.match(body, '"deviceId":"([^"]+)"'), string.match(body, '"userInputCode":"([^"]+)"'),
    }
  end
end
"#;
    let script = script
        .replace("@POOL@", &pool.to_string())
        .replace("@THREADS@", &threads.to_string())
        .replace("@NONCE@", nonce);
    format!("{}{script}", lua_headers())
}

/// The pgbench script of one flow for `clients` clients (see the module docs).
fn pgbench_flow(pool: usize, clients: usize) -> String {
    let now = now_ms();
    let per_client = pool / clients;
    // Stand-ins for the server's hashes: 43 characters of the device id hash (base64 of a
    // SHA-256 without padding), 44 of the link-code hash and the salt. Values of `CHAR(n)`
    // columns are `BPCHAR`, as the server's parameters are typed: compared as `TEXT`, the
    // column would be cast and its index not used.
    let device = "left(md5(:d::TEXT) || md5('h' || :d), 43)::BPCHAR";
    let link = "left(md5('l' || :d) || md5('k' || :d), 44)::BPCHAR";
    let salt = "left(md5('s' || :d) || md5('t' || :d), 44)::BPCHAR";
    let code_id = "md5('c' || :d)::UUID::TEXT::BPCHAR";
    let devices = "public.passwordless_devices";
    let codes = "public.passwordless_codes";
    let device_cols = "device_id_hash::TEXT, email, phone_number, link_code_salt::TEXT, failed_attempts";
    let code_cols = "code_id::TEXT, device_id_hash::TEXT, link_code_hash::TEXT, created_at";
    let at = "app_id = 'public' AND tenant_id = 'public'";
    // One branch per (new user?, link code?), with the e-mail and user id as SQL.
    let flow = |email: &str, new: bool, by_link: bool| -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "BEGIN;\n\
             INSERT INTO {devices} (app_id, tenant_id, device_id_hash, email, phone_number, link_code_salt, failed_attempts) \
             VALUES ('public', 'public', {device}, {email}, NULL, {salt}, 0);\n\
             INSERT INTO {codes} (app_id, tenant_id, code_id, device_id_hash, link_code_hash, created_at) \
             VALUES ('public', 'public', {code_id}, {device}, {link}, {now});\n\
             COMMIT;\n"
        ));
        if by_link {
            s.push_str(&format!("SELECT {code_cols} FROM {codes} WHERE {at} AND link_code_hash = {link};\n"));
        } else {
            s.push_str(&format!(
                "SELECT {device_cols} FROM {devices} WHERE {at} AND device_id_hash = {device};\n\
                 SELECT {code_cols} FROM {codes} WHERE {at} AND device_id_hash = ANY(ARRAY[{device}]::TEXT[]::BPCHAR[]) \
                 ORDER BY created_at, code_id;\n"
            ));
        }
        s.push_str(&format!(
            "BEGIN;\n\
             SELECT email, phone_number FROM {devices} WHERE {at} AND device_id_hash = {device};\n\
             SELECT {device_cols} FROM {devices} WHERE {at} \
             AND (device_id_hash = {device} OR email = {email} OR phone_number = NULL) ORDER BY device_id_hash FOR UPDATE;\n\
             SELECT {code_cols} FROM {codes} WHERE {at} AND link_code_hash = {link};\n\
             DELETE FROM {devices} WHERE {at} AND email = {email};\n\
             COMMIT;\n"
        ));
        let of_email = format!(
            "SELECT user_id::TEXT AS uid FROM public.passwordless_user_to_tenant WHERE {at} AND email = {email}"
        );
        if new {
            let uid = "md5('u' || :n)::UUID::TEXT::BPCHAR";
            s.push_str(&format!(
                "{of_email};\n\
                 BEGIN;\n\
                 {rows}\n\
                 INSERT INTO public.passwordless_users (app_id, user_id, email, phone_number, time_joined) \
                 VALUES ('public', {uid}, {email}, NULL, {now});\n\
                 INSERT INTO public.passwordless_user_to_tenant (app_id, tenant_id, user_id, email, phone_number) \
                 VALUES ('public', 'public', {uid}, {email}, NULL);\n\
                 COMMIT;\n\
                 {verify}\n{user}\n{active}\n{json}\n{mapping}\n",
                rows = user_sql::new_user_rows(uid, "passwordless", now),
                verify = user_sql::verify_email(uid, email),
                user = user_sql::auth_user(uid),
                active = user_sql::last_active(uid, now),
                json = user_sql::mappings_and_verified(uid),
                mapping = user_sql::mapping(uid),
            ));
        } else {
            let uid = ":uid";
            s.push_str(&format!(
                "{of_email} \\gset\n{user}\n{mapping}\n{verify}\n{json}\n{mapping}\n",
                user = user_sql::auth_user(uid),
                mapping = user_sql::mapping(uid),
                verify = user_sql::verify_email(uid, email),
                json = user_sql::mappings_and_verified(uid),
            ));
        }
        s
    };
    let new_email = "'pgb-new-' || :n || '@example.com'";
    let returning_email = "'ret-' || :r || '@example.com'";
    format!(
        "\\set d random(1, 9000000000000000000)\n\
         \\set n random(1, 9000000000000000000)\n\
         \\set r :client_id + {clients} * random(0, {last})\n\
         \\set new random(0, 1)\n\
         \\set by_link random(0, 1)\n\
         \\if :new\n\\if :by_link\n{a}\\else\n{b}\\endif\n\
         \\else\n\\if :by_link\n{c}\\else\n{d}\\endif\n\\endif\n",
        last = per_client.saturating_sub(1),
        a = flow(new_email, true, true),
        b = flow(new_email, true, false),
        c = flow(returning_email, false, true),
        d = flow(returning_email, false, false),
    )
}
