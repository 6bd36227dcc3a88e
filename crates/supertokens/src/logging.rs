//! Logging: `log_level` (DEBUG|INFO|WARN|ERROR|NONE), `info_log_path` / `error_log_path`
//! (`null` = standard output / standard error), `log_format` TEXT or JSON (one object per line).
//! WARN and ERROR go to the error log, the rest to the info log.

use st_config::CoreConfig;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;
use tracing::Level;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

fn writer(path: Option<&str>, fallback_stderr: bool) -> Result<BoxMakeWriter, String> {
    match path {
        None => {
            Ok(if fallback_stderr { BoxMakeWriter::new(std::io::stderr) } else { BoxMakeWriter::new(std::io::stdout) })
        }
        Some(p) => {
            if let Some(dir) = Path::new(p).parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("cannot create log directory for {p}: {e}"))?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("cannot open log file {p}: {e}"))?;
            Ok(BoxMakeWriter::new(Mutex::new(f)))
        }
    }
}

/// Install the global subscriber. `default_dir`: where log files go when the paths are unset
/// and the process runs detached (no terminal to write to).
pub fn init(cfg: &CoreConfig, default_dir: Option<&Path>) -> Result<(), String> {
    let level = match cfg.log_level.as_str() {
        "DEBUG" => Level::DEBUG,
        "WARN" => Level::WARN,
        "ERROR" => Level::ERROR,
        "NONE" => return Ok(()),
        _ => Level::INFO,
    };
    let default = |name: &str| default_dir.map(|d| d.join(name).to_string_lossy().to_string());
    let info_path = cfg.info_log_path.clone().or_else(|| default("info.log"));
    let error_path = cfg.error_log_path.clone().or_else(|| default("error.log"));
    let info = writer(info_path.as_deref(), false)?;
    let error = writer(error_path.as_deref(), true)?;
    let make = error.with_max_level(Level::WARN).or_else(info);
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(Level::WARN)
        .with_target("st_core", level)
        .with_target("st_http", level)
        .with_target("st_storage_postgres", level)
        .with_target("st_storage_memory", level)
        .with_target("supertokens", level);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let layer = tracing_subscriber::fmt::layer().with_writer(make).with_ansi(false);
    let result = if cfg.log_format_json {
        tracing_subscriber::registry().with(layer.json().with_filter(filter)).try_init()
    } else {
        tracing_subscriber::registry().with(layer.with_filter(filter)).try_init()
    };
    result.map_err(|e| e.to_string())
}

use tracing_subscriber::Layer;
