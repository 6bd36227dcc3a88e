//! `cargo xtask bench oauth`: the OAuth2 provider's client-credentials token issuance
//! (`POST /recipe/oauth/token`, the body supertokens-node sends) and the token's introspection
//! (`POST /recipe/oauth/introspect`), in memory or on PostgreSQL, beside ceilings measured in
//! the same rounds on the same box (issue 23):
//! * issuance vs `st-bench-baseline`'s bare `POST /sign` (JSON in, an RS256 JWT of a session's
//!   shape out: the signing ceiling), measured just before and just after it (their mean);
//!   target at least 0.7;
//! * introspection vs the baseline's bare `POST /verify` of the same token (parse, RS256 check
//!   with the server's JWKS, `exp`; it answers `TRY_REFRESH_TOKEN` at the end for the lack of a
//!   session handle, after doing all of the verification work, so its bodies are not checked).
//!
//! Each concurrency is measured in `--rounds` rounds and each ratio taken within its round; the
//! table shows the median ratio and its range.

use crate::baseline::{self, BaselineServer};
use crate::bench_flow::{extra_config, lua_headers, server_bin, server_config, Client, API_KEY};
use crate::pg::BenchDb;
use crate::util::{json_str, load_span, uptime, verdict, Flags, Table};
use crate::wrk::{self, lua_string, Spec, WrkResult};
use crate::{http_get, repo_root, Result, Server};
use std::time::Duration;

const ISSUE_TARGET: f64 = 0.7;

const CLIENT: &str = r#"{"clientId":"bench-svc","clientSecret":"bench-svc-secret","grantTypes":["client_credentials"],"scope":"read write","audience":["api"],"tokenEndpointAuthMethod":"client_secret_post"}"#;
const TOKEN: &str = r#"{"iss":"http://localhost:3001/auth","inputBody":{"grant_type":"client_credentials","client_id":"bench-svc","client_secret":"bench-svc-secret","scope":"read","audience":"api"},"access_token":{},"id_token":{},"useStaticSigningKey":true}"#;
/// The baseline's `/sign` body (a session of a random user, as `bench session` signs).
const SIGN_INIT: &str = "function init(args) math.randomseed(os.time() + tid * 7919) end";
const SIGN_BODY: &str = r#"'{"userId":"bench-user-' .. math.random(1, 10000) .. '","userDataInJWT":{},"userDataInDatabase":{},"enableAntiCsrf":false}'"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.2}–{hi:.2}")
}

