//! `rtm2m state-hash`: recovers the state of a data directory (latest valid snapshot + journal tail) and
//! prints its hash: SHA-256 of the canonical state bytes (docs/engine.md §6).

use anyhow::bail;
use clap::Args;
use rtm2m_journal::{Journal, SyncMode, DB_FILE};
use std::path::PathBuf;

/// Arguments of `rtm2m state-hash`.
#[derive(Debug, Args)]
pub struct StateHashArgs {
    /// Directory of the journal.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The engine's worker threads.
    #[command(flatten)]
    pub workers: super::WorkerArgs,
    /// Print a JSON object (hash, last applied seq, last processed seq, accounts, snapshot used) instead
    /// of the hash alone.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rtm2m state-hash`.
pub fn run(args: &StateHashArgs) -> anyhow::Result<()> {
    if !args.data_dir.join(DB_FILE).is_file() {
        bail!(
            "{}: no journal ({DB_FILE}) in this directory",
            args.data_dir.display()
        );
    }
    let mut journal = Journal::open(&args.data_dir, SyncMode::Full)?;
    let r = journal.recover(args.workers.parallelism())?;
    if let Some((seq, why)) = &r.cut {
        eprintln!("rtm2m: journal tail cut at seq {seq}: {why}");
    }
    let hash = r.engine.state_hash_hex();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "state_hash": hash,
                "last_seq": r.engine.last_seq(),
                "processed_seq": r.processed_seq,
                "accounts": r.engine.account_count(),
                "snapshot_seq": r.snapshot_seq,
                "replayed": r.replayed,
            })
        );
    } else {
        println!("{hash}");
    }
    Ok(())
}
