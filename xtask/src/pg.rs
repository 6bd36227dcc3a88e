//! PostgreSQL for the benchmarks: a fresh database on `$ST_BENCH_POSTGRES_URL` or on a
//! throw-away cluster (the one `cargo xtask pg` starts), plus `psql` and `pgbench` runners.

use crate::util::{load1, percentile};
use crate::wrk::WrkResult;
use crate::{ensure_postgres_installed, run_quiet, show_cmd, tail, PgCluster, Result, TempDir};
use std::env;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{self, Command, Stdio};

/// Use this PostgreSQL server (superuser URL, any database) instead of a throw-away cluster.
pub const BENCH_PG_URL_ENV: &str = "ST_BENCH_POSTGRES_URL";

/// A fresh database, dropped (with the cluster, if we started one) when this is dropped.
pub struct BenchDb {
    /// URL of the new database.
    pub url: String,
    name: String,
    admin_url: String,
    /// Directory holding `psql` and `pgbench`.
    bin: PathBuf,
    /// Declared last: torn down after `Drop::drop` dropped the database.
    cluster: Option<PgCluster>,
}

impl BenchDb {
    /// `CREATE DATABASE st_bench_<label>_<pid>` on `$ST_BENCH_POSTGRES_URL`, else on a new
    /// throw-away cluster.
    pub fn create(label: &str) -> Result<BenchDb> {
        let (bin, _) = ensure_postgres_installed()?;
        let (cluster, admin_url) = match env::var(BENCH_PG_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => {
                say!("using {BENCH_PG_URL_ENV}");
                (None, url.trim().to_string())
            }
            _ => {
                let cluster = PgCluster::start()?;
                let url = cluster.url();
                (Some(cluster), url)
            }
        };
        let name = format!("st_bench_{label}_{}", process::id());
        let url = url_with_db(&admin_url, &name)?;
        let db = BenchDb { url, name, admin_url, bin, cluster };
        db.psql_at(&db.admin_url, &format!("CREATE DATABASE {};", db.name))?;
        say!("created database {}", db.name);
        Ok(db)
    }

    /// Whether a throw-away cluster (fsync off, synchronous_commit off) backs this database.
    pub fn throwaway(&self) -> bool {
        self.cluster.is_some()
    }

    /// Run SQL (several statements allowed) with `psql -X -q -A -t -v ON_ERROR_STOP=1`;
    /// returns stdout.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_at(&self.url, sql)
    }

    fn psql_at(&self, url: &str, sql: &str) -> Result<String> {
        run_psql(&self.bin, url, sql)
    }

    /// `pgbench -n -M prepared -c C -j min(C,2) -T S -f script -l` on this database; latency
    /// percentiles come from the per-transaction log.
    pub fn pgbench(&self, script: &str, clients: usize, seconds: u64) -> Result<WrkResult> {
        let dir = TempDir::new("st-pgbench")?;
        let file = dir.path().join("script.sql");
        fs::write(&file, script).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(self.bin.join("pgbench"));
        cmd.args(["-n", "-M", "prepared"])
            .arg(format!("-c{clients}"))
            .arg(format!("-j{}", clients.clamp(1, 2)))
            .arg(format!("-T{seconds}"))
            .arg("-f")
            .arg(&file)
            .arg("-l")
            .arg(format!("--log-prefix={}", dir.path().join("pgb").display()))
            .arg(&self.url)
            .current_dir(dir.path())
            .stdin(Stdio::null());
        let shown = show_cmd(&cmd);
        say!("$ {shown}");
        let load_before = load1();
        let out = cmd.output().map_err(|e| format!("running pgbench: {e}"))?;
        let load_after = load1();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!(
                "`{shown}` failed ({}):\n{}{}",
                out.status,
                tail(&stdout, 10),
                tail(&String::from_utf8_lossy(&out.stderr), 20)
            ));
        }
        let after = |prefix: &str| -> Option<f64> {
            stdout.lines().find_map(|l| l.trim().strip_prefix(prefix)?.split_whitespace().next()?.parse().ok())
        };
        let tps = after("tps = ").ok_or_else(|| format!("no tps in pgbench output:\n{stdout}"))?;
        let failed = after("number of failed transactions:").unwrap_or(0.0);
        let mut latencies_ms = Vec::new();
        for entry in fs::read_dir(dir.path()).map_err(|e| e.to_string())?.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("pgb.") {
                continue;
            }
            let text = fs::read_to_string(entry.path()).unwrap_or_default();
            // client_id transaction_no time(µs) script_no time_epoch time_us
            latencies_ms.extend(
                text.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok().map(|us| us / 1000.0)),
            );
        }
        latencies_ms.sort_by(f64::total_cmp);
        let result = WrkResult {
            requests: latencies_ms.len() as u64,
            rps: tps,
            p50_ms: percentile(&latencies_ms, 0.50),
            p99_ms: percentile(&latencies_ms, 0.99),
            errors: failed as u64,
            bad_status: 0,
            not_ok: 0,
            load_before,
            load_after,
        };
        say!(
            "  {:.0} TPS, p50 {:.2} ms, p99 {:.2} ms, {} transactions",
            result.rps,
            result.p50_ms,
            result.p99_ms,
            result.requests
        );
        Ok(result)
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.cluster.is_none() {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", self.name);
            match self.psql_at(&self.admin_url, &sql) {
                Ok(_) => say!("dropped database {}", self.name),
                Err(e) => say!("warning: dropping database {}: {e}", self.name),
            }
        }
    }
}

