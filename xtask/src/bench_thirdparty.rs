//! `cargo xtask bench thirdparty`: third-party sign-in-up (`POST /public/recipe/signinup`,
//! provider `google`, a verified e-mail) on PostgreSQL, a new user half the time and one of
//! [`POOL`] returning users otherwise, beside `pgbench` running the same SQL on the same
//! database in the same rounds (target: at least 0.7 of its sign-ins per second).
//!
//! The pgbench script is one sign-in-up per execution, the statements the server runs in its
//! order and transactions (read from its statement log with `log_statement = all`; see
//! crates/storage-postgres/src/thirdparty.rs): in a transaction the provider pair's user, and
//! for a new user its four rows (committed; a returning user's transaction is rolled back),
//! then the id mapping, the verified e-mail, the user, its last activity (new users only: the
//! server writes it once per user per 5 minutes, and the returning users were signed up
//! minutes before), its mappings and verified e-mails, and its id mapping.

use crate::bench_flow::{
    extra_config, lua_headers, now_ms, report, server_bin, server_config, user_sql, Client, FlowBench,
};
use crate::pg::BenchDb;
use crate::util::{uptime, Flags};
use crate::wrk::{self, Spec};
use crate::{Result, Server};
use std::time::Duration;

const TARGET: f64 = 0.7;

/// Returning users `ret-<i>` (third-party user id, and e-mail `ret-<i>@example.com`).
const POOL: usize = 1000;

pub fn run(args: &[String]) -> Result<()> {
    let flags =
        Flags::parse("thirdparty", args, &["--duration", "--rounds", "--conns", "--server-bin", "--server-config"])?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[16])?;
    if rounds == 0 || conns.contains(&0) {
        return Err("thirdparty: --rounds and --conns must be positive".into());
    }

    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let uptime_before = uptime();
    let db = BenchDb::create("thirdparty")?;
    let mut server =
        Server::spawn_with_config(&bin, &format!("{}{}", server_config(&db.url), extra_config(&flags)), &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    say!("server ready on port {}; signing up {POOL} returning users", server.port);
    let mut client = Client::new(server.port);
    for i in 0..POOL {
        let answer = client.ok("POST", "/public/recipe/signinup", &body(&format!("ret-{i}")))?;
        if !answer.contains("\"createdNewUser\":true") {
            return Err(format!("the first sign-in-up of ret-{i} did not create a user: {answer}"));
        }
    }
    let again = client.ok("POST", "/public/recipe/signinup", &body("ret-0"))?;
    if !again.contains("\"createdNewUser\":false") {
        return Err(format!("the second sign-in-up of ret-0 created a user: {again}"));
    }

    let bench = FlowBench {
        db: &db,
        conns: &conns,
        rounds,
        duration,
        requests_per_flow: 1.0,
        before_round: "VACUUM ANALYZE thirdparty_users, thirdparty_user_to_tenant, app_id_to_user_id, \
                       all_auth_recipe_users, emailverification_verified_emails, user_last_active;",
    };
    let server_spec = |c: usize, round: usize| Spec {
        url: server.url("/public/recipe/signinup"),
        conns: c,
        duration_s: duration,
        timeout_s: 10,
        lua: wrk_lua(&format!("{}r{round}c{c}", std::process::id())),
        check_ok: true,
    };
    let runs = bench.measure(&server_spec, &|_| pgbench_sign_in_up())?;
    let uptime_after = uptime();

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off), shared by the server and pgbench");
    }
    println!("flow: one sign-in-up (google, isVerified true), a new user or one of {POOL} returning users (1:1)");
    println!();
    report(&runs, &conns, rounds, TARGET, "sign-in-up");
    drop(server);
    Ok(())
}

/// The sign-in-up body of third-party user `id` (e-mail `<id>@example.com`, verified).
fn body(id: &str) -> String {
    format!(
        r#"{{"thirdPartyId":"google","thirdPartyUserId":"{id}","email":{{"id":"{id}@example.com","isVerified":true}}}}"#
    )
}

