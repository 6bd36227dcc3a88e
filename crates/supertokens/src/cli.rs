//! Command-line interface (§e.5). `start` without `--foreground` re-runs itself in the
//! background and returns once the server printed its "Started SuperTokens on" line (that is,
//! once `/hello` answers), or fails with the reason. Running instances are tracked through pid
//! files `<dir>/.started/<host>-<port>` holding "<pid>\n<base_path>".

use clap::{Args, Parser, Subcommand};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const STARTED_LINE: &str = "Started SuperTokens on";

#[derive(Parser, Debug)]
#[command(name = "supertokens", version, about = "SuperTokens core (Rust): CDI 5.4 authentication server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start a SuperTokens instance (in the background unless --foreground)
    // A repeated option does not fail: `docker run IMAGE --with-config=…` appends to the
    // image's own options, and the later one (the user's) wins.
    #[command(args_override_self = true)]
    Start(StartArgs),
    /// Stop the instances this installation started (or the one with --id)
    Stop {
        /// PID of the instance to stop
        #[arg(long)]
        id: Option<u32>,
        /// Directory holding the `.started` pid files (as given to start)
        #[arg(long = "with-temp-dir")]
        temp_dir: Option<PathBuf>,
    },
    /// List the running instances started by this installation
    List {
        #[arg(long = "with-temp-dir")]
        temp_dir: Option<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    /// Host to bind (overrides config.yaml and SUPERTOKENS_HOST)
    #[arg(long)]
    pub host: Option<String>,
    /// Port to bind (overrides config.yaml and SUPERTOKENS_PORT)
    #[arg(long)]
    pub port: Option<u16>,
    /// Stay attached to the terminal
    #[arg(long)]
    pub foreground: bool,
    /// Path of config.yaml (default: config.yaml next to the binary, else ./config.yaml)
    #[arg(long = "with-config")]
    pub config: Option<PathBuf>,
    /// Directory for the `.started` pid files (default: the binary's directory)
    #[arg(long = "with-temp-dir")]
    pub temp_dir: Option<PathBuf>,
    /// Refuse to fall back to the in-memory store when no database is configured
    #[arg(long = "no-in-mem-db")]
    pub no_in_mem_db: bool,
    /// Test mode: relaxes validation as the reference's test mode does (short key rotation, ...)
    #[arg(long = "test-mode")]
    pub test_mode: bool,
    /// Accepted for compatibility with the reference CLI; has no effect.
    #[arg(long = "with-space", hide = true)]
    pub with_space: Option<String>,
    /// The reference CLI's Java agent and JMX options: accepted, with a warning, no effect.
    #[arg(long = "javaagent", hide = true)]
    pub javaagent: bool,
    #[arg(long = "jmx", hide = true)]
    pub jmx: bool,
    #[arg(long = "jmx-port", hide = true)]
    pub jmx_port: Option<String>,
    #[arg(long = "jmx-authenticate", hide = true)]
    pub jmx_authenticate: Option<String>,
    #[arg(long = "jmx-ssl", hide = true)]
    pub jmx_ssl: Option<String>,
}

impl StartArgs {
    /// The Java-only options given (to warn that they do nothing here).
    fn java_only_options(&self) -> Vec<&'static str> {
        let given = [
            (self.javaagent, "--javaagent"),
            (self.jmx, "--jmx"),
            (self.jmx_port.is_some(), "--jmx-port"),
            (self.jmx_authenticate.is_some(), "--jmx-authenticate"),
            (self.jmx_ssl.is_some(), "--jmx-ssl"),
        ];
        given.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect()
    }
}

pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match cli.command {
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            0
        }
        Some(Cmd::Start(args)) => {
            let ignored = args.java_only_options();
            if !ignored.is_empty() {
                eprintln!("Ignoring {}: this server has no Java agent or JMX", ignored.join(", "));
            }
            if args.foreground {
                crate::server::start_foreground(args)
            } else {
                start_background(args)
            }
        }
        Some(Cmd::Stop { id, temp_dir }) => stop(id, temp_dir),
        Some(Cmd::List { temp_dir }) => list(temp_dir),
    }
}

/// Directory of the running executable (the "installation directory").
pub fn install_dir() -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from("."))
}

