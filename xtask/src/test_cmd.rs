//! `cargo xtask test`: its steps, each run whatever the others gave, and their summary.

use crate::cluster::{ensure_build_packages, PgCluster};
use crate::{cargo, faults, repo_root, secs, show_cmd, target_dir, Result, PG_URL_ENV};
use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// Outcome of one step of `cargo xtask test`.
pub(crate) struct StepResult {
    name: String,
    /// `None` when the step could not be run at all (spawn failure, skipped after a failed build).
    status: Option<ExitStatus>,
    elapsed: Duration,
    note: String,
}

impl StepResult {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// `cargo xtask test [ARGS…]`: cluster up, every step run (even after a failure), cluster down,
/// summary; fails if any step failed.
pub(crate) fn cmd_test(extra: &[String]) -> Result<()> {
    let started = Instant::now();
    let root = repo_root();
    ensure_build_packages()?;
    // A test run builds once: incremental caches (4 GB on a clean clone) only fill the disk. Set
    // here, before any thread, for every cargo this run starts; the caller's choice wins.
    if env::var_os("CARGO_INCREMENTAL").is_none() {
        env::set_var("CARGO_INCREMENTAL", "0");
    }

    let (cluster, url) = match env::var(PG_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => {
            say!("{PG_URL_ENV} is set by the caller; not starting a PostgreSQL cluster");
            (None, url)
        }
        _ => {
            let cluster = PgCluster::start()?;
            let url = cluster.url();
            (Some(cluster), url)
        }
    };

    // The lint wall first: formatting and clippy with warnings as errors (the workspace lints
    // deny unwrap/expect/panic outside tests, std locks held across awaits, and the clock and
    // randomness bans of clippy.toml). A failure is reported with the rest; tests still run.
    let mut steps = vec![step_fmt_check(&root), step_clippy(&root), step_cargo_test(&root, &url, extra)];
    if let Some(script) = sdk_script(&root) {
        let build = step_build_supertokens(&root);
        let built = build.ok();
        steps.push(build);
        if built {
            steps.push(step_sdk(&root, &script, &url));
            for alg in ["ES256", "EdDSA"] {
                steps.push(step_sdk_signing_alg(&root, &script, &url, alg));
            }
            // The recipes proven against outside parties: tests/sdk/<suite>/run.sh when present.
            for suite in SDK_SUITES {
                if let Some(script) = executable(&root.join("tests").join("sdk").join(suite).join("run.sh")) {
                    steps.push(step_sdk_suite(&root, &script, &url, suite));
                }
            }
        } else {
            steps.push(StepResult {
                name: "sdk tests".into(),
                status: None,
                elapsed: Duration::ZERO,
                note: "skipped: building supertokens failed".into(),
            });
        }
    } else {
        say!("no executable tests/sdk/run.sh; skipping SDK tests");
    }
    if let Some(script) = executable(&root.join("tests").join("deploy").join("run.sh")) {
        let bin = target_dir(&root).join("debug").join("supertokens");
        let mut cmd = Command::new(script);
        cmd.current_dir(&root).env("ST_BIN", &bin);
        steps.push(run_step("deploy checks", &mut cmd));
    }
    steps.push(faults::test_step(&root)); // `cargo xtask faults --quick`: its own cluster, stopped and frozen

    drop(cluster); // tear down before printing the summary

    say!("summary:");
    for s in &steps {
        let verdict = match s.status {
            Some(st) if st.success() => "ok".to_string(),
            Some(st) => format!("FAILED ({st})"),
            None => "FAILED".to_string(),
        };
        let note = if s.note.is_empty() { String::new() } else { format!(" — {}", s.note) };
        say!("  {:<22} {:<28} {}{note}", s.name, verdict, secs(s.elapsed));
    }
    let failed = steps.iter().filter(|s| !s.ok()).count();
    say!("total {}", secs(started.elapsed()));
    if failed == 0 {
        say!("all {} steps passed", steps.len());
        Ok(())
    } else {
        Err(format!("{failed} of {} steps failed", steps.len()))
    }
}

/// Step: `cargo test --workspace [--locked] ARGS…` with the PostgreSQL URL exported.
fn step_cargo_test(root: &Path, url: &str, extra: &[String]) -> StepResult {
    let mut cmd = cargo(root);
    cmd.arg("test");
    // `--workspace` together with an explicit package selection would be confusing; let -p win.
    let selects_package =
        extra.iter().take_while(|a| *a != "--").any(|a| a.starts_with("-p") || a.starts_with("--package"));
    if !selects_package {
        cmd.arg("--workspace");
    }
    if root.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    cmd.args(extra).env(PG_URL_ENV, url);
    run_step("cargo test", &mut cmd)
}

/// Step: `cargo fmt --all -- --check`.
fn step_fmt_check(root: &Path) -> StepResult {
    let mut cmd = cargo(root);
    cmd.args(["fmt", "--all", "--", "--check"]);
    run_step("cargo fmt --check", &mut cmd)
}

/// Step: `cargo clippy --workspace --all-targets -- -D warnings`.
fn step_clippy(root: &Path) -> StepResult {
    let mut cmd = cargo(root);
    cmd.args(["clippy", "--workspace", "--all-targets"]);
    if root.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    cmd.args(["--", "-D", "warnings"]);
    run_step("cargo clippy", &mut cmd)
}

/// Step: `cargo build -p supertokens` (debug), needed for `ST_BIN` of the SDK tests.
fn step_build_supertokens(root: &Path) -> StepResult {
    let mut cmd = cargo(root);
    cmd.args(["build", "-p", "supertokens"]);
    if root.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    run_step("build supertokens", &mut cmd)
}

/// Step: `tests/sdk/run.sh` with `ST_BIN` and the PostgreSQL URL.
fn step_sdk(root: &Path, script: &Path, url: &str) -> StepResult {
    let bin = target_dir(root).join("debug").join("supertokens");
    let mut cmd = Command::new(script);
    cmd.current_dir(root).env(PG_URL_ENV, url).env("ST_BIN", &bin);
    let mut res = run_step("sdk tests", &mut cmd);
    if !bin.exists() {
        res.note = format!("{} does not exist", bin.display());
    }
    res
}

/// Step: `tests/sdk/run.sh` with the core's `access_token_signing_algorithm: ALG` (issue 26):
/// sign-up, sign-in (offline verification with the JWKS), refresh and sign-out, both session
/// modes, through the newest and the oldest node and python releases, on PostgreSQL only (the
/// storage does not depend on the algorithm; about 20 s). Every access token the runners receive
/// must have that JWT header `alg`.
fn step_sdk_signing_alg(root: &Path, script: &Path, url: &str, alg: &str) -> StepResult {
    let bin = target_dir(root).join("debug").join("supertokens");
    let mut cmd = Command::new(script);
    cmd.current_dir(root)
        .env(PG_URL_ENV, url)
        .env("ST_BIN", &bin)
        .env("ST_SDK_SIGNING_ALG", alg)
        .env("ST_SDK_BACKENDS", "postgresql")
        .env("ST_SDK_RELEASES", "node,node-3.0,python,python-3.0")
        .env("ST_SDK_FLOWS", "sign-up,sign-in,refresh-and-token-theft,sign-out");
    run_step(&format!("sdk tests {alg}"), &mut cmd)
}

/// The SDK suites with their own runner, `tests/sdk/<suite>/run.sh`: the OAuth2 provider driven
/// by openid-client (issue 23), SAML with a real identity provider (issue 24).
const SDK_SUITES: &[&str] = &["oauth", "saml"];

/// Step: one of [`SDK_SUITES`], on memory and (through the URL) PostgreSQL.
fn step_sdk_suite(root: &Path, script: &Path, url: &str, suite: &str) -> StepResult {
    let bin = target_dir(root).join("debug").join("supertokens");
    let mut cmd = Command::new(script);
    cmd.current_dir(root).env(PG_URL_ENV, url).env("ST_BIN", &bin);
    run_step(&format!("sdk tests {suite}"), &mut cmd)
}

/// `tests/sdk/run.sh` if it exists and is executable.
fn sdk_script(root: &Path) -> Option<PathBuf> {
    executable(&root.join("tests").join("sdk").join("run.sh"))
}

/// `p` if it is an executable file.
fn executable(p: &Path) -> Option<PathBuf> {
    let meta = fs::metadata(p).ok()?;
    (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then(|| p.to_path_buf())
}

/// Run one step with inherited stdio, printing start/end lines and timing it.
pub(crate) fn run_step(name: &str, cmd: &mut Command) -> StepResult {
    say!("[{name}] $ {}", show_cmd(cmd));
    let t = Instant::now();
    let (status, note) = match cmd.status() {
        Ok(st) => (Some(st), String::new()),
        Err(e) => (None, format!("could not run {:?}: {e}", cmd.get_program())),
    };
    let elapsed = t.elapsed();
    match status {
        Some(st) if st.success() => say!("[{name}] ok ({})", secs(elapsed)),
        Some(st) => say!("[{name}] FAILED: {st} ({})", secs(elapsed)),
        None => say!("[{name}] FAILED: {note}"),
    }
    StepResult { name: name.to_string(), status, elapsed, note }
}
