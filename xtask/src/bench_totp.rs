//! `cargo xtask bench totp`: `POST /public/recipe/totp/verify` on PostgreSQL, a valid code of a
//! user with one verified device each time, each code used once, beside `pgbench` running the
//! same SQL on the same database in the same rounds (target: at least 0.7 of its verifies per
//! second, at 16 clients).
//!
//! * Why valid codes, each once: that is the request an MFA sign-in makes, and it does all of
//!   the verify's work (the user's row locked with its devices, its used codes locked and read,
//!   the code checked against the skew window, the used code recorded). A used code is refused
//!   until it expires and the same code again would measure the replay refusal instead, so
//!   every request takes a (user, code) pair no request took before. Wrong codes would measure
//!   the same statements but run into the attempt limit (5 in a row) after a few requests per
//!   user.
//! * The codes: every device has the same secret and a period of about 11.6 days (skew 1), chosen
//!   so that the benchmark does not cross a period's end; its three valid codes (the previous,
//!   the current and the next period's) are computed here (RFC 6238, HMAC-SHA-1, [`totp`]) and
//!   checked through the server before the runs (each accepted once, a replay refused). The
//!   server computes the same three HMACs per request as with a 30 s period.
//! * The users (`srv-<i>` for the server, `pgb-<i>` for pgbench) and their devices are inserted
//!   with SQL, as the server writes them (checked against a device imported through the
//!   server). Each server run has its own `--users-per-run` users; wrk thread t takes the users
//!   i ≡ t (mod threads) of its run's range in turn, with the current period's code, then again
//!   with the previous and the next period's, so a user's requests are never in flight together
//!   and no code is used twice (a run that used them all would show as not-OK answers).
//! * pgbench: one script execution = one verify, the statements the server runs in its
//!   transaction (read from its statement log with `log_statement = all`; see
//!   crates/storage-postgres/src/totp.rs `judge_totp_code`): the user's row locked with its
//!   devices, its used codes locked, the used code inserted; for a random `pgb-<i>` user, with
//!   a random creation time (the table's key).

use crate::bench_flow::{extra_config, lua_headers, now_ms, report, server_bin, server_config, Client, FlowBench};
use crate::pg::BenchDb;
use crate::util::{json_str, uptime, Flags};
use crate::wrk::{self, Spec};
use crate::{Result, Server};
use std::time::Duration;

const TARGET: f64 = 0.7;

/// The devices' secret: 20 bytes, base32 (as the server generates them).
const SECRET_BASE32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SKEW: i64 = 1;

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "totp",
        args,
        &["--duration", "--rounds", "--conns", "--users-per-run", "--server-bin", "--server-config"],
    )?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[16])?;
    // Three codes per user: room for 4500 verifies per second.
    let per_run: usize = flags.num("--users-per-run", 1500 * duration as usize)?;
    if rounds == 0 || conns.contains(&0) || per_run == 0 {
        return Err("totp: --rounds, --conns and --users-per-run must be positive".into());
    }
    let runs = rounds * conns.len();
    let users = per_run * runs;

    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let uptime_before = uptime();
    let db = BenchDb::create("totp")?;
    let mut server =
        Server::spawn_with_config(&bin, &format!("{}{}", server_config(&db.url), extra_config(&flags)), &[])?;
    server.wait_ready(Duration::from_secs(120))?;

    let now_s = now_ms() / 1000;
    let period = stable_period(now_s);
    let key = base32_decode(SECRET_BASE32);
    let counter = now_s / period;
    let codes: Vec<String> = [counter - 1, counter, counter + 1].iter().map(|&c| totp(&key, c as u64)).collect();
    say!("server ready on port {}; period {period} s, codes {codes:?}; checking them through the server", server.port);
    let mut client = Client::new(server.port);
    let import = format!(
        r#"{{"userId":"totp-check","deviceName":"phone","secretKey":"{SECRET_BASE32}","skew":{SKEW},"period":{period}}}"#
    );
    client.ok("POST", "/recipe/totp/device/import", &import)?;
    let verify = |client: &mut Client, code: &str| {
        client.call("POST", "/public/recipe/totp/verify", &format!(r#"{{"userId":"totp-check","totp":"{code}"}}"#))
    };
    for code in &codes {
        let (status, body) = verify(&mut client, code)?;
        if status != 200 || !body.contains("\"status\":\"OK\"") {
            return Err(format!("the server refused the code {code} computed here: {status} {body}"));
        }
    }
    let (_, again) = verify(&mut client, &codes[1])?;
    if json_str(&again, "", "status").as_deref() != Some("INVALID_TOTP_ERROR") {
        return Err(format!("a used code was not refused: {again}"));
    }

    say!("inserting {users} users with a device for the server and as many for pgbench");
    let created = now_ms();
    let mut seed = String::new();
    for prefix in ["srv", "pgb"] {
        seed.push_str(&format!(
            "INSERT INTO totp_users (app_id, user_id) SELECT 'public', '{prefix}-' || i FROM generate_series(0, {last}) i;\n\
             INSERT INTO totp_user_devices (app_id, user_id, device_name, secret_key, period, skew, verified, created_at) \
             SELECT 'public', '{prefix}-' || i, 'phone', '{SECRET_BASE32}', {period}, {SKEW}, TRUE, {created} \
             FROM generate_series(0, {last}) i;\n",
            last = users - 1
        ));
    }
    db.psql(&seed)?;
    // The rows written here are those the server writes for an imported device.
    let row = |user: &str| {
        db.psql(&format!(
            "SELECT device_name, secret_key, period, skew, verified FROM totp_user_devices WHERE user_id = '{user}'"
        ))
    };
    let (ours, its) = (row("srv-0")?, row("totp-check")?);
    if ours != its {
        return Err(format!("the seeded device {ours:?} differs from the server's {its:?}"));
    }

    let bench = FlowBench {
        db: &db,
        conns: &conns,
        rounds,
        duration,
        requests_per_flow: 1.0,
        before_round: "VACUUM ANALYZE totp_users, totp_user_devices, totp_used_codes;",
    };
    let server_spec = |c: usize, round: usize| {
        let index = conns.iter().position(|&x| x == c).unwrap_or(0) * rounds + round.saturating_sub(1);
        Spec {
            url: server.url("/public/recipe/totp/verify"),
            conns: c,
            duration_s: duration,
            timeout_s: 10,
            lua: wrk_lua(index * per_run, per_run, c.clamp(1, 2), &codes),
            check_ok: true,
        }
    };
    let measured = bench.measure(&server_spec, &|_| pgbench_verify(users, period))?;
    let uptime_after = uptime();

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off), shared by the server and pgbench");
    }
    println!(
        "request: POST /public/recipe/totp/verify with a valid code of a user with one verified device, each (user, code) once; {per_run} users per server run"
    );
    println!();
    report(&measured, &conns, rounds, TARGET, "verify");
    drop(server);
    Ok(())
}

