//! Driving `wrk` (Debian package `wrk`, 4.x): a generated Lua script per run whose `done()`
//! prints one machine-readable line (requests, duration, p50/p99, errors), optionally counting
//! responses without `"status":"OK"` (the server answers most failures with HTTP 200).

use crate::util::load1;
use crate::{show_cmd, tail, Result, TempDir};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Make sure `wrk` is on the PATH, installing the Debian package when root.
pub fn ensure_wrk() -> Result<()> {
    let found = || Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if found() {
        return Ok(());
    }
    if !crate::is_root() {
        return Err("wrk is not installed; run `apt-get install -y wrk` as root".into());
    }
    say!("wrk not found; installing the Debian package");
    let install = |update: bool| {
        if update {
            crate::run_quiet(Command::new("apt-get").arg("update"))?;
        }
        crate::run_quiet(
            Command::new("apt-get").args(["install", "-y", "wrk"]).env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    install(false).or_else(|_| install(true))?;
    if found() {
        Ok(())
    } else {
        Err("installed wrk but it still does not run".into())
    }
}

/// One wrk run.
pub struct Spec {
    /// Full URL, e.g. `http://127.0.0.1:3567/hello`.
    pub url: String,
    pub conns: usize,
    pub duration_s: u64,
    /// Per-request timeout (wrk's default of 2 s is too short for password hashing queues).
    pub timeout_s: u64,
    /// Lua defining the request: sets `wrk.method` / `wrk.body` / `wrk.headers` and may
    /// define `init`, `request`, `delay`. `tid` (0-based thread index) is set before `init`.
    pub lua: String,
    /// Count responses whose body lacks `"status":"OK"` (reported as `not_ok`).
    pub check_ok: bool,
}

impl Spec {
    /// A GET with no body check.
    pub fn get(url: String, conns: usize, duration_s: u64) -> Spec {
        Spec { url, conns, duration_s, timeout_s: 10, lua: String::new(), check_ok: false }
    }

    /// A POST whose body is built per request by the Lua expression `body_expr`, after
    /// `prelude` (which may define `init` and locals used by the expression).
    pub fn post_lua(url: String, conns: usize, duration_s: u64, prelude: &str, body_expr: &str) -> Spec {
        Spec {
            url,
            conns,
            duration_s,
            timeout_s: 10,
            lua: format!(
                "{POST_HEADERS}{prelude}\nfunction request()\n  return wrk.format(nil, nil, nil, {body_expr})\nend\n"
            ),
            check_ok: true,
        }
    }

    /// wrk threads: one per connection up to 2 (the box has 2 cores; wrk needs c ≥ t).
    pub fn threads(&self) -> usize {
        self.conns.clamp(1, 2)
    }
}

/// POSTs as today's SDKs send them: JSON, `cdi-version: 5.4` (without the header the server
/// answers as the newest version, 5.6, whose refresh rotates the token each time).
pub const POST_HEADERS: &str =
    "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"cdi-version\"] = \"5.4\"\n";

/// A Lua long-bracket string literal holding `s` verbatim.
pub fn lua_string(s: &str) -> String {
    let mut level = 0;
    while s.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{s}]{eq}]")
}

