//! The throw-away PostgreSQL cluster, and installing what it and the build need (PostgreSQL
//! itself, its OS user, the Debian packages the workspace builds with).

use crate::{free_port, run_quiet, secs, tail, Result, PG_BIN_ENV, PG_URL_ENV};
use std::env;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::time::Instant;

/// A throw-away PostgreSQL cluster in its own temp dir. Dropping it stops the server
/// (`pg_ctl -m immediate stop`) and deletes the directory.
///
/// If xtask is killed (e.g. Ctrl-C, which std cannot intercept), a detached watchdog shell
/// started alongside the cluster notices within a second and does the same teardown.
pub(crate) struct PgCluster {
    /// Temp dir: holds `data/`, `postgres.log` and the Unix socket.
    pub(crate) dir: PathBuf,
    /// Directory containing `initdb` and `pg_ctl`.
    bin: PathBuf,
    /// Major version directory name, for messages.
    version: String,
    /// Port the server listens on (0 until started).
    pub(crate) port: u16,
    /// Running as root: PostgreSQL binaries are run as the `postgres` OS user via `runuser`.
    as_postgres: bool,
}

impl PgCluster {
    /// Install PostgreSQL if needed, `initdb` a fresh cluster and start it on a free port.
    pub(crate) fn start() -> Result<Self> {
        let t = Instant::now();
        let (bin, version) = ensure_postgres_installed()?;
        let as_postgres = is_root();
        if as_postgres {
            ensure_postgres_os_user()?;
        }
        // When root, the `postgres` user must be able to reach the dir; $TMPDIR might not allow it.
        let base = if as_postgres { PathBuf::from("/tmp") } else { env::temp_dir() };
        let dir = base.join(format!("st-pg-{}", process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| format!("removing stale {}: {e}", dir.display()))?;
        }
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;

        // From here on, Drop cleans up whatever happens.
        let mut cluster = PgCluster { dir, bin, version, port: 0, as_postgres };
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres").arg(&cluster.dir);
            run_quiet(&mut chown)?;
        }
        cluster.spawn_watchdog();
        cluster.initdb()?;
        let t_init = t.elapsed();
        cluster.start_server()?;
        say!(
            "PostgreSQL {} ready at {} (dir {}, install+initdb {}, start {})",
            cluster.version,
            cluster.url(),
            cluster.dir.display(),
            secs(t_init),
            secs(t.elapsed() - t_init)
        );
        Ok(cluster)
    }

    /// Connection URL for the `postgres` superuser (trust auth) on the `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// argv to run a PostgreSQL tool (`initdb`, `pg_ctl`), through `runuser` when root.
    fn tool_argv(&self, tool: &str) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        if self.as_postgres {
            argv.extend(["runuser", "-u", "postgres", "--"].map(OsString::from));
        }
        argv.push(self.bin.join(tool).into_os_string());
        argv
    }

    /// `Command` for a PostgreSQL tool, run from inside the cluster dir (the `postgres` user
    /// may not be allowed into the caller's working directory).
    pub(crate) fn tool(&self, tool: &str) -> Command {
        let argv = self.tool_argv(tool);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(&self.dir);
        cmd
    }

    /// `initdb --auth=trust -U postgres --encoding=UTF8` (C locale so text ordering is byte
    /// order, like Rust's; no fsync since the cluster is thrown away).
    fn initdb(&self) -> Result<()> {
        let t = Instant::now();
        let mut cmd = self.tool("initdb");
        cmd.arg("-D").arg(self.data_dir()).args([
            "--auth=trust",
            "-U",
            "postgres",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        run_quiet(&mut cmd)?;
        say!("initdb done ({})", secs(t.elapsed()));
        Ok(())
    }

    /// `pg_ctl -w start` on `self.port` with the throw-away cluster's settings (also used to
    /// start it again after a stop, see `pg.rs`).
    pub(crate) fn start_cmd(&self) -> Command {
        let opts = format!(
            "-p {} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=1000 -c max_wal_size=256MB",
            self.port,
            self.dir.display().to_string().replace('\'', r"'\''"),
        );
        let mut cmd = self.tool("pg_ctl");
        cmd.args(["-w", "-t", "60", "-D"])
            .arg(self.data_dir())
            .arg("-o")
            .arg(opts)
            .arg("-l")
            .arg(self.log_file())
            .arg("start");
        cmd
    }

    /// `pg_ctl -w start` on a free port; retried on a new port if the port got taken meanwhile.
    fn start_server(&mut self) -> Result<()> {
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            self.port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
            match run_quiet(&mut self.start_cmd()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let log = fs::read_to_string(self.log_file()).unwrap_or_default();
                    if attempt < ATTEMPTS && log.contains("could not bind") {
                        say!("port {} was taken; retrying on another port", self.port);
                        continue;
                    }
                    return Err(format!("{e}\n--- {} ---\n{}", self.log_file().display(), tail(&log, 30)));
                }
            }
        }
        Err("could not start PostgreSQL".into())
    }

    /// Start a detached shell (own process group, so Ctrl-C does not reach it) that waits for
    /// this process to disappear and then stops the server and deletes the dir if still there.
    fn spawn_watchdog(&self) {
        if !Path::new("/proc/self/status").exists() {
            return; // cannot tell whether we are alive; no watchdog rather than a wrong one
        }
        const SCRIPT: &str = r#"
pid=$1; dir=$2; shift 2
alive() { [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; }
while alive; do sleep 1; done
if [ -d "$dir" ]; then "$@" >/dev/null 2>&1; rm -rf -- "$dir"; fi
"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SCRIPT)
            .arg("xtask-pg-watchdog")
            .arg(process::id().to_string())
            .arg(&self.dir)
            .args(self.tool_argv("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "stop"])
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        if let Err(e) = cmd.spawn() {
            say!("warning: could not start cleanup watchdog ({e}); Ctrl-C may leave {} behind", self.dir.display());
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let t = Instant::now();
        if self.data_dir().join("postmaster.pid").exists() {
            let mut cmd = self.tool("pg_ctl");
            cmd.arg("-D").arg(self.data_dir()).args(["-m", "immediate", "stop"]);
            if let Err(e) = run_quiet(&mut cmd) {
                say!("warning: stopping PostgreSQL: {e}");
            }
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => say!("PostgreSQL torn down, {} removed ({})", self.dir.display(), secs(t.elapsed())),
            Err(e) => say!("warning: removing {}: {e}", self.dir.display()),
        }
    }
}

/// The Debian packages the workspace needs beyond Rust: SAML's signature verification links
/// libxmlsec1 through samael, whose build script finds it with pkg-config and generates its
/// bindings with bindgen (libclang); the SAML tests check signatures with the `xmlsec1` CLI.
const BUILD_PACKAGES: &[&str] = &["pkg-config", "libxmlsec1-dev", "libclang-dev", "xmlsec1"];

/// Install the missing [`BUILD_PACKAGES`] (as root, or with `sudo -n`), before anything builds.
pub(crate) fn ensure_build_packages() -> Result<()> {
    let installed = |p: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", p])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
    };
    let missing: Vec<&str> = BUILD_PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    say!("installing the build's Debian packages: {}", missing.join(" "));
    let t = Instant::now();
    let privileged = |argv: &[&str]| -> Command {
        let mut cmd = if is_root() {
            Command::new(argv[0])
        } else {
            let mut c = Command::new("sudo");
            c.arg("-n").arg(argv[0]);
            c
        };
        cmd.args(&argv[1..]);
        cmd
    };
    run_quiet(&mut privileged(&["apt-get", "update"]))?;
    let mut argv = vec!["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y"];
    argv.extend(&missing);
    run_quiet(&mut privileged(&argv))
        .map_err(|e| format!("installing {} failed ({e}); install them by hand (README)", missing.join(" ")))?;
    say!("installed {} ({})", missing.join(" "), secs(t.elapsed()));
    Ok(())
}

/// Find the PostgreSQL server binaries, installing the Debian `postgresql` package if needed.
/// Returns (bin dir, version).
pub(crate) fn ensure_postgres_installed() -> Result<(PathBuf, String)> {
    if let Some(found) = find_postgres_bin() {
        return Ok(found);
    }
    say!("PostgreSQL server binaries not found; installing the `postgresql` package");
    let t = Instant::now();
    let root = is_root();
    let privileged = |argv: &[&str]| -> Command {
        let mut cmd = if root {
            Command::new(argv[0])
        } else {
            let mut c = Command::new("sudo");
            c.arg("-n").arg(argv[0]);
            c
        };
        cmd.args(&argv[1..]);
        cmd
    };
    let install = || -> Result<()> {
        run_quiet(&mut privileged(&["apt-get", "update"]))?;
        run_quiet(&mut privileged(&["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "postgresql"]))
    };
    install().map_err(|e| {
        let how = if root { "as root" } else { "with `sudo -n` (not root)" };
        format!(
            "PostgreSQL server binaries (initdb) not found under /usr/lib/postgresql/*/bin and \
             installing them {how} failed: {e}\n\
             Install the `postgresql` package, set {PG_BIN_ENV}, or point {PG_URL_ENV} at a server."
        )
    })?;
    say!("installed PostgreSQL ({})", secs(t.elapsed()));
    find_postgres_bin().ok_or_else(|| "installed `postgresql` but still no /usr/lib/postgresql/*/bin/initdb".into())
}

/// `$ST_PG_BIN_DIR`, else the highest-versioned `/usr/lib/postgresql/<v>/bin` containing
/// `initdb` and `pg_ctl`.
fn find_postgres_bin() -> Option<(PathBuf, String)> {
    let usable = |bin: &Path| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file();
    if let Some(dir) = env::var_os(PG_BIN_ENV) {
        let dir = PathBuf::from(dir);
        if usable(&dir) {
            return Some((dir, "(from ST_PG_BIN_DIR)".into()));
        }
        say!("warning: {PG_BIN_ENV}={} has no initdb/pg_ctl; ignoring it", dir.display());
    }
    let version_key = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().into_owned();
            let bin = e.path().join("bin");
            usable(&bin).then_some((bin, version))
        })
        .max_by_key(|(_, v)| version_key(v))
}

/// Make sure the `postgres` OS user exists (initdb/postgres refuse to run as root).
fn ensure_postgres_os_user() -> Result<()> {
    let exists = Command::new("id")
        .args(["-u", "postgres"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        say!("creating OS user `postgres`");
        run_quiet(Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/bin/sh", "postgres"]))?;
    }
    Ok(())
}

/// Whether the effective uid is 0 (from `/proc/self/status`, falling back to `id -u`).
pub(crate) fn is_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            // Uid: real effective saved fs
            return line.split_whitespace().nth(2) == Some("0");
        }
    }
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
