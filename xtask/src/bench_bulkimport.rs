//! `cargo xtask bench bulkimport`: the bulk import of `--users` users (default 1,000,000) on
//! PostgreSQL through the queue and the `ProcessBulkImportUsers` job, beside a plain `COPY` of
//! the same rows into the same tables of a fresh database in the same run (the database's own
//! ceiling), with the server's peak RSS and the latency of an e-mail-password sign-in while the
//! import runs.
//!
//! * The users, a mix: 40% e-mail-password with a bcrypt hash (cost 10), 10% with an argon2id
//!   hash, 10% with a Firebase-scrypt hash (the signer key configured), 20% third party, 10%
//!   passwordless (e-mail or phone number), 10% linked (an e-mail-password primary and a third
//!   party login method) with an external id, metadata and a role. Hashes are given, as an
//!   export from another system has them (plain-text passwords would measure the hashing).
//! * Queueing: `POST /bulk-import/users` in requests of `--batch` users (at most 10 000).
//! * Import: the server is restarted on the database; the job runs at start-up (as the
//!   reference's) in rounds of `bulk_migration_parallelism` workers of `bulk_migration_batch_size
//!   / bulk_migration_parallelism` rows (override with `--server-config`). Timed from the spawn
//!   of that server until no row is `NEW` or `PROCESSING` (polled every 500 ms, with the RSS).
//! * Sign-in: one client signing in a user created before the queue, back to back, for as long
//!   as the import runs: p50/p99.
//! * COPY: the same users' rows (the same tables and columns the import writes) as one `psql`
//!   script of `COPY … FROM STDIN` blocks, each table analysed after its block (as the import
//!   refreshes the statistics while the tables are small), timed around `psql`.

use crate::bench_flow::{extra_config, server_bin, server_config, Client};
use crate::pg::BenchDb;
use crate::util::{percentile, uptime, Flags, Table};
use crate::{Result, Server};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PW: &str = "bench-pw";
const BCRYPT: &str = "$2a$10$/uaF/uaF/uaF/uaF/uaF/u8dvZOq1dR/hvbq04pKMEJhQEccP5h2O";
const ARGON2: &str = "$argon2id$v=19$m=4096,t=1,p=1$CQkJCQkJCQkJCQkJCQkJCQ$/Xfilj4Z3bwnZQq6JX1lsldZ1ktyG66lP/mF2w0bbww";
/// Firebase's published sample (password "user1password").
const FIREBASE_SIGNER: &str =
    "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==";
const FIREBASE: &str = "$f_scrypt$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==$42xEC+ixf3L2lw==$m=14$r=8$s=Bw==";
const JOINED: i64 = 1_600_000_000_000;

/// The kind of user `i` (see the module's mix).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Bcrypt,
    Argon2,
    Firebase,
    ThirdParty,
    Passwordless,
    Linked,
}

fn kind(i: usize) -> Kind {
    match i % 10 {
        0..=3 => Kind::Bcrypt,
        4 => Kind::Argon2,
        5 => Kind::Firebase,
        6 | 7 => Kind::ThirdParty,
        8 => Kind::Passwordless,
        _ => Kind::Linked,
    }
}

