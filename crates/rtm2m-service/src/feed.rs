//! What feeds the engine besides the API: the simulator, a replayed file or folder, or nothing. Setting up
//! builds the engine's genesis (an accounts file, or a synthetic population over the feed's first market
//! data) and the engine; running sends batches to the writer's queue from a thread of its own.

use crate::config::{FeedKind, ServiceConfig};
use crate::error::ServiceError;
use crate::metrics::Source;
use crate::sim::Simulator;
use crate::writer::{Command, FeedBatch, Shared};
use rtm2m_engine::synthetic::{population, Universe};
use rtm2m_engine::{Engine, Genesis, Input, InputKind, Output};
use rtm2m_market::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The engine with its genesis and the feeder ready to run.
pub struct Setup {
    /// The engine.
    pub engine: Engine,
    /// Its genesis.
    pub genesis: Genesis,
    /// The outputs of the starting accounts.
    pub initial: Vec<Output>,
    /// `simulator`, `replay` or `none`.
    pub kind: &'static str,
    feeder: Feeder,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("engine", &self.engine)
            .field("kind", &self.kind)
            .finish()
    }
}

enum Feeder {
    Sim {
        sim: Box<Simulator>,
        first: FeedBatch,
        tick: Duration,
    },
    Replay {
        groups: Vec<Vec<Input>>,
        interval: Duration,
        label: String,
    },
    None,
}

/// Now, from the wall clock (the service's edge: the engine never reads it).
pub fn now() -> Timestamp {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
    Timestamp::from_unix_nanos(nanos)
}

fn genesis_for(cfg: &ServiceConfig, first: &[Input]) -> Result<Genesis, ServiceError> {
    if let Some(path) = &cfg.accounts_file {
        let text = std::fs::read_to_string(path).map_err(crate::error::io_error(format!(
            "reading {}",
            path.display()
        )))?;
        return Ok(Genesis::from_json(&text)?);
    }
    let mut universe = Universe::from_events(first);
    if universe.index_usd.is_empty() {
        return Err(ServiceError::Feed(
            "the feed's first market data has no index price: cannot size a population".into(),
        ));
    }
    // Value the instruments once on a throw-away engine so that the population's cash holds the premiums.
    let bare = Genesis {
        underlyings: universe.index_usd.keys().cloned().collect(),
        assets: rtm2m_engine::config::default_assets(),
        params: Default::default(),
        accounts: Vec::new(),
    };
    let (mut probe, _) = Engine::new(&bare, 1)?;
    let mut sink = Vec::new();
    for (k, i) in first.iter().enumerate() {
        let mut i = i.clone();
        i.seq = k as u64 + 1;
        probe.apply(&i, None, &mut sink);
        sink.clear();
    }
    universe.value_with(&probe);
    Ok(population(
        cfg.sim.accounts,
        cfg.sim.positions,
        &universe,
        cfg.sim.seed,
    ))
}

