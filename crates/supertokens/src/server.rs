//! `supertokens start --foreground`: load and validate the configuration, pick the storage,
//! serve the CDI, run the background jobs, and shut down gracefully on SIGTERM/SIGINT.

use crate::cli::{install_dir, started_dir, StartArgs, STARTED_LINE};
use serde_json::Value;
use st_config::{ConfigMap, CoreConfig};
use st_core::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;

/// Find the config file: `--with-config`, else next to the binary, else `./config.yaml`.
fn config_path(args: &StartArgs) -> Result<PathBuf, String> {
    if let Some(p) = &args.config {
        return std::path::absolute(p).map_err(|e| format!("invalid --with-config path: {e}"));
    }
    for candidate in [install_dir().join("config.yaml"), PathBuf::from("config.yaml")] {
        if candidate.is_file() {
            return std::path::absolute(&candidate).map_err(|e| e.to_string());
        }
    }
    Err("config.yaml not found next to the supertokens binary or in the current directory; pass --with-config=<path>"
        .into())
}

/// config.yaml ⊕ environment ⊕ CLI flags, validated.
pub fn load_config(args: &StartArgs, path: &std::path::Path) -> Result<(ConfigMap, CoreConfig), String> {
    let mut map = st_config::load_file(path).map_err(|e| e.to_string())?;
    st_config::check_required(&map).map_err(|e| e.to_string())?;
    st_config::apply_env(&mut map, &|name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
    if let Some(h) = &args.host {
        map.insert("host".into(), Value::String(h.clone()));
    }
    if let Some(p) = args.port {
        map.insert("port".into(), Value::from(p));
    }
    let cfg = CoreConfig::from_map(&map, args.test_mode).map_err(|e| e.to_string())?;
    Ok((map, cfg))
}

pub fn start_foreground(args: StartArgs) -> i32 {
    let path = match config_path(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let (map, cfg) = match load_config(&args, &path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let detached = std::env::var("SUPERTOKENS_DAEMON").is_ok();
    let log_dir = if detached { Some(install_dir().join("logs")) } else { None };
    let otel = match crate::logging::init(&cfg, log_dir.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let system = actix_web::rt::System::new();
    let code = match system.block_on(serve(args, path, map, cfg)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            tracing::error!("{e}");
            1
        }
    };
    // Outside the runtime: export the spans still queued.
    if let Some(guard) = otel {
        if let Err(e) = guard.shutdown() {
            tracing::warn!("cannot flush traces: {e}");
        }
    }
    code
}

async fn open_storage(args: &StartArgs, cfg: &CoreConfig) -> Result<Arc<dyn Storage>, String> {
    if cfg.uses_postgres() {
        let pg = st_storage_postgres::PgConfig::from_core_config(cfg).map_err(|e| e.to_string())?;
        // The connection may wait for a database that is not up yet (up to an hour): SIGTERM or
        // Ctrl-C ends that wait, as nothing else handles them before the server starts.
        let storage = tokio::select! {
            r = st_storage_postgres::PgStorage::connect(&pg) => r.map_err(|e| e.to_string())?,
            signal = stop_signal() => return Err(format!("stopped ({signal}) while connecting to PostgreSQL")),
        };
        Ok(Arc::new(storage))
    } else if args.no_in_mem_db {
        Err("No database is configured (postgresql_connection_uri, postgresql_user or postgresql_password) and --no-in-mem-db forbids the in-memory store".into())
    } else {
        tracing::info!("Using in memory storage.");
        Ok(Arc::new(st_storage_memory::MemoryStorage::new()))
    }
}

/// The first SIGTERM or SIGINT.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

async fn serve(args: StartArgs, path: PathBuf, map: ConfigMap, cfg: CoreConfig) -> Result<(), String> {
    let storage = open_storage(&args, &cfg).await?;
    let app = crate::app::Application::builder(map, storage)
        .test_mode(args.test_mode)
        .config_path(path.display().to_string())
        .build()
        .await?;
    let (core, state) = (app.core().clone(), app.state().clone());

    let metrics_port = u16::try_from(cfg.int("metrics_port")).ok().filter(|p| *p > 0);
    let metrics_server = match metrics_port {
        Some(port) => {
            let state = state.clone();
            let s = actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .app_data(state.clone())
                    .route("/metrics", actix_web::web::get().to(st_http::metrics_endpoint))
            })
            .workers(1)
            // The main server's timeouts (see `Application::build`). actix-web's 5 s request
            // timeout is measured from a clock each worker refreshes every 500 ms: a worker
            // that did not run for longer (a stopped process, a starved machine) answers 408
            // to a request that arrives as it resumes.
            .client_request_timeout(std::time::Duration::from_secs(60))
            .keep_alive(std::time::Duration::from_secs(60))
            .bind((cfg.host.as_str(), port))
            .map_err(|e| format!("cannot bind the metrics port {port}: {e}"))?
            .run();
            tracing::info!("metrics on {}:{port}/metrics", cfg.host);
            Some(s)
        }
        None => None,
    };
    if let Some(m) = metrics_server {
        actix_web::rt::spawn(m);
    }
    let jobs = st_core::jobs::JobRunner::start(core.clone(), st_core::all_jobs());
    let pid = std::process::id();
    let dir = started_dir(args.temp_dir.as_deref());
    let pid_file = dir.join(format!("{}-{}", cfg.host, cfg.port));
    if let Err(e) =
        std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&pid_file, format!("{pid}\n{}", cfg.base_path)))
    {
        tracing::warn!("cannot write pid file {}: {e}", pid_file.display());
    }
    tracing::info!("{STARTED_LINE} {}:{} with PID: {pid}", cfg.host, cfg.port);
    println!("{STARTED_LINE} {}:{} with PID: {pid}", cfg.host, cfg.port);
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let result = app.run_until_stopped().await;
    tracing::info!("stopping: waiting for background jobs");
    jobs.stop().await;
    let _ = std::fs::remove_file(&pid_file);
    drop(core);
    tracing::info!("stopped");
    result.map_err(|e| e.to_string())
}