fn check(r: &WrkResult, what: &str) -> Result<()> {
    let p = r.problems();
    if p.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {p}"))
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "oauth",
        args,
        &["--duration", "--rounds", "--conns", "--store", "--server-bin", "--baseline-bin", "--server-config"],
    )?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[16])?;
    let store = flags.raw("--store").unwrap_or("memory").to_string();
    if rounds == 0 || conns.contains(&0) {
        return Err("oauth: --rounds and --conns must be positive".into());
    }
    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let baseline_bin = match flags.raw("--baseline-bin") {
        Some(p) => std::path::PathBuf::from(p),
        None => baseline::build(&repo_root())?,
    };
    let uptime_before = uptime();
    let db = if store == "postgres" { Some(BenchDb::create("oauth")?) } else { None };
    let base = match &db {
        Some(db) => server_config(&db.url),
        None => format!("core_config_version: 0\napi_keys: \"{API_KEY}\"\n"),
    };
    let config =
        format!("{base}oauth_client_secret_encryption_key: \"bench-oauth-encryption-key\"\n{}", extra_config(&flags));
    let mut server = Server::spawn_with_config(&bin, &config, &[])?;
    server.wait_ready(Duration::from_secs(120))?;
    let mut client = Client::new(server.port);
    client.ok("POST", "/recipe/oauth/clients", CLIENT)?;
    let answer = client.ok("POST", "/recipe/oauth/token", TOKEN)?;
    let token = json_str(&answer, "", "access_token").ok_or_else(|| format!("no access_token in {answer}"))?;
    let introspect_body = format!(r#"{{"token":"{token}"}}"#);
    if !client.ok("POST", "/recipe/oauth/introspect", &introspect_body)?.contains("\"active\":true") {
        return Err("the token does not introspect active".into());
    }
    let jwks = http_get(server.port, "/.well-known/jwks.json", Duration::from_secs(10))
        .map_err(|e| format!("GET /.well-known/jwks.json: {e}"))?;
    let jwks = String::from_utf8_lossy(&jwks.body).into_owned();
    let baseline = BaselineServer::start(&baseline_bin, &[("ST_BENCH_JWKS", &jwks)])?;
    say!("server ({store}) on port {}, baseline on port {}", server.port, baseline.port);

    let constant = |url: String, c: usize, body: &str| Spec {
        url,
        conns: c,
        duration_s: duration,
        timeout_s: 10,
        lua: format!("{}wrk.body = {}\n", lua_headers(), lua_string(body)),
        check_ok: true,
    };
    let mut table = Table::new(&[
        "conns",
        "issue tokens/s (median)",
        "/sign ceiling/s",
        "issue ÷ /sign (median, range)",
        "issue p50 / p99 ms",
        "introspect/s",
        "bare /verify/s",
        "introspect ÷ /verify (median, range)",
        "load",
    ]);
    let mut verdicts = Vec::new();
    for &c in &conns {
        let (mut issue, mut sign, mut issue_ratio, mut intro, mut verify, mut intro_ratio) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        let (mut load_first, mut load_last) = (f64::NAN, f64::NAN);
        for round in 0..rounds {
            say!("conns {c}, round {}/{rounds}", round + 1);
            let sign_spec = Spec::post_lua(baseline.url("/sign"), c, duration, SIGN_INIT, SIGN_BODY);
            let s1 = wrk::run(&sign_spec)?;
            check(&s1, "baseline /sign")?;
            let t = wrk::run(&constant(server.url("/recipe/oauth/token"), c, TOKEN))?;
            check(&t, "POST /recipe/oauth/token")?;
            let s2 = wrk::run(&sign_spec)?;
            check(&s2, "baseline /sign")?;
            let mut verify_spec = constant(baseline.url("/verify"), c, &format!(r#"{{"accessToken":"{token}"}}"#));
            verify_spec.check_ok = false;
            let v = wrk::run(&verify_spec)?;
            let i = wrk::run(&constant(server.url("/recipe/oauth/introspect"), c, &introspect_body))?;
            check(&i, "POST /recipe/oauth/introspect")?;
            if round == 0 {
                load_first = s1.load_before;
            }
            load_last = i.load_after;
            let ceiling = (s1.rps + s2.rps) / 2.0;
            issue.push(t.rps);
            sign.push(ceiling);
            issue_ratio.push(t.rps / ceiling);
            p50.push(t.p50_ms);
            p99.push(t.p99_ms);
            intro.push(i.rps);
            verify.push(v.rps);
            intro_ratio.push(i.rps / v.rps);
        }
        let r = median(issue_ratio.clone());
        verdicts.push((c, r));
        table.row(vec![
            c.to_string(),
            format!("{:.0}", median(issue.clone())),
            format!("{:.0}", median(sign.clone())),
            format!("{r:.2} ({})", range(&issue_ratio)),
            format!("{:.1} / {:.1}", median(p50.clone()), median(p99.clone())),
            format!("{:.0}", median(intro.clone())),
            format!("{:.0}", median(verify.clone())),
            format!("{:.2} ({})", median(intro_ratio.clone()), range(&intro_ratio)),
            load_span(load_first, load_last),
        ]);
    }
    let uptime_after = uptime();
    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    println!(
        "store: {store}; client-credentials tokens (client_secret_post, one scope, one audience), static RS256 key"
    );
    println!();
    table.print();
    for (c, r) in verdicts {
        println!(
            "issuance at {c} conns: {r:.2} of the signing ceiling (target ≥ {ISSUE_TARGET}): {}",
            verdict(r, ISSUE_TARGET, true)
        );
    }
    drop(baseline);
    drop(server);
    Ok(())
}
