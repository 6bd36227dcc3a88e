//! What `supertokens start` serves, built by the one function the tests call too (zero2prod's
//! `Application::build`): the core on a given storage, with its apps and tenants loaded and the
//! base app initialised, and the CDI HTTP server. The builder's defaults are the binary's
//! (system clock and random source, `max_server_pool_size` workers, the configured host and
//! port, actix's SIGTERM/SIGINT handling); tests pass a manual clock, a listener on port 0 and
//! fewer workers, and handle no signals.

use actix_web::dev::{Server, ServerHandle};
use actix_web::web::Data;
use st_config::ConfigMap;
use st_core::clock::{Clock, SystemClock};
use st_core::random::{Random, SystemRandom};
use st_core::storage::Storage;
use st_core::Core;
use st_http::ServerState;
use std::net::TcpListener;
use std::sync::Arc;

/// The core and its CDI HTTP server, built and bound; it serves once
/// [`Application::run_until_stopped`] is awaited (inside an actix system).
pub struct Application {
    core: Arc<Core>,
    state: Data<ServerState>,
    port: u16,
    server: Server,
}

impl Application {
    /// Start building on `storage` with the configuration `map` (config.yaml ⊕ environment ⊕
    /// CLI flags, as `start` loads it).
    pub fn builder(map: ConfigMap, storage: Arc<dyn Storage>) -> ApplicationBuilder {
        ApplicationBuilder {
            map,
            storage,
            test_mode: false,
            clock: Arc::new(SystemClock),
            random: Arc::new(SystemRandom::new()),
            config_path: String::new(),
            workers: None,
            listener: None,
            signals: true,
        }
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The HTTP handlers' state (the metrics endpoint shares it).
    pub fn state(&self) -> &Data<ServerState> {
        &self.state
    }

    /// The port the CDI server is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (gracefully or not).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serve until stopped (a signal, or [`Application::handle`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// How to build an [`Application`]: [`Application::builder`], then the settings that differ
/// from the binary's, then [`ApplicationBuilder::build`].
#[must_use]
pub struct ApplicationBuilder {
    map: ConfigMap,
    storage: Arc<dyn Storage>,
    test_mode: bool,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    config_path: String,
    workers: Option<usize>,
    listener: Option<TcpListener>,
    signals: bool,
}

impl ApplicationBuilder {
    /// `--test-mode`: the reference's relaxed validation (default: off).
    pub fn test_mode(mut self, on: bool) -> Self {
        self.test_mode = on;
        self
    }

    /// The core's clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The core's random source (default: the system's).
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// The loaded config file's path, as `/config?pid=` reports it.
    pub fn config_path(mut self, path: String) -> Self {
        self.config_path = path;
        self
    }

    /// HTTP worker threads (default: `max_server_pool_size`).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Serve on `listener` instead of binding the configured host and port.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Leave SIGTERM/SIGINT to the caller instead of stopping the server on them.
    pub fn without_signal_handling(mut self) -> Self {
        self.signals = false;
        self
    }

    /// The core on the storage, its apps and tenants loaded and the base app initialised, and
    /// the CDI server bound; errors are the messages `start` prints.
    pub async fn build(self) -> Result<Application, String> {
        let core =
            Core::new(self.storage, self.clock, self.random, self.map, self.test_mode).map_err(|e| e.to_string())?;
        let core = Arc::new(core);
        core.sync_tenants().await.map_err(|e| format!("cannot load apps and tenants: {e}"))?;
        core.init_base_app().await.map_err(|e| format!("cannot initialise the base app: {e}"))?;

        let state = Data::new(ServerState::new(core.clone(), self.config_path));
        let cfg = core.base.clone();
        // `max_server_pool_size` is the number of HTTP worker threads, as in the reference (10
        // by default), even on fewer cores. Each actix worker runs its requests cooperatively,
        // and an RS256 signature holds a worker for about 0.7 ms: with one worker per core, a
        // request whose database answer has arrived waits behind the signatures queued on its
        // worker while it still holds its pool connection, and at 64 concurrent session
        // creations the pool of 10 connections became the limit (1,909/s with 2 workers, 2,272/s
        // with 10, on 2 cores; see docs/BENCHMARKS.md). More workers than cores let the kernel
        // interleave them instead.
        let workers = self.workers.unwrap_or(cfg.max_server_pool_size).max(1);
        let mut server = actix_web::HttpServer::new({
            let state = state.clone();
            move || actix_web::App::new().configure(st_http::configure(state.clone()))
        })
        .workers(workers)
        // As the reference's embedded Tomcat (connectionTimeout and keepAliveTimeout of 60 s):
        // actix-web's 5 s defaults answered 408 to SDK backends slow to send a request under
        // load, and closed pooled connections the SDKs were about to reuse.
        .client_request_timeout(std::time::Duration::from_secs(60))
        .keep_alive(std::time::Duration::from_secs(60))
        .shutdown_timeout(5);
        if !self.signals {
            server = server.disable_signals();
        }
        let server = match self.listener {
            Some(listener) => server.listen(listener).map_err(|e| format!("cannot serve on the listener: {e}"))?,
            None => server.bind((cfg.host.as_str(), cfg.port)).map_err(|e| {
                format!(
                    "Error while starting webserver. Possible reasons:\n - Another instance of SuperTokens is already running on the same port. If you want to run another instance, please pass a new config file to it with a different port or specify the port via CLI options.\n - If you are running this on port 80 or 443, make sure to give the right permission to SuperTokens.\n - The provided host is not available on this server or is unknown.\n({e})"
                )
            })?,
        };
        let port = server.addrs().first().map_or(cfg.port, |a| a.port());
        Ok(Application { core, state, port, server: server.run() })
    }
}