pub fn started_dir(temp_dir: Option<&Path>) -> PathBuf {
    temp_dir.map(Path::to_path_buf).unwrap_or_else(install_dir).join(".started")
}

fn start_background(args: StartArgs) -> i32 {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("Unable to start SuperTokens: cannot find the supertokens executable");
        return 1;
    };
    let mut cmd = Command::new(exe);
    cmd.arg("start").arg("--foreground");
    if let Some(h) = &args.host {
        cmd.arg(format!("--host={h}"));
    }
    if let Some(p) = args.port {
        cmd.arg(format!("--port={p}"));
    }
    if let Some(c) = &args.config {
        let abs = std::path::absolute(c).unwrap_or_else(|_| c.clone());
        cmd.arg(format!("--with-config={}", abs.display()));
    }
    if let Some(t) = &args.temp_dir {
        let abs = std::path::absolute(t).unwrap_or_else(|_| t.clone());
        cmd.arg(format!("--with-temp-dir={}", abs.display()));
    }
    if args.no_in_mem_db {
        cmd.arg("--no-in-mem-db");
    }
    if args.test_mode {
        cmd.arg("--test-mode");
    }
    cmd.env("SUPERTOKENS_DAEMON", "1");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Unable to start SuperTokens: {e}");
            return 1;
        }
    };
    let Some(stdout) = child.stdout.take() else { return 1 };
    let mut stderr = child.stderr.take();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if line.starts_with(STARTED_LINE) {
            println!("{line}");
            return 0;
        }
        println!("{line}");
    }
    let mut err = String::new();
    if let Some(s) = stderr.as_mut() {
        let _ = s.read_to_string(&mut err);
    }
    if !err.trim().is_empty() {
        eprintln!("{}", err.trim_end());
    }
    eprintln!("Unable to start SuperTokens. Please try again");
    let _ = child.wait();
    1
}

/// `(pid, host, port, base_path, file)` of each pid file.
fn instances(dir: &Path) -> Vec<(u32, String, u16, String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some((host, port)) = name.rsplit_once('-') else { continue };
        let Ok(port) = port.parse::<u16>() else { continue };
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        let mut lines = text.lines();
        let Some(Ok(pid)) = lines.next().map(|l| l.trim().parse::<u32>()) else { continue };
        let base = lines.next().unwrap_or("").trim().to_string();
        out.push((pid, host.to_string(), port, base, e.path()));
    }
    out.sort();
    out
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn stop(id: Option<u32>, temp_dir: Option<PathBuf>) -> i32 {
    // Messages and exit codes as the reference CLI's `stop`.
    let dir = started_dir(temp_dir.as_deref());
    let all = instances(&dir);
    if all.is_empty() {
        println!("No SuperTokens instances are running.");
        return 0;
    }
    let targets: Vec<_> = match id {
        Some(pid) => {
            let t: Vec<_> = all.into_iter().filter(|i| i.0 == pid).collect();
            if t.is_empty() {
                println!(
                    "Unknown PID: {pid}. Please use \"supertokens list\" to list all currently running instances along with their PIDs"
                );
                return 1;
            }
            t
        }
        None => all,
    };
    for (pid, host, port, _, file) in targets {
        if !process_alive(pid) {
            let _ = std::fs::remove_file(&file);
            continue;
        }
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        for _ in 0..200 {
            if !process_alive(pid) || !file.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&file);
        println!("Successfully stopped SuperTokens with PID {pid}, running on {host}:{port}");
    }
    0
}

fn http_get(host: &str, port: u16, path: &str) -> Option<String> {
    let addr = format!("{}:{port}", if host == "0.0.0.0" { "127.0.0.1" } else { host });
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut resp = String::new();
    stream.read_to_string(&mut resp).ok()?;
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn list(temp_dir: Option<PathBuf>) -> i32 {
    let dir = started_dir(temp_dir.as_deref());
    let all: Vec<_> = instances(&dir).into_iter().filter(|i| process_alive(i.0)).collect();
    if all.is_empty() {
        println!("No SuperTokens instances running.");
        return 0;
    }
    for (pid, host, port, base, _) in all {
        let body = http_get(&host, port, &format!("{base}/config?pid={pid}")).unwrap_or_default();
        let path = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("path").and_then(|p| p.as_str()).map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        println!("-> Instance PID: {pid}, address: {host}:{port}, config file loaded: {path}");
    }
    0
}
