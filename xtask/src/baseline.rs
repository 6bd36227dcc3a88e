//! The `st-bench-baseline` binary (crates/bench-baseline): its HTTP server and bcrypt loops.

use crate::{free_port, rss_kib, tail, wait_for_http_200, Result, TempDir};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `cargo build --release -p st-bench-baseline`; returns the binary.
pub fn build(root: &Path) -> Result<PathBuf> {
    crate::build_release(root, "st-bench-baseline", "st-bench-baseline")
}

/// `st-bench-baseline serve` on a free port; killed on drop.
pub struct BaselineServer {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl BaselineServer {
    /// Start it (with `env` added to its environment) and wait for `GET /hello`.
    pub fn start(bin: &Path, env: &[(&str, &str)]) -> Result<BaselineServer> {
        let dir = TempDir::new("st-baseline")?;
        let log_path = dir.path().join("baseline.log");
        let log = fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let mut cmd = Command::new(bin);
        // As many workers as the server runs by default (`max_server_pool_size`, 10), so that
        // both sides of each ratio schedule their requests the same way.
        cmd.args(["serve", "--port", &port.to_string(), "--workers", "10"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd.spawn().map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        let mut server = BaselineServer { child, port, dir };
        let ready = wait_for_http_200(
            port,
            "/hello",
            Duration::from_millis(10),
            Duration::from_secs(60),
            Some(&mut server.child),
        );
        if let Err(e) = ready {
            let log = fs::read_to_string(server.dir.path().join("baseline.log")).unwrap_or_default();
            return Err(format!("{e}\n--- baseline log ---\n{}", tail(&log, 20)));
        }
        say!("baseline server ready on port {port}");
        Ok(server)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.child.id())
    }

    /// Its process id (for its CPU time in `/proc/<pid>/stat`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `st-bench-baseline <args>` to completion; returns stdout.
fn run(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "st-bench-baseline {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Throughput (operations per second) of `threads` threads doing bcrypt verifications
/// (`verify`) or hashes of cost `cost` for `seconds`.
pub fn bcrypt_rate(bin: &Path, verify: bool, threads: usize, seconds: u64, cost: u32) -> Result<f64> {
    let mode = if verify { "bcrypt-verify" } else { "bcrypt-hash" };
    let (t, s, c) = (threads.to_string(), seconds.to_string(), cost.to_string());
    say!("$ st-bench-baseline {mode} --threads {t} --seconds {s} --cost {c}");
    let out = run(bin, &[mode, "--threads", &t, "--seconds", &s, "--cost", &c])?;
    let rate = out
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("per_second="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("unexpected output of {mode}: {out}"))?;
    say!("  {rate:.2}/s");
    Ok(rate)
}

/// One `$2a$` bcrypt hash of `password` at `cost`.
pub fn bcrypt_make(bin: &Path, password: &str, cost: u32) -> Result<String> {
    let out = run(bin, &["bcrypt-make", "--password", password, "--cost", &cost.to_string()])?;
    Ok(out.trim().to_string())
}