/// The same server URL with another database (keeps user, host, port and query string).
fn url_with_db(url: &str, db: &str) -> Result<String> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("{BENCH_PG_URL_ENV}: not a postgresql:// URL: {url}"))?;
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let authority = main.split('/').next().unwrap_or(main);
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    })
}

// ---------------------------------------------------------------------------------------------
// Fault injection on a throw-away cluster (`cargo xtask faults`)
// ---------------------------------------------------------------------------------------------

impl PgCluster {
    /// `pg_ctl -m fast -w stop`: backends are terminated, clients see their connections closed,
    /// new connections are refused until [`PgCluster::start_again`].
    pub fn stop_fast(&self) -> Result<()> {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D").arg(self.data_dir()).args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run_quiet(&mut cmd)
    }

    /// `pg_ctl -w start` again on the same port (after [`PgCluster::stop_fast`]), with the
    /// settings of the first start.
    pub fn start_again(&self) -> Result<()> {
        run_quiet(&mut self.start_cmd()).map_err(|e| {
            let log = fs::read_to_string(self.log_file()).unwrap_or_default();
            format!("{e}\n--- {} ---\n{}", self.log_file().display(), tail(&log, 30))
        })
    }

    /// The cluster's processes: the postmaster (first line of `postmaster.pid`) and its
    /// children (backends, checkpointer, WAL writer, …), from `/proc`.
    pub fn processes(&self) -> Result<Vec<u32>> {
        let pidfile = self.data_dir().join("postmaster.pid");
        let text = fs::read_to_string(&pidfile).map_err(|e| format!("reading {}: {e}", pidfile.display()))?;
        let postmaster: u32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| format!("no pid in {}", pidfile.display()))?;
        let mut pids = vec![postmaster];
        let entries = fs::read_dir("/proc").map_err(|e| format!("reading /proc: {e}"))?;
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            // /proc/<pid>/stat: `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        Ok(pids)
    }

    /// Send `signal` (`STOP`, `CONT`, …) to every process of the cluster; the postmaster
    /// first, so that it forks no new backend meanwhile. Returns how many were signalled.
    pub fn signal_all(&self, signal: &str) -> Result<usize> {
        let pids = self.processes()?;
        let mut cmd = Command::new("kill");
        cmd.arg(format!("-{signal}")).args(pids.iter().map(u32::to_string));
        run_quiet(&mut cmd)?;
        Ok(pids.len())
    }

    /// `CREATE DATABASE <name>` on this cluster; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        psql(&self.url(), &format!("CREATE DATABASE {name};"))?;
        url_with_db(&self.url(), name)
    }
}

/// Run SQL on `url` with `psql -X -q -A -t -v ON_ERROR_STOP=1` (several statements allowed,
/// sent on stdin); returns stdout.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    let (bin, _) = ensure_postgres_installed()?;
    run_psql(&bin, url, sql)
}

/// `psql` of the binaries in `bin`, SQL on stdin; stdout, or the error with stderr's and the
/// SQL's tails.
fn run_psql(bin: &std::path::Path, url: &str, sql: &str) -> Result<String> {
    let mut cmd = Command::new(bin.join("psql"));
    cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = show_cmd(&cmd);
    let mut child = cmd.spawn().map_err(|e| format!("running `{shown}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(sql.as_bytes()).map_err(|e| format!("writing to psql: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{shown}` failed ({}):\n{}\nSQL: {}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 20),
            tail(sql, 10)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::url_with_db;

    #[test]
    fn database_is_replaced() {
        assert_eq!(
            url_with_db("postgresql://postgres@127.0.0.1:5/postgres", "x").as_deref(),
            Ok("postgresql://postgres@127.0.0.1:5/x")
        );
        assert_eq!(
            url_with_db("postgres://u:p@h/db?sslmode=disable", "x").as_deref(),
            Ok("postgres://u:p@h/x?sslmode=disable")
        );
        assert_eq!(url_with_db("postgres://h", "x").as_deref(), Ok("postgres://h/x"));
    }
}