/// The wrk script: a new user (unique per run, thread and request) or a random returning one, 1:1.
fn wrk_lua(nonce: &str) -> String {
    let script = r#"
local counter = 0
function init(args) math.randomseed(os.time() + tid * 7919) end
function request()
  local id
  if math.random(0, 1) == 1 then
    counter = counter + 1
    id = 'new-@NONCE@-' .. tid .. '-' .. counter
  else
    id = 'ret-' .. math.random(0, @POOL@ - 1)
  end
  return wrk.format(nil, nil, nil, '{"thirdPartyId":"google","thirdPartyUserId":"' .. id
    .. '","email":{"id":"' .. id .. '@example.com","isVerified":true}}')
end
"#;
    format!("{}{}", lua_headers(), script.replace("@POOL@", &POOL.to_string()).replace("@NONCE@", nonce))
}

/// The pgbench script of one sign-in-up (see the module docs).
fn pgbench_sign_in_up() -> String {
    let now = now_ms();
    let by_pair = |tp_user: &str| {
        format!(
            "SELECT t.user_id::TEXT AS uid, a.primary_or_recipe_user_id::TEXT AS primary_id, u.email::TEXT AS email \
             FROM public.thirdparty_user_to_tenant t JOIN public.thirdparty_users u ON u.app_id = t.app_id AND u.user_id = t.user_id \
             JOIN public.app_id_to_user_id a ON a.app_id = t.app_id AND a.user_id = t.user_id \
             WHERE t.app_id = 'public' AND t.tenant_id = 'public' AND t.third_party_id = 'google' AND t.third_party_user_id = {tp_user}"
        )
    };
    let new_user = "'pgb-new-' || :n";
    let new_email = "'pgb-new-' || :n || '@example.com'";
    // `BPCHAR`, as the server's parameter for the `CHAR(36)` columns (as `TEXT`, no index).
    let uid = "md5('u' || :n)::UUID::TEXT::BPCHAR";
    let returning_user = "'ret-' || :r";
    let returning_email = "'ret-' || :r || '@example.com'";
    format!(
        "\\set n random(1, 9000000000000000000)\n\
         \\set r random(0, {last})\n\
         \\set new random(0, 1)\n\
         \\if :new\n\
         BEGIN;\n\
         {new_pair};\n\
         {rows}\n\
         INSERT INTO public.thirdparty_users (app_id, third_party_id, third_party_user_id, user_id, email, time_joined) \
         VALUES ('public', 'google', {new_user}, {uid}, {new_email}, {now});\n\
         INSERT INTO public.thirdparty_user_to_tenant (app_id, tenant_id, user_id, third_party_id, third_party_user_id) \
         VALUES ('public', 'public', {uid}, 'google', {new_user}) \
         ON CONFLICT (app_id, tenant_id, third_party_id, third_party_user_id) DO NOTHING;\n\
         COMMIT;\n\
         {new_mapping}\n{new_verify}\n{new_auth}\n{new_active}\n{new_json}\n{new_mapping}\n\
         \\else\n\
         BEGIN;\n\
         {ret_pair} \\gset\n\
         ROLLBACK;\n\
         {ret_mapping}\n{ret_verify}\n{ret_auth}\n{ret_json}\n{ret_mapping}\n\
         \\endif\n",
        last = POOL - 1,
        new_pair = by_pair(new_user),
        rows = user_sql::new_user_rows(uid, "thirdparty", now),
        new_mapping = user_sql::mapping(uid),
        new_verify = user_sql::verify_email(uid, new_email),
        new_auth = user_sql::auth_user(uid),
        new_active = user_sql::last_active(uid, now),
        new_json = user_sql::mappings_and_verified(uid),
        ret_pair = by_pair(returning_user),
        ret_mapping = user_sql::mapping(":uid"),
        ret_verify = user_sql::verify_email(":uid", returning_email),
        ret_auth = user_sql::auth_user(":uid"),
        ret_json = user_sql::mappings_and_verified(":uid"),
    )
}