fn read_replay(
    path: &std::path::Path,
    cfg: &ServiceConfig,
) -> Result<(Vec<Vec<Input>>, String), ServiceError> {
    if path.is_dir() {
        let stream = rtm2m_engine::chains::convert(path)?;
        let mut groups: Vec<Vec<Input>> = Vec::new();
        let mut last: Option<Timestamp> = None;
        for e in stream.events {
            if last != Some(e.ts) {
                groups.push(Vec::new());
                last = Some(e.ts);
            }
            groups.last_mut().expect("pushed above").push(e);
        }
        return Ok((
            groups,
            format!("{} snapshots of {}", stream.snapshots.len(), path.display()),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(crate::error::io_error(format!(
        "reading {}",
        path.display()
    )))?;
    let mut inputs = Vec::new();
    for (k, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let i = rtm2m_engine::parse_input(line).map_err(|e| {
            ServiceError::Feed(format!(
                "{}: line {}: {}: {}",
                path.display(),
                k + 1,
                e.field,
                e.reason
            ))
        })?;
        inputs.push(i);
    }
    let _ = cfg;
    let groups = inputs.chunks(500).map(<[Input]>::to_vec).collect();
    Ok((
        groups,
        format!("{} events of {}", text.lines().count(), path.display()),
    ))
}

/// Builds the engine and its feeder from the configuration.
pub fn setup(cfg: &ServiceConfig) -> Result<Setup, ServiceError> {
    match &cfg.feed {
        FeedKind::Simulator => {
            let start = now();
            let mut sim = Simulator::new(&cfg.sim, start);
            let (events, smiles) = sim.initial(start);
            let inputs: Vec<Input> = events
                .into_iter()
                .map(|e| Input {
                    seq: 0,
                    ts: start,
                    kind: InputKind::Market(e),
                })
                .collect();
            let genesis = genesis_for(cfg, &inputs)?;
            let (engine, initial) = Engine::new(&genesis, cfg.parallelism())?;
            sim.set_accounts(genesis.accounts.iter().map(|a| a.id.clone()).collect());
            let first = FeedBatch {
                source: Source::Simulator,
                inputs,
                index: Vec::new(),
                smiles,
                note: Some("simulator: first chain".into()),
                made: Instant::now(),
            };
            let tick = Duration::from_millis(cfg.sim.tick_ms);
            Ok(Setup {
                engine,
                genesis,
                initial,
                kind: "simulator",
                feeder: Feeder::Sim {
                    sim: Box::new(sim),
                    first,
                    tick,
                },
            })
        }
        FeedKind::Replay(path) => {
            let (groups, label) = read_replay(path, cfg)?;
            let first = groups.first().cloned().unwrap_or_default();
            let genesis = genesis_for(cfg, &first)?;
            let (engine, initial) = Engine::new(&genesis, cfg.parallelism())?;
            let interval = Duration::from_millis(cfg.replay_interval_ms);
            Ok(Setup {
                engine,
                genesis,
                initial,
                kind: "replay",
                feeder: Feeder::Replay {
                    groups,
                    interval,
                    label,
                },
            })
        }
        FeedKind::None => {
            let genesis = match &cfg.accounts_file {
                Some(_) => genesis_for(cfg, &[])?,
                None => Genesis::from_json("{}")?,
            };
            let (engine, initial) = Engine::new(&genesis, cfg.parallelism())?;
            Ok(Setup {
                engine,
                genesis,
                initial,
                kind: "none",
                feeder: Feeder::None,
            })
        }
    }
}

fn send(shared: &Shared, batch: FeedBatch) -> bool {
    shared.tx.blocking_send(Command::Feed(batch)).is_ok()
}

fn pause(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    !stop.load(Ordering::Relaxed)
}

impl Setup {
    /// Splits off the feeder, to run on its own thread with [`Feed::run`].
    pub fn take_feed(&mut self) -> Feed {
        Feed(std::mem::replace(&mut self.feeder, Feeder::None))
    }
}

/// A feeder ready to run.
pub struct Feed(Feeder);

impl Feed {
    /// Feeds the writer until `stop` is set or the writer is gone.
    pub fn run(self, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
        match self.0 {
            Feeder::None => {}
            Feeder::Sim {
                mut sim,
                first,
                tick,
            } => {
                let mut alerts = shared.outputs.subscribe();
                if !send(&shared, first) {
                    return;
                }
                let mut last = Instant::now();
                let mut next = last + tick;
                loop {
                    let wait = next.saturating_duration_since(Instant::now());
                    if !pause(&stop, wait) {
                        return;
                    }
                    next += tick;
                    loop {
                        match alerts.try_recv() {
                            Ok(b) => {
                                for o in &b.outputs {
                                    if let Output::LiquidationAlert(a) = o {
                                        sim.alert(&a.account, a.shortfall_usd, a.mm_usd);
                                    }
                                }
                            }
                            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => continue,
                            Err(_) => break,
                        }
                    }
                    let t = Instant::now();
                    let dt = t.duration_since(last).as_secs_f64().min(5.0);
                    last = t;
                    if !send(&shared, sim.tick(now(), dt)) {
                        return;
                    }
                }
            }
            Feeder::Replay {
                groups,
                interval,
                label,
            } => {
                let n = groups.len();
                for (k, inputs) in groups.into_iter().enumerate() {
                    let batch = FeedBatch {
                        source: Source::Replay,
                        inputs,
                        index: Vec::new(),
                        smiles: Vec::new(),
                        note: Some(format!("replay: batch {} of {n} ({label})", k + 1)),
                        made: Instant::now(),
                    };
                    if !send(&shared, batch) || (k + 1 < n && !pause(&stop, interval)) {
                        return;
                    }
                }
                let _ = send(
                    &shared,
                    FeedBatch {
                        source: Source::Replay,
                        inputs: Vec::new(),
                        index: Vec::new(),
                        smiles: Vec::new(),
                        note: Some(format!("replay finished: {n} batches ({label})")),
                        made: Instant::now(),
                    },
                );
            }
        }
    }
}
