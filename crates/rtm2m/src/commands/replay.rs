//! `rtm2m replay`: rebuilds the state from the journal alone (accounts file, then every applied input in
//! seq order) and writes the outputs again, recorded rejections at their place: the same bytes as the run's
//! `--out`, whatever the thread count.

use anyhow::{bail, Context};
use clap::Args;
use rtm2m_journal::{Journal, SyncMode, DB_FILE};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `rtm2m replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Directory of the journal.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Output events, JSON Lines (stdout when absent).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The engine's worker threads.
    #[command(flatten)]
    pub workers: super::WorkerArgs,
}

/// Runs `rtm2m replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if !args.data_dir.join(DB_FILE).is_file() {
        bail!(
            "{}: no journal ({DB_FILE}) in this directory",
            args.data_dir.display()
        );
    }
    let journal = Journal::open(&args.data_dir, SyncMode::Normal)?;
    let sink: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(
            std::fs::File::create(p)
                .with_context(|| format!("{}: cannot be created", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let mut failed = None;
    let mut count = 0u64;
    let mut buf = Vec::with_capacity(512);
    let engine = journal.replay(args.workers.parallelism(), |o| {
        buf.clear();
        o.write_line(&mut buf);
        count += 1;
        if failed.is_none() {
            if let Err(e) = w.write_all(&buf) {
                failed = Some(e);
            }
        }
    })?;
    if let Some(e) = failed {
        bail!("writing the outputs: {e}");
    }
    w.flush()?;
    eprintln!(
        "rtm2m replay: {count} outputs; last seq {}; state {}",
        engine.last_seq(),
        engine.state_hash_hex()
    );
    Ok(())
}