/// User `i` as `POST /bulk-import/users` takes it.
fn user_json(i: usize) -> String {
    let t = JOINED + i as i64;
    let ep = |hash: &str, alg: &str, primary: bool| {
        format!(
            r#"{{"recipeId":"emailpassword","email":"u{i}@bench.example","passwordHash":"{hash}","hashingAlgorithm":"{alg}","isPrimary":{primary},"timeJoinedInMSSinceEpoch":{t}}}"#
        )
    };
    let tp = format!(
        r#"{{"recipeId":"thirdparty","email":"u{i}@bench.example","thirdPartyId":"google","thirdPartyUserId":"g{i}","isVerified":true,"timeJoinedInMSSinceEpoch":{t}}}"#
    );
    match kind(i) {
        Kind::Bcrypt => format!(r#"{{"loginMethods":[{}]}}"#, ep(BCRYPT, "bcrypt", false)),
        Kind::Argon2 => format!(r#"{{"loginMethods":[{}]}}"#, ep(ARGON2, "argon2", false)),
        Kind::Firebase => format!(r#"{{"loginMethods":[{}]}}"#, ep(FIREBASE, "firebase_scrypt", false)),
        Kind::ThirdParty => format!(r#"{{"loginMethods":[{tp}]}}"#),
        Kind::Passwordless if i % 20 < 10 => format!(
            r#"{{"loginMethods":[{{"recipeId":"passwordless","email":"u{i}@bench.example","timeJoinedInMSSinceEpoch":{t}}}]}}"#
        ),
        Kind::Passwordless => format!(
            r#"{{"loginMethods":[{{"recipeId":"passwordless","phoneNumber":"+1555{i:07}","timeJoinedInMSSinceEpoch":{t}}}]}}"#
        ),
        Kind::Linked => format!(
            r#"{{"externalUserId":"ext-{i}","userMetadata":{{"plan":"pro","n":{i}}},"userRoles":[{{"role":"bench","tenantIds":["public"]}}],"loginMethods":[{},{tp}]}}"#,
            ep(BCRYPT, "bcrypt", true)
        ),
    }
}

/// A deterministic id for the COPY rows (`n` < 2^48).
fn cid(n: usize, part: u8) -> String {
    format!("{part:08x}-0000-4000-8000-{n:012x}")
}

/// The `psql` script that writes the users' rows with `COPY` (what the import writes, minus
/// the queue): the same tables and columns.
fn copy_script(users: usize) -> String {
    let mut a2u = String::new();
    let mut aaru = String::new();
    let mut ep = String::new();
    let mut ep_t = String::new();
    let mut tp = String::new();
    let mut tp_t = String::new();
    let mut pl = String::new();
    let mut pl_t = String::new();
    let mut map = String::new();
    let mut md = String::new();
    let mut ur = String::new();
    let mut eve = String::new();
    for i in 0..users {
        let t = JOINED + i as i64;
        let email = format!("u{i}@bench.example");
        let mut add_ep = |id: &str, primary: &str, linked: bool, hash: &str| {
            let _ = writeln!(a2u, "public\t{id}\temailpassword\t{primary}\t{linked}");
            let _ = writeln!(aaru, "public\tpublic\t{id}\t{primary}\t{linked}\temailpassword\t{t}\t{t}");
            let _ = writeln!(ep, "public\t{id}\t{email}\t{hash}\t{t}");
            let _ = writeln!(ep_t, "public\tpublic\t{id}\t{email}");
        };
        match kind(i) {
            Kind::Bcrypt => add_ep(&cid(i, 1), &cid(i, 1), false, BCRYPT),
            Kind::Argon2 => add_ep(&cid(i, 1), &cid(i, 1), false, ARGON2),
            Kind::Firebase => add_ep(&cid(i, 1), &cid(i, 1), false, FIREBASE),
            Kind::Linked => add_ep(&cid(i, 1), &cid(i, 1), true, BCRYPT),
            _ => {}
        }
        if matches!(kind(i), Kind::ThirdParty | Kind::Linked) {
            let (id, primary, linked) =
                if kind(i) == Kind::Linked { (cid(i, 2), cid(i, 1), true) } else { (cid(i, 2), cid(i, 2), false) };
            let _ = writeln!(a2u, "public\t{id}\tthirdparty\t{primary}\t{linked}");
            let _ = writeln!(aaru, "public\tpublic\t{id}\t{primary}\t{linked}\tthirdparty\t{t}\t{t}");
            let _ = writeln!(tp, "public\tgoogle\tg{i}\t{id}\t{email}\t{t}");
            let _ = writeln!(tp_t, "public\tpublic\t{id}\tgoogle\tg{i}");
            let owner = if kind(i) == Kind::Linked { format!("ext-{i}") } else { id.clone() };
            let _ = writeln!(eve, "public\t{owner}\t{email}");
        }
        if kind(i) == Kind::Passwordless {
            let id = cid(i, 3);
            let (e, p) =
                if i % 20 < 10 { (email.clone(), "\\N".to_string()) } else { ("\\N".into(), format!("+1555{i:07}")) };
            let _ = writeln!(a2u, "public\t{id}\tpasswordless\t{id}\tfalse");
            let _ = writeln!(aaru, "public\tpublic\t{id}\t{id}\tfalse\tpasswordless\t{t}\t{t}");
            let _ = writeln!(pl, "public\t{id}\t{e}\t{p}\t{t}");
            let _ = writeln!(pl_t, "public\tpublic\t{id}\t{e}\t{p}");
        }
        if kind(i) == Kind::Linked {
            let _ = writeln!(map, "public\t{}\text-{i}", cid(i, 1));
            let _ = writeln!(md, "public\text-{i}\t{{\"plan\":\"pro\",\"n\":{i}}}");
            let _ = writeln!(ur, "public\tpublic\text-{i}\tbench");
        }
    }
    let mut sql = String::from("INSERT INTO roles (app_id, role) VALUES ('public', 'bench') ON CONFLICT DO NOTHING;\n");
    for (table, cols, data) in [
        (
            "app_id_to_user_id",
            "app_id, user_id, recipe_id, primary_or_recipe_user_id, is_linked_or_is_a_primary_user",
            &a2u,
        ),
        (
            "all_auth_recipe_users",
            "app_id, tenant_id, user_id, primary_or_recipe_user_id, is_linked_or_is_a_primary_user, recipe_id, \
             time_joined, primary_or_recipe_user_time_joined",
            &aaru,
        ),
        ("emailpassword_users", "app_id, user_id, email, password_hash, time_joined", &ep),
        ("emailpassword_user_to_tenant", "app_id, tenant_id, user_id, email", &ep_t),
        ("thirdparty_users", "app_id, third_party_id, third_party_user_id, user_id, email, time_joined", &tp),
        ("thirdparty_user_to_tenant", "app_id, tenant_id, user_id, third_party_id, third_party_user_id", &tp_t),
        ("passwordless_users", "app_id, user_id, email, phone_number, time_joined", &pl),
        ("passwordless_user_to_tenant", "app_id, tenant_id, user_id, email, phone_number", &pl_t),
        ("userid_mapping", "app_id, supertokens_user_id, external_user_id", &map),
        ("emailverification_verified_emails", "app_id, user_id, email", &eve),
        ("user_metadata", "app_id, user_id, user_metadata", &md),
        ("user_roles", "app_id, tenant_id, user_id, role", &ur),
    ] {
        let _ = writeln!(sql, "COPY {table} ({cols}) FROM STDIN;");
        sql.push_str(data);
        sql.push_str("\\.\n");
        // The tables referencing this one check their foreign keys with plans made on its
        // statistics: without them (a table never analysed) every check scans it, and the COPY
        // of the next table is quadratic (70,000 rows had not finished in 17 minutes).
        let _ = writeln!(sql, "ANALYZE {table};");
    }
    sql
}

fn count(client: &mut Client, status: &str) -> Result<u64> {
    let body = client.ok("GET", &format!("/bulk-import/users/count?status={status}"), "")?;
    let start = body.find("\"count\":").map(|i| i + "\"count\":".len()).ok_or_else(|| format!("no count in {body}"))?;
    let digits: String = body[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().map_err(|_| format!("no count in {body}"))
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse("bulkimport", args, &["--users", "--batch", "--server-bin", "--server-config"])?;
    let users: usize = flags.num("--users", 1_000_000)?;
    let batch: usize = flags.num("--batch", 10_000)?;
    if users == 0 || batch == 0 || batch > 10_000 {
        return Err("bulkimport: --users must be positive and --batch between 1 and 10000".into());
    }
    let bin = server_bin(&flags)?;
    let uptime_before = uptime();
    let db = BenchDb::create("bulkimport")?;
    let config = format!(
        "{}firebase_password_hashing_signer_key: \"{FIREBASE_SIGNER}\"\n{}",
        server_config(&db.url),
        extra_config(&flags)
    );

    // Queue the users through a first server.
    let mut server = Server::spawn_with_config(&bin, &config, &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    let mut client = Client::new(server.port);
    client.ok("PUT", "/recipe/role", r#"{"role":"bench"}"#)?;
    client.ok("POST", "/public/recipe/signup", r#"{"email":"probe@bench.example","password":"probe-pw"}"#)?;
    say!("queueing {users} users in requests of {batch}");
    let queued_at = Instant::now();
    let mut i = 0;
    while i < users {
        let end = (i + batch).min(users);
        let body: Vec<String> = (i..end).map(user_json).collect();
        client.ok("POST", "/bulk-import/users", &format!(r#"{{"users":[{}]}}"#, body.join(",")))?;
        i = end;
    }
    let queue_s = queued_at.elapsed().as_secs_f64();
    server.stop()?;

    // Import: a new server on the database, whose job starts at once.
    say!("queued in {queue_s:.1} s; starting the importing server");
    let started = Instant::now();
    let mut server = Server::spawn_with_config(&bin, &config, &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (done, port) = (done.clone(), server.port);
        std::thread::spawn(move || -> Result<Vec<f64>> {
            let mut c = Client::new(port);
            let mut ms = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                let (st, body) = c.call(
                    "POST",
                    "/public/recipe/signin",
                    r#"{"email":"probe@bench.example","password":"probe-pw"}"#,
                )?;
                if st != 200 || !body.contains("\"OK\"") {
                    return Err(format!("sign-in during the import: {st} {body}"));
                }
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(ms)
        })
    };
    let mut client = Client::new(server.port);
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(server.rss_kib()?);
        if count(&mut client, "NEW")? + count(&mut client, "PROCESSING")? == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(6 * 3600) {
            return Err("bulkimport: the import did not finish within 6 hours".into());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let import_s = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let mut signins = probe.join().map_err(|_| "the sign-in probe panicked".to_string())??;
    signins.sort_by(f64::total_cmp);
    let failed = count(&mut client, "FAILED")?;
    // Spot checks: an imported user of each password kind signs in.
    for (n, pw) in [(0, PW), (4, PW), (5, "user1password"), (9, PW)] {
        if n < users {
            let body = client.ok(
                "POST",
                "/public/recipe/signin",
                &format!(r#"{{"email":"u{n}@bench.example","password":"{pw}"}}"#),
            )?;
            if !body.contains("\"status\":\"OK\"") {
                return Err(format!("imported user u{n} cannot sign in: {body}"));
            }
        }
    }
    server.stop()?;

    // The ceiling: COPY of the same rows into a fresh database with the same schema.
    let copy_db = BenchDb::create("bulkimport_copy")?;
    let mut schema = Server::spawn_with_config(&bin, &server_config(&copy_db.url), &[])?;
    schema.wait_ready(Duration::from_secs(120))?;
    schema.stop()?;
    let script = copy_script(users);
    let copy_started = Instant::now();
    copy_db.psql(&script)?;
    let copy_s = copy_started.elapsed().as_secs_f64();
    let uptime_after = uptime();

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.throwaway() {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!("users: {users} (40% bcrypt, 10% argon2id, 10% Firebase scrypt, 20% third party, 10% passwordless, 10% linked e-mail-password + third party with external id, metadata, role)");
    println!();
    let mut t = Table::new(&["what", "seconds", "users/s", "notes"]);
    t.row(vec![
        "queue (POST /bulk-import/users)".into(),
        format!("{queue_s:.1}"),
        format!("{:.0}", users as f64 / queue_s),
        format!("{batch} users a request"),
    ]);
    t.row(vec![
        "import (job, from server spawn)".into(),
        format!("{import_s:.1}"),
        format!("{:.0}", users as f64 / import_s),
        format!("peak RSS {:.0} MiB; {failed} FAILED rows", peak_rss as f64 / 1024.0),
    ]);
    t.row(vec![
        "COPY of the same rows (psql)".into(),
        format!("{copy_s:.1}"),
        format!("{:.0}", users as f64 / copy_s),
        format!("the import at {} of its speed", crate::util::ratio(copy_s, import_s)),
    ]);
    t.print();
    println!();
    println!(
        "sign-in during the import: {} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        signins.len(),
        percentile(&signins, 0.50),
        percentile(&signins, 0.99),
        signins.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