/// Lua prelude that loads this thread's share of the first `limit` lines of `file` into
/// `items` (line i goes to thread i mod threads) and a `next_item()` that cycles through them.
pub fn lua_lines(file: &Path, limit: usize, threads: usize) -> String {
    format!(
        r#"local items = {{}}
local cursor = 0
function init(args)
  local n = 0
  for line in io.lines({file}) do
    if n >= {limit} then break end
    if n % {threads} == tid then items[#items + 1] = line end
    n = n + 1
  end
  if #items == 0 then error("no input lines for thread " .. tid) end
end
local function next_item()
  cursor = cursor % #items + 1
  return items[cursor]
end
"#,
        file = lua_string(&file.display().to_string()),
    )
}

/// Parsed result of one run.
#[derive(Debug, Clone)]
pub struct WrkResult {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors (connect/read/write) and timeouts.
    pub errors: u64,
    /// HTTP status ≥ 400.
    pub bad_status: u64,
    /// Bodies without `"status":"OK"` (only with `check_ok`).
    pub not_ok: u64,
    pub load_before: f64,
    pub load_after: f64,
}

impl WrkResult {
    /// Empty cell text when clean, else a warning for the table.
    pub fn problems(&self) -> String {
        let mut s = String::new();
        if self.errors > 0 {
            let _ = write!(s, "{} socket errors/timeouts ", self.errors);
        }
        if self.bad_status > 0 {
            let _ = write!(s, "{} HTTP ≥400 ", self.bad_status);
        }
        if self.not_ok > 0 {
            let _ = write!(s, "{} not OK ", self.not_ok);
        }
        s.trim_end().to_string()
    }
}

/// A wrk process running in the background.
pub struct Running {
    child: Child,
    dir: TempDir,
    load_before: f64,
    shown: String,
}

/// Run wrk to completion.
pub fn run(spec: &Spec) -> Result<WrkResult> {
    spawn(spec)?.finish()
}

/// Start wrk (its output goes to a file in a temp dir).
pub fn spawn(spec: &Spec) -> Result<Running> {
    let dir = TempDir::new("st-wrk")?;
    let script = dir.path().join("script.lua");
    fs::write(&script, full_script(spec)).map_err(|e| format!("writing {}: {e}", script.display()))?;
    let out_path = dir.path().join("wrk.out");
    let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{}", spec.threads()))
        .arg(format!("-c{}", spec.conns))
        .arg(format!("-d{}s", spec.duration_s))
        .arg(format!("--timeout={}s", spec.timeout_s))
        .arg("-s")
        .arg(&script)
        .arg(&spec.url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let shown = show_cmd(&cmd);
    say!("$ {shown}");
    let load_before = load1();
    let child = cmd.spawn().map_err(|e| format!("running wrk: {e}"))?;
    Ok(Running { child, dir, load_before, shown })
}

impl Running {
    /// Wait for wrk and parse its result line.
    pub fn finish(mut self) -> Result<WrkResult> {
        let status = self.child.wait().map_err(|e| e.to_string())?;
        let load_after = load1();
        let output = fs::read_to_string(self.dir.path().join("wrk.out")).unwrap_or_default();
        let line = output
            .lines()
            .find_map(|l| l.strip_prefix("XTASK "))
            .filter(|_| status.success())
            .ok_or_else(|| format!("`{}` failed ({status}):\n{}", self.shown, tail(&output, 20)))?;
        let field = |name: &str| -> f64 {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let requests = field("requests") as u64;
        let seconds = field("duration_us") / 1e6;
        let result = WrkResult {
            requests,
            rps: requests as f64 / seconds,
            p50_ms: field("p50_us") / 1000.0,
            p99_ms: field("p99_us") / 1000.0,
            errors: (field("connect") + field("read") + field("write") + field("timeout")) as u64,
            bad_status: field("status") as u64,
            not_ok: field("not_ok") as u64,
            load_before: self.load_before,
            load_after,
        };
        say!(
            "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} requests{}",
            result.rps,
            result.p50_ms,
            result.p99_ms,
            result.requests,
            match result.problems() {
                p if p.is_empty() => String::new(),
                p => format!(" — WARNING: {p}"),
            }
        );
        Ok(result)
    }
}

/// The caller's Lua plus thread numbering, the optional body check and the `done()` report.
fn full_script(spec: &Spec) -> String {
    let check = if spec.check_ok {
        r#"function response(status, headers, body)
  if not string.find(body, '"status":"OK"', 1, true) then not_ok = not_ok + 1 end
end
"#
    } else {
        ""
    };
    format!(
        r#"-- generated by cargo xtask bench
tid = 0
not_ok = 0
local threads = {{}}
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end
{lua}
{check}
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("not_ok") or 0) end
  local e = summary.errors
  io.write(string.format("XTASK requests=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f not_ok=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, bad))
end
"#,
        lua = spec.lua,
    )
}
