//! One module per subcommand.

pub mod bench;
pub mod bench_engine;
pub mod conformance;
pub mod import;
pub mod index;
pub mod iv;
pub mod margin;
pub mod price;
pub mod proof;
pub mod replay;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod state_hash;
pub mod surface;

/// The engine's worker threads, as the commands that run an engine take them.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct WorkerArgs {
    /// Worker threads of the engine (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Leave the engine's worker threads to the operating system. By default, when the workers fill the
    /// cores the process may run on (one per core, or `taskset` to as many cores as workers), each is
    /// pinned to its own.
    #[arg(long)]
    pub no_pin: bool,
}

impl WorkerArgs {
    /// What the engine is asked for.
    pub fn parallelism(&self) -> rtm2m_engine::Parallelism {
        rtm2m_engine::Parallelism {
            threads: self.threads,
            pin: !self.no_pin,
        }
    }
}
