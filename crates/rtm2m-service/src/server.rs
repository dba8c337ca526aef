//! Starting and stopping the service: tokens, data directory, journal, engine and writer thread, feeder
//! thread, and the HTTP server on a Tokio runtime.

use crate::auth::{Scope, TokenStore};
use crate::config::ServiceConfig;
use crate::error::{config_error, io_error, ServiceError};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::writer::{Shared, Writer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A token made at start (no token was configured): shown once to the operator, never logged afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedToken {
    /// Name (`admin`, `read`, `ingest`).
    pub name: String,
    /// Scope.
    pub scope: String,
    /// The token.
    pub token: String,
}

/// The environment variables read for tokens, with their scopes.
pub const TOKEN_ENV: [(&str, &str); 3] = [
    ("RTM2M_ADMIN_TOKEN", "admin"),
    ("RTM2M_READ_TOKEN", "read"),
    ("RTM2M_INGEST_TOKEN", "ingest"),
];

/// The token store of a configuration: the file's hashes, then `RTM2M_*_TOKEN` from the environment; when
/// neither gives any, an `admin`, a `read` and an `ingest` token are generated and returned.
pub fn tokens_for(cfg: &ServiceConfig) -> Result<(TokenStore, Vec<GeneratedToken>), ServiceError> {
    let store = TokenStore::new();
    for (k, t) in cfg.tokens.iter().enumerate() {
        let scope =
            Scope::parse(&t.scope).map_err(|r| config_error(format!("tokens[{k}].scope"), r))?;
        store
            .add_hash(&t.name, scope, &t.sha256)
            .map_err(|e| config_error(format!("tokens[{k}].{}", e.field), e.reason))?;
    }
    if cfg.tokens_from_env {
        for (var, scope) in TOKEN_ENV {
            if let Ok(token) = std::env::var(var) {
                let scope = Scope::parse(scope).expect("a fixed scope");
                store
                    .add_token(&scope.name(), scope, &token)
                    .map_err(|e| config_error(var, e.reason))?;
            }
        }
    }
    let mut generated = Vec::new();
    if store.is_empty() {
        for scope in [Scope::Admin, Scope::Read, Scope::Ingest] {
            let name = scope.name();
            let token = store
                .generate(&name, scope)
                .map_err(|e| config_error("tokens", e.reason))?;
            generated.push(GeneratedToken {
                scope: name.clone(),
                name,
                token,
            });
        }
    }
    Ok((store, generated))
}

/// A running service.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Tokens generated at start (empty when tokens were configured).
    pub generated: Vec<GeneratedToken>,
    /// Shared state (view, metrics, tokens).
    pub shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops the server and the feeder, and waits for the server thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Waits until the server stops (Ctrl-C when started by [`run_blocking`]).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Starts the service on background threads; returns once it listens (the engine may still be warming up:
/// `/readyz` says when it is ready). `ctrl_c` makes Ctrl-C stop it.
pub fn start(cfg: ServiceConfig, ctrl_c: bool) -> Result<Running, ServiceError> {
    cfg.check()?;
    let (tokens, generated) = tokens_for(&cfg)?;
    std::fs::create_dir_all(&cfg.data_dir).map_err(io_error(format!(
        "creating the data directory {}",
        cfg.data_dir.display()
    )))?;
    let metrics = Arc::new(Metrics::default());
    let journal = Journal::start(&cfg.data_dir, metrics.clone())?;
    let mut setup = crate::feed::setup(&cfg)?;
    let genesis_path = cfg.data_dir.join("genesis.json");
    std::fs::write(&genesis_path, setup.genesis.to_json())
        .map_err(io_error(format!("writing {}", genesis_path.display())))?;
    let (shared, rx) = Shared::new(metrics, tokens, cfg.max_batch_events, setup.kind);
    let feed = setup.take_feed();
    let kind = setup.kind;
    let writer = Writer::new(
        setup.engine,
        &setup.genesis,
        setup.initial,
        shared.clone(),
        rx,
        Some(journal),
        kind,
    );
    std::thread::Builder::new()
        .name("rtm2m-writer".into())
        .spawn(move || writer.run())
        .map_err(io_error("starting the writer thread"))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rtm2m-feed".into())
            .spawn(move || feed.run(shared, stop))
            .map_err(io_error("starting the feed thread"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("rtm2m-http")
        .build()
        .map_err(io_error("starting the Tokio runtime"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&cfg.listen))
        .map_err(io_error(format!("binding {}", cfg.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io_error("reading the bound address"))?;
    let (shutdown, on_shutdown) = tokio::sync::oneshot::channel::<()>();
    let app = crate::api::router(shared.clone());
    let thread = std::thread::Builder::new()
        .name("rtm2m-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let signal = async move {
                    if ctrl_c {
                        tokio::select! {
                            _ = on_shutdown => {}
                            _ = tokio::signal::ctrl_c() => {}
                        }
                    } else {
                        let _ = on_shutdown.await;
                    }
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(signal)
                    .await
                {
                    eprintln!("rtm2m: server: {e}");
                }
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        })
        .map_err(io_error("starting the server thread"))?;
    Ok(Running {
        addr,
        generated,
        shared,
        stop,
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}

/// Runs the service until Ctrl-C, telling the operator on standard error where it listens and, once, the
/// tokens it generated.
pub fn run_blocking(cfg: ServiceConfig) -> Result<(), ServiceError> {
    let running = start(cfg, true)?;
    let url = format!("http://{}", running.addr);
    eprintln!("rtm2m: listening on {url} (dashboard {url}/, API {url}/openapi.json, metrics {url}/metrics)");
    if !running.generated.is_empty() {
        eprintln!("rtm2m: no token configured: generated for this run (shown once, never logged):");
        for t in &running.generated {
            eprintln!("rtm2m:   {:<7} {}", t.scope, t.token);
        }
        if let Some(read) = running.generated.iter().find(|t| t.scope == "read") {
            eprintln!(
                "rtm2m: dashboard with the read token: {url}/#token={}",
                read.token
            );
        }
    }
    running.wait();
    Ok(())
}