/// A period (s) of about 11.6 days whose current period has at least a quarter of it on either
/// side of `now_s`, so that the three codes stay valid for the whole benchmark.
fn stable_period(now_s: i64) -> i64 {
    let mut period = 1_000_000;
    while !(period / 4..=3 * period / 4).contains(&(now_s % period)) {
        period += 1;
    }
    period
}

/// The wrk script: thread t's users are `srv-<i>`, i ≡ t (mod threads) in [first, first +
/// count); each request takes the next user with the current code, then, once through, the
/// previous period's code, then the next period's.
fn wrk_lua(first: usize, count: usize, threads: usize, codes: &[String]) -> String {
    let script = r#"
local users = {}
local codes = {"@CUR@", "@PREV@", "@NEXT@"}
local pass, at = 1, 0
function init(args)
  for i = @FIRST@ + tid, @FIRST@ + @COUNT@ - 1, @THREADS@ do users[#users + 1] = i end
end
function request()
  at = at + 1
  if at > #users then
    at = 1
    pass = pass % 3 + 1
  end
  return wrk.format(nil, nil, nil, '{"userId":"srv-' .. users[at] .. '","totp":"' .. codes[pass] .. '"}')
end
"#;
    let code = |i: usize| codes.get(i).cloned().unwrap_or_default();
    let script = script
        .replace("@FIRST@", &first.to_string())
        .replace("@COUNT@", &count.to_string())
        .replace("@THREADS@", &threads.to_string())
        .replace("@PREV@", &code(0))
        .replace("@CUR@", &code(1))
        .replace("@NEXT@", &code(2));
    format!("{}{script}", lua_headers())
}

/// The pgbench script of one verify (see the module docs).
fn pgbench_verify(users: usize, period: i64) -> String {
    let user = "'pgb-' || :i";
    let lifetime_ms = period * (2 * SKEW + 1) * 1000;
    format!(
        "\\set i random(0, {last})\n\
         \\set t random(1, 9000000000000000000)\n\
         BEGIN;\n\
         SELECT d.device_name::TEXT, d.secret_key::TEXT, d.period, d.skew, d.verified, d.created_at \
         FROM public.totp_users u LEFT JOIN public.totp_user_devices d ON d.app_id = u.app_id AND d.user_id = u.user_id \
         WHERE u.app_id = 'public' AND u.user_id = {user} \
         ORDER BY d.created_at, d.device_name COLLATE \"C\" FOR NO KEY UPDATE OF u;\n\
         SELECT code::TEXT, is_valid, expiry_time_ms, created_time_ms FROM public.totp_used_codes \
         WHERE app_id = 'public' AND tenant_id = 'public' AND user_id = {user} ORDER BY created_time_ms DESC FOR UPDATE;\n\
         INSERT INTO public.totp_used_codes (app_id, tenant_id, user_id, code, is_valid, expiry_time_ms, created_time_ms) \
         VALUES ('public', 'public', {user}, '123456', TRUE, :t + {lifetime_ms}, :t);\n\
         COMMIT;\n",
        last = users.saturating_sub(1),
    )
}

// ---------------------------------------------------------------------------------------------
// TOTP (RFC 6238 over RFC 4226, HMAC-SHA-1, 6 digits), std-only
// ---------------------------------------------------------------------------------------------

/// The six-digit code of `key` for time step `counter`.
fn totp(key: &[u8], counter: u64) -> String {
    let mac = hmac_sha1(key, &counter.to_be_bytes());
    let offset = usize::from(mac[19] & 0x0f);
    let bin = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn base32_decode(s: &str) -> Vec<u8> {
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&sha1(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = sha1(&[pad(0x36), message.to_vec()].concat());
    sha1(&[pad(0x5c), inner.to_vec()].concat())
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B (8 digits there; the last six here), secret "12345678901234567890".
        let key = b"12345678901234567890";
        for (t, code) in [(59u64, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(totp(key, t / 30), code, "T = {t}");
        }
        assert_eq!(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), key.to_vec());
        assert_eq!(base32_decode(SECRET_BASE32).len(), 20);
    }

    #[test]
    fn the_period_leaves_room_on_both_sides() {
        for now in [1_000_000_000, 1_765_000_000, 1_765_999_999, 2_000_000_000] {
            let p = stable_period(now);
            assert!((1_000_000..1_000_000 + 600_000).contains(&p), "{now}: {p}");
            assert!(now % p >= p / 4 && now % p <= 3 * p / 4);
        }
    }
}
