//! `cargo xtask bench apiversion`: HTTP plumbing cost. `GET /apiversion` of the server
//! (in-memory) against a bare actix-web handler returning the same body, alternating
//! baseline / ours for several rounds in one run; medians and their ratio (target ≥ 0.8).

use crate::baseline::{self, BaselineServer};
use crate::util::{load_span, ratio, uptime, verdict, Flags, Table};
use crate::wrk::{self, Spec, WrkResult};
use crate::{build_release_supertokens, http_get, repo_root, Result, Server, Stats};
use std::time::Duration;

const TARGET: f64 = 0.8;

pub fn run(args: &[String]) -> Result<()> {
    let flags = Flags::parse("apiversion", args, &["--duration", "--rounds", "--conns"])?;
    let duration = flags.seconds("--duration", 10)?;
    let rounds: usize = flags.num("--rounds", 3)?;
    let conns: usize = flags.num("--conns", 64)?;

    wrk::ensure_wrk()?;
    let root = repo_root();
    let server_bin = build_release_supertokens(&root)?;
    let baseline_bin = baseline::build(&root)?;
    let uptime_before = uptime();

    let mut server = Server::spawn(&server_bin, &[])?;
    server.wait_ready(Duration::from_secs(60))?;
    let baseline = BaselineServer::start(&baseline_bin, &[])?;
    for (name, port) in [("server", server.port), ("baseline", baseline.port)] {
        let r = http_get(port, "/apiversion", Duration::from_secs(5))
            .map_err(|e| format!("GET /apiversion on the {name}: {e}"))?;
        let body = String::from_utf8_lossy(&r.body);
        say!("{name} /apiversion: {} {body}", r.status);
        if r.status != 200 {
            return Err(format!("{name} answered {} to GET /apiversion", r.status));
        }
    }

    let (mut ours, mut base): (Vec<WrkResult>, Vec<WrkResult>) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        say!("round {round}/{rounds}: baseline");
        base.push(wrk::run(&Spec::get(baseline.url("/apiversion"), conns, duration))?);
        say!("round {round}/{rounds}: server");
        ours.push(wrk::run(&Spec::get(server.url("/apiversion"), conns, duration))?);
    }
    let rss_server = server.rss_kib().map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN);
    let rss_base = baseline.rss_kib().map(|k| k as f64 / 1024.0).unwrap_or(f64::NAN);
    let uptime_after = uptime();

    let median = |rs: &[WrkResult], f: fn(&WrkResult) -> f64| Stats::of(&rs.iter().map(f).collect::<Vec<_>>()).median;
    println!("uptime before: {uptime_before}");
    println!("uptime after:  {uptime_after}");
    println!();
    let mut runs = Table::new(&["round", "target", "req/s", "p50 ms", "p99 ms", "load 1m before→after", "problems"]);
    for (i, (b, o)) in base.iter().zip(&ours).enumerate() {
        for (name, r) in [("baseline (bare actix)", b), ("server", o)] {
            runs.row(vec![
                (i + 1).to_string(),
                name.into(),
                format!("{:.0}", r.rps),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p99_ms),
                load_span(r.load_before, r.load_after),
                r.problems(),
            ]);
        }
    }
    runs.print();

    let (o_rps, b_rps) = (median(&ours, |r| r.rps), median(&base, |r| r.rps));
    let mut summary = Table::new(&[
        "benchmark",
        "server req/s",
        "baseline req/s",
        "ratio",
        "target",
        "verdict",
        "server p50/p99 ms",
        "baseline p50/p99 ms",
        "RSS after (server / baseline)",
    ]);
    summary.row(vec![
        format!("GET /apiversion, wrk -t2 -c{conns} -d{duration}s, median of {rounds}"),
        format!("{o_rps:.0}"),
        format!("{b_rps:.0}"),
        ratio(o_rps, b_rps),
        format!("≥ {TARGET}"),
        verdict(o_rps / b_rps, TARGET, true).into(),
        format!("{:.2} / {:.2}", median(&ours, |r| r.p50_ms), median(&ours, |r| r.p99_ms)),
        format!("{:.2} / {:.2}", median(&base, |r| r.p50_ms), median(&base, |r| r.p99_ms)),
        format!("{rss_server:.1} / {rss_base:.1} MiB"),
    ]);
    summary.print();
    Ok(())
}
