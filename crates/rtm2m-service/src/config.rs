//! The service's configuration: `rtm2m.toml`, every field optional. Without a file the embedded default runs:
//! listen on 127.0.0.1:8080, data directory `rtm2m-data`, the engine fed by the seeded simulator with a
//! synthetic population. Format in `docs/service.md` §2.

use crate::error::{config_error, ServiceError};
use serde::Deserialize;
use std::path::PathBuf;

/// What feeds the engine besides `POST /v1/events`.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedKind {
    /// The embedded market simulator.
    Simulator,
    /// A replayed file (engine input JSON Lines) or folder (Deribit chain snapshots of `../shared/data`).
    Replay(PathBuf),
    /// Nothing: only the API feeds the engine.
    None,
}

/// Simulator settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every random draw (price paths, venues, smiles, population, account activity).
    pub seed: u64,
    /// Accounts in the synthetic population.
    pub accounts: usize,
    /// Positions over all accounts.
    pub positions: usize,
    /// Time between index cycles, milliseconds of wall time.
    pub tick_ms: u64,
    /// The option chain is re-quoted every this many ticks.
    pub quote_every_ticks: u64,
    /// Account events (fills, deposits, withdrawals) per second.
    pub account_events_per_s: f64,
    /// Market time per second of wall time, seconds: scales the diffusion so that a demo moves.
    pub speed: f64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 7,
            accounts: 600,
            positions: 2400,
            tick_ms: 500,
            quote_every_ticks: 4,
            account_events_per_s: 10.0,
            speed: 1800.0,
        }
    }
}

/// A token in the configuration file: its name, scope and the SHA-256 of its text (never the text).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name, shown in listings.
    pub name: String,
    /// `read`, `ingest`, `admin` or `account:ID`.
    pub scope: String,
    /// Hex SHA-256 of the token (`printf %s TOKEN | sha256sum`).
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedFile {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    replay: Option<PathBuf>,
    #[serde(default)]
    replay_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    threads: Option<usize>,
    #[serde(default)]
    pin_threads: Option<bool>,
    #[serde(default)]
    accounts_file: Option<PathBuf>,
    #[serde(default)]
    feed: Option<FeedFile>,
    #[serde(default)]
    simulator: Option<SimConfig>,
    #[serde(default)]
    tokens: Vec<TokenConfig>,
    #[serde(default)]
    max_batch_events: Option<usize>,
}

/// The service's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: String,
    /// Data directory (journal of applied inputs, the accounts file used at start).
    pub data_dir: PathBuf,
    /// Engine worker threads (0: one per core).
    pub threads: usize,
    /// Pin each engine worker to a core of its own when the workers fill the process's cores
    /// (`docs/engine.md` §1).
    pub pin_threads: bool,
    /// Accounts file (engine genesis, `docs/engine.md` §2) instead of the synthetic population.
    pub accounts_file: Option<PathBuf>,
    /// What feeds the engine.
    pub feed: FeedKind,
    /// Time between replayed snapshots (folder replay) or batches of 500 lines (file replay), milliseconds.
    pub replay_interval_ms: u64,
    /// Simulator settings (also the population of a replay).
    pub sim: SimConfig,
    /// Tokens from the file.
    pub tokens: Vec<TokenConfig>,
    /// Most events in one `POST /v1/events`.
    pub max_batch_events: usize,
    /// Read `RTM2M_ADMIN_TOKEN`, `RTM2M_READ_TOKEN`, `RTM2M_INGEST_TOKEN` from the environment.
    pub tokens_from_env: bool,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("rtm2m-data"),
            threads: 0,
            pin_threads: true,
            accounts_file: None,
            feed: FeedKind::Simulator,
            replay_interval_ms: 2000,
            sim: SimConfig::default(),
            tokens: Vec::new(),
            max_batch_events: 10_000,
            tokens_from_env: true,
        }
    }
}

impl ServiceConfig {
    /// The engine's worker threads as configured.
    pub fn parallelism(&self) -> rtm2m_engine::Parallelism {
        rtm2m_engine::Parallelism {
            threads: self.threads,
            pin: self.pin_threads,
        }
    }

