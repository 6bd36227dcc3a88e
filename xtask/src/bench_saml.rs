//! `cargo xtask bench saml` (issue 24, Measured): the SAML assertion consumer callback,
//! `POST /recipe/saml/callback` with signature verification, on the in-memory store and on
//! PostgreSQL at 1 and 16 clients (wrk; rps, p50, p99), and the per-response verification cost
//! in the same run (`st-bench-baseline saml-verify-cost`).
//!
//! * The IdP is `st-bench-baseline saml-make` (crates/bench-baseline/src/saml.rs): an RSA-2048
//!   key and self-signed certificate made with openssl, and before each run `--count` distinct
//!   responses signed by xmlsec through samael (the tests' IdP's way), one callback body a line.
//!   The signing happens there, before the run; wrk only posts the lines (each thread its share,
//!   in turn). An assertion id is accepted once, so a run that posts more than `--count`
//!   answers `SAML_RESPONSE_VERIFICATION_FAILED_ERROR` for the repeats: counted as "not OK".
//! * IdP-initiated logins (the client has `allowIDPInitiatedLogin`): no relay state, so the
//!   bodies need nothing from the server and can all be made ahead. Compared with an
//!   SP-initiated callback the server skips the relay state's read (one key lookup) and the
//!   `InResponseTo`/`Destination`/`Recipient` comparisons; the signature check, the SAML rules,
//!   the client lookup by issuer, the assertion id's single-use insert and the claims' code are
//!   all done.
//! * Ceiling: no bare HTTP handler; `saml-verify-cost` times, on one thread, xmlsec's
//!   verification as the core calls it (`samael_us`) and the core's whole pure check of a
//!   response (`core_us`: base64, the XML parses, xmlsec, the SAML rules). The report divides
//!   the server's callbacks per second by `cores × 1e6 / core_us`, the rate of the check alone
//!   on every core.

