//! Logging: `log_level` (DEBUG|INFO|WARN|ERROR|NONE), `info_log_path` / `error_log_path`
//! (`null` = standard output / standard error), `log_format` TEXT or JSON (one object per line).
//! WARN and ERROR go to the error log, the rest to the info log.
//!
//! Tracing: with `otel_collector_connection_uri` set, an OpenTelemetry layer (st-telemetry)
//! exports the request and storage spans over OTLP/HTTP; without it no such layer exists and
//! those spans are disabled.

use st_config::CoreConfig;
use st_telemetry::OtelGuard;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;
use tracing::level_filters::LevelFilter;
use tracing::Level;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// `service.name` of the exported spans unless `OTEL_SERVICE_NAME` says otherwise.
const SERVICE_NAME: &str = "supertokens";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

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

/// The OTLP collector to export spans to, if tracing is on.
pub fn otel_uri(cfg: &CoreConfig) -> Option<String> {
    st_telemetry::configured(cfg.string("otel_collector_connection_uri").as_deref()).map(str::to_string)
}

/// The log layer, unless `log_level` is NONE.
fn fmt_layer(cfg: &CoreConfig, default_dir: Option<&Path>) -> Result<Option<BoxedLayer>, String> {
    let level = match cfg.log_level.as_str() {
        "DEBUG" => Level::DEBUG,
        "WARN" => Level::WARN,
        "ERROR" => Level::ERROR,
        "NONE" => return Ok(None),
        _ => Level::INFO,
    };
    let default = |name: &str| default_dir.map(|d| d.join(name).to_string_lossy().to_string());
    // An explicit "null" (any case, as the reference's `equalsIgnoreCase`) is the terminal.
    let path = |set: &Option<String>, name: &str| match set {
        Some(p) if p.trim().eq_ignore_ascii_case("null") => None,
        Some(p) => Some(p.clone()),
        None => default(name),
    };
    let info_path = path(&cfg.info_log_path, "info.log");
    let error_path = path(&cfg.error_log_path, "error.log");
    let info = writer(info_path.as_deref(), false)?;
    let error = writer(error_path.as_deref(), true)?;
    let make = error.with_max_level(Level::WARN).or_else(info);
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(Level::WARN)
        .with_target("st_core", level)
        .with_target("st_http", level)
        .with_target("st_storage_postgres", level)
        .with_target("st_storage_memory", level)
        .with_target("supertokens", level)
        // The per-request tracing span is for the OpenTelemetry layer only: log lines keep
        // their format, and without a collector the span stays disabled.
        .with_target(st_telemetry::HTTP_TARGET, LevelFilter::OFF);
    let layer = tracing_subscriber::fmt::layer().with_writer(make).with_ansi(false);
    Ok(Some(if cfg.log_format_json {
        layer.json().with_filter(filter).boxed()
    } else {
        layer.with_filter(filter).boxed()
    }))
}

/// Every layer the configuration asks for, and the exporter's guard when tracing is on.
fn layers(cfg: &CoreConfig, default_dir: Option<&Path>) -> Result<(Vec<BoxedLayer>, Option<OtelGuard>), String> {
    let mut layers: Vec<BoxedLayer> = fmt_layer(cfg, default_dir)?.into_iter().collect();
    let guard = match otel_uri(cfg) {
        Some(uri) => {
            let service = std::env::var("OTEL_SERVICE_NAME").ok().filter(|s| !s.trim().is_empty());
            let (layer, guard) =
                st_telemetry::otel_layer::<Registry>(&uri, service.as_deref().unwrap_or(SERVICE_NAME))?;
            layers.push(layer.boxed());
            Some(guard)
        }
        None => None,
    };
    Ok((layers, guard))
}

/// Install the global subscriber. `default_dir`: where log files go when the paths are unset
/// and the process runs detached (no terminal to write to). Returns the span exporter's guard
/// when tracing is on: call [`OtelGuard::shutdown`] at exit to flush it.
pub fn init(cfg: &CoreConfig, default_dir: Option<&Path>) -> Result<Option<OtelGuard>, String> {
    let (layers, guard) = layers(cfg, default_dir)?;
    if layers.is_empty() {
        return Ok(None);
    }
    tracing_subscriber::registry().with(layers).try_init().map_err(|e| e.to_string())?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> CoreConfig {
        let map = st_config::parse_yaml(&format!("core_config_version: 0\n{extra}")).unwrap();
        CoreConfig::from_map(&map, true).unwrap()
    }

    #[test]
    fn no_collector_no_otel_layer() {
        let cfg = config("");
        assert_eq!(otel_uri(&cfg), None);
        let (installed, guard) = layers(&cfg, None).unwrap();
        assert!(guard.is_none());
        assert_eq!(installed.len(), 1, "only the log layer");
        let (installed, guard) = layers(&config("log_level: NONE\n"), None).unwrap();
        assert!(guard.is_none() && installed.is_empty());
    }

    #[test]
    fn collector_adds_the_otel_layer_even_without_logs() {
        let cfg = config("log_level: NONE\notel_collector_connection_uri: \"http://127.0.0.1:9/\"\n");
        assert_eq!(otel_uri(&cfg).as_deref(), Some("http://127.0.0.1:9/"));
        let (installed, guard) = layers(&cfg, None).unwrap();
        assert_eq!(installed.len(), 1);
        guard.unwrap().shutdown().ok();
    }

    #[test]
    fn unsupported_collector_uri_is_an_error() {
        let cfg = config("otel_collector_connection_uri: \"https://collector:4318\"\n");
        let err = layers(&cfg, None).err().expect("rejected");
        assert!(err.contains("otel_collector_connection_uri"), "{err}");
    }
}