    /// Reads a configuration file's text; the error names the field and the reason.
    pub fn from_toml(text: &str) -> Result<ServiceConfig, ServiceError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let span = e
                .span()
                .map(|s| format!(" (bytes {}..{})", s.start, s.end))
                .unwrap_or_default();
            config_error("toml", format!("{}{span}", e.message()))
        })?;
        let mut c = ServiceConfig::default();
        if let Some(l) = file.listen {
            c.listen = l;
        }
        if let Some(d) = file.data_dir {
            c.data_dir = d;
        }
        if let Some(t) = file.threads {
            c.threads = t;
        }
        if let Some(p) = file.pin_threads {
            c.pin_threads = p;
        }
        c.accounts_file = file.accounts_file;
        if let Some(s) = file.simulator {
            c.sim = s;
        }
        c.tokens = file.tokens;
        if let Some(m) = file.max_batch_events {
            c.max_batch_events = m;
        }
        if let Some(f) = file.feed {
            if let Some(ms) = f.replay_interval_ms {
                c.replay_interval_ms = ms;
            }
            c.feed = match (f.kind.as_deref(), f.replay) {
                (None | Some("simulator"), None) => FeedKind::Simulator,
                (None | Some("replay"), Some(p)) => FeedKind::Replay(p),
                (Some("replay"), None) => {
                    return Err(config_error(
                        "feed.replay",
                        "required when feed.kind = \"replay\"",
                    ))
                }
                (Some("none"), None) => FeedKind::None,
                (Some(k @ ("simulator" | "none")), Some(_)) => {
                    return Err(config_error(
                        "feed.replay",
                        format!("not used when feed.kind = \"{k}\""),
                    ))
                }
                (Some(other), _) => {
                    return Err(config_error(
                        "feed.kind",
                        format!("`{other}` is not simulator, replay or none"),
                    ))
                }
            };
        }
        c.check()?;
        Ok(c)
    }

    /// Checks the ranges of every field.
    pub fn check(&self) -> Result<(), ServiceError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(config_error(
                "listen",
                format!("`{}` is not an IP address and port", self.listen),
            ));
        }
        let s = &self.sim;
        if s.accounts == 0 || s.accounts > 1_000_000 {
            return Err(config_error("simulator.accounts", "must be 1 to 1,000,000"));
        }
        if s.positions < s.accounts || s.positions > 10_000_000 {
            return Err(config_error(
                "simulator.positions",
                "must be at least simulator.accounts and at most 10,000,000",
            ));
        }
        if !(10..=60_000).contains(&s.tick_ms) {
            return Err(config_error("simulator.tick_ms", "must be 10 to 60,000"));
        }
        if s.quote_every_ticks == 0 {
            return Err(config_error(
                "simulator.quote_every_ticks",
                "must be at least 1",
            ));
        }
        if !(s.account_events_per_s.is_finite()
            && (0.0..=100_000.0).contains(&s.account_events_per_s))
        {
            return Err(config_error(
                "simulator.account_events_per_s",
                "must be 0 to 100,000",
            ));
        }
        if !(s.speed.is_finite() && s.speed > 0.0 && s.speed <= 1e6) {
            return Err(config_error("simulator.speed", "must be in (0, 1e6]"));
        }
        if !(1..=1_000_000).contains(&self.max_batch_events) {
            return Err(config_error("max_batch_events", "must be 1 to 1,000,000"));
        }
        if !(1..=3_600_000).contains(&self.replay_interval_ms) {
            return Err(config_error(
                "feed.replay_interval_ms",
                "must be 1 to 3,600,000",
            ));
        }
        for (k, t) in self.tokens.iter().enumerate() {
            crate::auth::Scope::parse(&t.scope)
                .map_err(|r| config_error(format!("tokens[{k}].scope"), r))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_embedded_default() {
        assert_eq!(
            ServiceConfig::from_toml("").unwrap(),
            ServiceConfig::default()
        );
    }

    #[test]
    fn file_sets_feed_tokens_and_simulator() {
        let c = ServiceConfig::from_toml(
            "listen = \"127.0.0.1:0\"\nthreads = 2\npin_threads = false\n[feed]\nreplay = \"x.jsonl\"\n[simulator]\naccounts = 10\npositions = 20\n[[tokens]]\nname = \"ops\"\nscope = \"admin\"\nsha256 = \"00\"\n",
        )
        .unwrap();
        assert_eq!(c.feed, FeedKind::Replay("x.jsonl".into()));
        assert_eq!(
            c.parallelism(),
            rtm2m_engine::Parallelism {
                threads: 2,
                pin: false
            }
        );
        assert!(ServiceConfig::default().pin_threads);
        assert_eq!(c.sim.accounts, 10);
        assert_eq!(c.tokens[0].scope, "admin");
    }

    #[test]
    fn errors_name_the_field() {
        let e = ServiceConfig::from_toml("listen = \"nowhere\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
        let e = ServiceConfig::from_toml("[feed]\nkind = \"kafka\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("feed.kind"), "{e}");
        let e = ServiceConfig::from_toml("[[tokens]]\nname=\"a\"\nscope=\"root\"\nsha256=\"\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokens[0].scope"), "{e}");
        let e = ServiceConfig::from_toml("colour = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
    }
}