use crate::bench_flow::{extra_config, lua_headers, server_bin, server_config, Client, API_KEY};
use crate::pg::BenchDb;
use crate::util::{load_span, uptime, Flags};
use crate::wrk::{self, Spec, WrkResult};
use crate::{repo_root, Result, Server, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SP_ENTITY: &str = "https://sp.bench.example";
const IDP_ENTITY: &str = "https://idp.bench.example";

struct Run {
    backend: &'static str,
    conns: usize,
    round: usize,
    made_s: f64,
    result: WrkResult,
}

fn baseline(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin).args(args).output().map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("st-bench-baseline {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn value(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `made` responses in `file` with ids tagged `tag`; returns the seconds the signing took.
fn make(bin: &Path, dir: &Path, file: &Path, count: usize, tag: &str) -> Result<f64> {
    let line = baseline(
        bin,
        &[
            "saml-make",
            "--dir",
            &dir.display().to_string(),
            "--out",
            &file.display().to_string(),
            "--count",
            &count.to_string(),
            "--tag",
            tag,
            "--issuer",
            IDP_ENTITY,
            "--audience",
            SP_ENTITY,
        ],
    )?;
    Ok(value(&line, "seconds"))
}

fn metadata(cert: &str) -> String {
    format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
         xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"{IDP_ENTITY}\">\
         <md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\
         <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}\
         </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
         <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" \
         Location=\"https://idp.bench.example/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>"
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match (v.get(n.saturating_sub(1) / 2), v.get(n / 2)) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        _ => f64::NAN,
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse(
        "saml",
        args,
        &[
            "--duration",
            "--rounds",
            "--conns",
            "--count",
            "--backends",
            "--server-bin",
            "--baseline-bin",
            "--server-config",
        ],
    )?;
    let duration = flags.seconds("--duration", 5)?;
    let rounds: usize = flags.num("--rounds", 1)?;
    let conns: Vec<usize> = flags.num_list("--conns", &[1, 16])?;
    let count: usize = flags.num("--count", 10_000)?;
    let backends = flags.word_list("--backends", &["memory", "postgres"]);
    if rounds == 0 || conns.contains(&0) || count == 0 {
        return Err("saml: --rounds, --conns and --count must be positive".into());
    }
    if let Some(b) = backends.iter().find(|b| !["memory", "postgres"].contains(&b.as_str())) {
        return Err(format!("saml: unknown backend `{b}` (memory, postgres)"));
    }
    wrk::ensure_wrk()?;
    let bin = server_bin(&flags)?;
    let base = match flags.raw("--baseline-bin") {
        Some(p) if Path::new(p).is_file() => PathBuf::from(p),
        Some(p) => return Err(format!("--baseline-bin: {p} is not a file")),
        None => crate::baseline::build(&repo_root())?,
    };
    let uptime_before = uptime();
    let dir = TempDir::new("st-bench-saml")?;
    // The IdP's key and certificate, and one response for the warm-up.
    let warm = dir.path().join("warm.txt");
    make(&base, dir.path(), &warm, 1, "warm")?;
    let cert = std::fs::read_to_string(dir.path().join("cert.b64")).map_err(|e| e.to_string())?;
    let client_body = serde_like_client_body(&cert);
    let db = if backends.iter().any(|b| b == "postgres") { Some(BenchDb::create("saml")?) } else { None };

    let mut runs = Vec::new();
    let mut last_file = warm.clone();
    for backend in &backends {
        let (name, config) = match (backend.as_str(), &db) {
            ("postgres", Some(db)) => ("postgres", server_config(&db.url)),
            _ => ("memory", format!("core_config_version: 0\napi_keys: \"{API_KEY}\"\n")),
        };
        let config = format!("{config}saml_sp_entity_id: \"{SP_ENTITY}\"\n{}", extra_config(&flags));
        let mut server = Server::spawn_with_config(&bin, &config, &[])?;
        server.wait_ready(Duration::from_secs(120))?;
        let mut client = Client::new(server.port);
        client.ok("PUT", "/recipe/saml/clients", &client_body)?;
        let first = std::fs::read_to_string(&warm).map_err(|e| e.to_string())?;
        let answer = client.ok("POST", "/recipe/saml/callback", first.trim())?;
        if !answer.contains("https://app.bench.example/cb?code=") {
            return Err(format!("the warm-up callback answered {answer}"));
        }
        say!("{name}: server ready on port {}, client created, one callback OK", server.port);
        for round in 1..=rounds {
            for &c in &conns {
                let file = dir.path().join(format!("{name}-r{round}-c{c}.txt"));
                let made_s = make(&base, dir.path(), &file, count, &format!("{name}-r{round}-c{c}"))?;
                say!("{name} r{round} c{c}: {count} responses signed in {made_s:.1} s; posting for {duration} s");
                let prelude = format!("{}{}", lua_headers(), wrk::lua_lines(&file, count, c.clamp(1, 2)));
                let spec = Spec::post_lua(server.url("/recipe/saml/callback"), c, duration, &prelude, "next_item()");
                let result = wrk::run(&spec)?;
                runs.push(Run { backend: name, conns: c, round, made_s, result });
                last_file = file;
            }
        }
        drop(server);
    }
    let cost = baseline(
        &base,
        &[
            "saml-verify-cost",
            "--dir",
            &dir.path().display().to_string(),
            "--file",
            &last_file.display().to_string(),
            "--issuer",
            IDP_ENTITY,
            "--audience",
            SP_ENTITY,
            "--seconds",
            "3",
        ],
    )?;
    let uptime_after = uptime();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (samael_us, core_us) = (value(&cost, "samael_us"), value(&cost, "core_us"));
    let ceiling = cores as f64 * 1e6 / core_us;

    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    if db.as_ref().is_some_and(BenchDb::throwaway) {
        println!("PostgreSQL: throw-away cluster (fsync=off, synchronous_commit=off, full_page_writes=off)");
    }
    println!(
        "callback: IdP-initiated, assertion signed (RSA-2048, RSA-SHA256, exc-c14n), {count} distinct responses made before each {duration} s run, cdi-version 5.4"
    );
    println!();
    println!("| store | clients | round | callbacks/s | p50 ms | p99 ms | load | of the pure check on {cores} cores | problems |");
    println!("|---|---:|---:|---:|---:|---:|---|---:|---|");
    for r in &runs {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {:.2} | {} |",
            r.backend,
            r.conns,
            r.round,
            r.result.rps,
            r.result.p50_ms,
            r.result.p99_ms,
            load_span(r.result.load_before, r.result.load_after),
            r.result.rps / ceiling,
            r.result.problems(),
        );
    }
    if rounds > 1 {
        println!();
        println!("| store | clients | median callbacks/s | median p99 ms |");
        println!("|---|---:|---:|---:|");
        for backend in ["memory", "postgres"] {
            for &c in &conns {
                let sel: Vec<&Run> = runs.iter().filter(|r| r.backend == backend && r.conns == c).collect();
                if sel.is_empty() {
                    continue;
                }
                println!(
                    "| {backend} | {c} | {:.0} | {:.2} |",
                    median(sel.iter().map(|r| r.result.rps).collect()),
                    median(sel.iter().map(|r| r.result.p99_ms).collect()),
                );
            }
        }
    }
    println!();
    println!(
        "verification cost, one thread: xmlsec through samael {samael_us:.0} µs, the core's whole pure check {core_us:.0} µs \
         → {ceiling:.0} checks/s on {cores} cores (the ceiling above); signing cost in set-up: {:.0} µs per response on {cores} threads",
        runs.iter().map(|r| r.made_s).sum::<f64>() * 1e6 / (runs.len().max(1) * count) as f64
    );
    Ok(())
}

/// The client: the bench IdP from its metadata, IdP-initiated login allowed.
fn serde_like_client_body(cert_b64: &str) -> String {
    let metadata = crate::util::base64(metadata(cert_b64.trim()).as_bytes());
    format!(
        "{{\"clientId\":\"bench\",\"clientSecret\":\"bench-secret\",\"redirectURIs\":[\"https://app.bench.example/cb\"],\
         \"defaultRedirectURI\":\"https://app.bench.example/cb\",\"metadataXML\":\"{metadata}\",\
         \"allowIDPInitiatedLogin\":true,\"enableRequestSigning\":false}}"
    )
}
