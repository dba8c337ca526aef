//! `rtm2m serve`: the engine as a service (HTTP + WebSocket API, dashboard, metrics), fed by the embedded
//! market simulator unless told otherwise. Everything is in `rtm2m-service`; this module reads the command
//! line and the optional `rtm2m.toml`.

use anyhow::Context;
use clap::Args;
use rtm2m_service::config::FeedKind;
use rtm2m_service::ServiceConfig;
use std::path::PathBuf;

/// Arguments of `rtm2m serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML, docs/service.md); without it the embedded default runs.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides the file; default 127.0.0.1:8080, port 0 picks one).
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory (journal of applied inputs; default rtm2m-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Feed real data instead of the simulator: a folder of Deribit chain snapshots (e.g.
    /// ../shared/data/deribit_svcj_snapshots) or a file of engine input events (JSON Lines).
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// No feed: only POST /v1/events changes the engine.
    #[arg(long, conflicts_with = "replay")]
    pub no_feed: bool,
    /// Accounts file (engine genesis) instead of the synthetic population.
    #[arg(long)]
    pub accounts_file: Option<PathBuf>,
    /// Simulator seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Accounts of the synthetic population.
    #[arg(long)]
    pub accounts: Option<usize>,
}

/// The configuration the arguments describe.
pub fn config_of(args: &ServeArgs) -> anyhow::Result<ServiceConfig> {
    let mut cfg = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            ServiceConfig::from_toml(&text).with_context(|| p.display().to_string())?
        }
        None => ServiceConfig::default(),
    };
    if let Some(l) = &args.listen {
        cfg.listen = l.clone();
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(r) = &args.replay {
        cfg.feed = FeedKind::Replay(r.clone());
    }
    if args.no_feed {
        cfg.feed = FeedKind::None;
    }
    if let Some(a) = &args.accounts_file {
        cfg.accounts_file = Some(a.clone());
    }
    if let Some(s) = args.seed {
        cfg.sim.seed = s;
    }
    if let Some(n) = args.accounts {
        cfg.sim.accounts = n;
        cfg.sim.positions = cfg.sim.positions.max(n);
    }
    cfg.check()?;
    Ok(cfg)
}

/// Runs the service until Ctrl-C.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = config_of(args)?;
    rtm2m_service::run_blocking(cfg)?;
    Ok(())
}

/// `rtm2m bench serve`: the load benchmark of the service (`rtm2m_service::bench`).
pub fn bench(rate: u64, seconds: u64, json: bool) -> anyhow::Result<()> {
    let data = std::env::temp_dir().join(format!("rtm2m-bench-serve-{}", std::process::id()));
    let service = ServiceConfig {
        data_dir: data.clone(),
        ..ServiceConfig::default()
    };
    let opts = rtm2m_service::bench::BenchOptions {
        rate,
        seconds,
        batch: 100,
        senders: 4,
        service,
    };
    eprintln!("rtm2m bench serve: {rate} events/s for {seconds} s over HTTP on loopback (simulator running)");
    let report = rtm2m_service::bench::run(opts);
    let _ = std::fs::remove_dir_all(&data);
    let r = report?;
    println!(
        "serve: {} events sent, {} applied, {} rejected, {} HTTP errors in {:.1} s = {:.0} events/s; ingest p50 {:.2} ms p99 {:.2} ms ({} requests); reads p50 {:.2} ms p99 {:.2} ms ({} requests); API p99 {:.2} ms, max {:.2} ms",
        r.events_sent, r.events_applied, r.events_rejected, r.http_errors, r.seconds, r.events_per_second,
        r.ingest_p50_ms, r.ingest_p99_ms, r.ingest_requests, r.read_p50_ms, r.read_p99_ms, r.read_requests, r.api_p99_ms, r.api_max_ms
    );
    if json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
