//! `rtm2m run`: processes an input stream durably. Each input is applied by the engine; applied inputs, the
//! outputs and the highest seq processed are committed to the journal in groups (every `--group-events`
//! lines or `--group-ms` milliseconds); after each commit the group's outputs are appended to `--out` and an
//! acknowledgement `{"type":"ack","seq":N}` is printed and flushed on stdout: every input with seq ≤ N is
//! durable. Running again on the same data directory recovers the state and skips the inputs already
//! processed (seq ≤ the last acknowledged), so an interrupted run is resumed by the same command.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rtm2m_engine::event::{parse_input, Input, Output, ParseError};
use rtm2m_engine::{AccountHint, Engine, Genesis, Verdict};
use rtm2m_journal::writer::Writer;
use rtm2m_journal::{Group, InputRecord, Journal, SyncMode};
use std::collections::VecDeque;
use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Durability of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sync {
    /// fsync at every commit (survives power loss).
    Full,
    /// fsync at checkpoints only (survives a process crash, not an OS crash).
    Normal,
}

impl From<Sync> for SyncMode {
    fn from(s: Sync) -> SyncMode {
        match s {
            Sync::Full => SyncMode::Full,
            Sync::Normal => SyncMode::Normal,
        }
    }
}

/// Arguments of `rtm2m run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input events, JSON Lines (format in docs/engine.md).
    #[arg(long)]
    pub events: PathBuf,
    /// The accounts file: underlyings, assets, engine parameters, starting accounts (docs/engine.md).
    #[arg(long)]
    pub accounts: PathBuf,
    /// Directory of the journal (created when absent; resumed when it holds one).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Output events, JSON Lines: the whole recorded history, then this run's outputs as they commit.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The engine's worker threads.
    #[command(flatten)]
    pub workers: super::WorkerArgs,
    /// Most lines per commit group.
    #[arg(long, default_value_t = 20_000)]
    pub group_events: usize,
    /// Most milliseconds a group stays open.
    #[arg(long, default_value_t = 5)]
    pub group_ms: u64,
    /// A snapshot of the state every this many applied inputs (0: none).
    #[arg(long, default_value_t = 200_000)]
    pub snapshot_every: u64,
    /// Commit durability.
    #[arg(long, value_enum, default_value = "full")]
    pub sync: Sync,
}

/// Counts of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Lines read.
    pub lines: u64,
    /// Inputs applied.
    pub applied: u64,
    /// Inputs rejected.
    pub rejected: u64,
    /// Lines skipped because a previous run processed them.
    pub skipped: u64,
    /// Outputs emitted.
    pub outputs: u64,
    /// Groups committed.
    pub groups: u64,
}

/// How a stream is ingested.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Most lines per group.
    pub group_events: usize,
    /// Most time a group stays open.
    pub group_time: Duration,
    /// Snapshot every this many applied inputs (0: never).
    pub snapshot_every: u64,
    /// Seqs up to this were processed by a previous run: skip them.
    pub processed_seq: u64,
    /// Lines up to this were processed by a previous run on the same file: unreadable ones (no seq) among
    /// them are skipped too.
    pub processed_line: u64,
    /// Show progress on stderr (when it is a terminal).
    pub progress: bool,
    /// Lines read and parsed ahead of the one applied, so that the engine fetches their accounts into the
    /// caches meanwhile (`Engine::prefetch_account`). 0 for a stream that may pause (a pipe, a terminal), where a
    /// line would otherwise wait for the next ones before it is applied.
    pub lookahead: usize,
}

/// [`IngestOptions::lookahead`] for events read from a regular file.
pub const LOOKAHEAD: usize = 4;

/// A line read: its 1-based number, its text without the line end, what it reads as, and the account
/// the engine found for it when it was read ahead.
struct Parsed {
    line_no: u64,
    line: String,
    input: Result<Input, ParseError>,
    hint: Option<AccountHint>,
}

impl Parsed {
    /// Reads line `line_no` and announces it to `engine` (`Engine::prefetch_account`).
    fn new((line_no, mut line): (u64, String), engine: &Engine) -> Parsed {
        line.truncate(line.trim_end_matches(['\r', '\n']).len());
        let input = parse_input(&line);
        let hint = input.as_ref().ok().and_then(|i| engine.prefetch_account(i));
        Parsed {
            line_no,
            line,
            input,
            hint,
        }
    }
}

/// Applies `lines` (1-based number, text) to `engine`, handing commit groups to `writer`; returns the counts.
pub fn ingest(
    engine: &mut Engine,
    writer: &Writer,
    lines: impl Iterator<Item = std::io::Result<(u64, String)>>,
    opts: &IngestOptions,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    let mut group = Group {
        processed_seq: opts.processed_seq,
        processed_line: opts.processed_line,
        ..Group::default()
    };
    let mut group_lines = 0usize;
    let mut opened = Instant::now();
    let mut since_snapshot = 0u64;
    let mut out: Vec<Output> = Vec::new();
    let started = Instant::now();
    let mut shown = Instant::now();
    // Group commit: a group closes after `group_events` lines or `group_time`; it is handed to the writer if
    // the writer has room, else it keeps growing while the previous commit is in flight, up to 8× the size,
    // when the engine waits (back-pressure).
    let send = |group: &mut Group,
                engine: &Engine,
                since_snapshot: &mut u64,
                stats: &mut Stats,
                lines: usize,
                force: bool|
     -> anyhow::Result<bool> {
        if opts.snapshot_every > 0
            && *since_snapshot >= opts.snapshot_every
            && group.snapshot.is_none()
        {
            let bytes = engine.snapshot();
            let hash = rtm2m_engine::codec::state_hash_of(&bytes);
            group.snapshot = Some((engine.last_seq(), bytes, hash));
            *since_snapshot = 0;
        }
        let next = Group {
            processed_seq: group.processed_seq,
            processed_line: group.processed_line,
            ..Group::default()
        };
        let g = std::mem::replace(group, next);
        if force || lines >= 8 * opts.group_events {
            if writer.send(g).is_err() {
                bail!("the journal writer stopped");
            }
        } else {
            match writer.try_send(g) {
                Ok(Ok(())) => {}
                Ok(Err(back)) => {
                    *group = back;
                    return Ok(false);
                }
                Err(_) => bail!("the journal writer stopped"),
            }
        }
        stats.groups += 1;
        Ok(true)
    };
    // Lines read and parsed ahead of the one applied (`opts.lookahead` of them), each announced to the
    // engine as it enters, and the next one's holdings fetched just before it is applied.
    let mut lines = lines.fuse();
    let mut ahead: VecDeque<std::io::Result<Parsed>> = VecDeque::with_capacity(opts.lookahead + 1);
    loop {
        while ahead.len() <= opts.lookahead {
            let Some(item) = lines.next() else { break };
            ahead.push_back(item.map(|l| Parsed::new(l, engine)));
        }
        let Some(item) = ahead.pop_front() else { break };
        if let Some(Ok(Parsed {
            hint: Some(next), ..
        })) = ahead.front()
        {
            engine.prefetch_holdings(*next);
        }
        let Parsed {
            line_no,
            line,
            input: parsed,
            ..
        } = item.context("reading the events")?;
        stats.lines += 1;
        let text = line.as_str();
        if text.trim().is_empty() {
            continue;
        }
        out.clear();
        let verdict = match parsed {
            Ok(input) => {
                if input.seq <= opts.processed_seq {
                    stats.skipped += 1;
                    continue;
                }
                let v = engine.apply(&input, Some(line_no), &mut out);
                if v == Verdict::Applied {
                    group.inputs.push(InputRecord {
                        seq: input.seq,
                        ts_ns: input.ts.unix_nanos(),
                        kind: input.type_name(),
                        // The line itself is kept: the parsed input owns what it needs.
                        body: line,
                    });
                }
                group.processed_seq = group.processed_seq.max(input.seq);
                v
            }
            Err(e) => {
                let done = match e.seq {
                    Some(s) => s <= opts.processed_seq,
                    None => line_no <= opts.processed_line,
                };
                if done {
                    stats.skipped += 1;
                    continue;
                }
                if let Some(s) = e.seq {
                    group.processed_seq = group.processed_seq.max(s);
                }
                // Read once: the line's own error is the rejection.
                engine.reject_unreadable(Some(line_no), e, &mut out)
            }
        };
        group.processed_line = line_no;
        match verdict {
            Verdict::Applied => {
                stats.applied += 1;
                since_snapshot += 1;
            }
            Verdict::Rejected { .. } => stats.rejected += 1,
        }
        stats.outputs += out.len() as u64;
        let after = engine.last_seq();
        group.outputs.extend(out.drain(..).map(|o| (after, o)));
        group_lines += 1;
        if (group_lines >= opts.group_events || opened.elapsed() >= opts.group_time)
            && send(
                &mut group,
                engine,
                &mut since_snapshot,
                &mut stats,
                group_lines,
                false,
            )?
        {
            group_lines = 0;
            opened = Instant::now();
        }
        if opts.progress && shown.elapsed() >= Duration::from_millis(500) {
            shown = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprint!(
                "\r{} lines, {} applied, {} rejected, {} outputs, {:.0} lines/s   ",
                stats.lines,
                stats.applied,
                stats.rejected,
                stats.outputs,
                stats.lines as f64 / secs
            );
        }
    }
    if !group.is_empty()
        || group.processed_seq > opts.processed_seq
        || group.processed_line > opts.processed_line
    {
        send(
            &mut group,
            engine,
            &mut since_snapshot,
            &mut stats,
            group_lines,
            true,
        )?;
    }
    if opts.progress {
        eprintln!();
    }
    Ok(stats)
}

/// Lines of a file, numbered from 1.
pub fn numbered_lines(
    path: &Path,
) -> anyhow::Result<impl Iterator<Item = std::io::Result<(u64, String)>>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot be opened", path.display()))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file)
        .lines()
        .enumerate()
        .map(|(k, l)| l.map(|l| (k as u64 + 1, l))))
}

/// Opens the journal of `dir` and the engine: recovered when the journal has run before (the accounts file
/// must be the same), else set up from `accounts_text` and recorded. Returns the journal, the engine and the
/// highest seq and the last line already processed.
pub fn open_engine(
    dir: &Path,
    accounts_text: &str,
    sync: SyncMode,
    workers: rtm2m_engine::Parallelism,
) -> anyhow::Result<(Journal, Engine, u64, u64)> {
    let mut journal = Journal::open(dir, sync)?;
    match journal.genesis()? {
        Some(recorded) => {
            if recorded != accounts_text {
                bail!(
                    "{}: the data directory was started with another accounts file",
                    dir.display()
                );
            }
            let r = journal.recover(workers)?;
            if let Some((seq, why)) = &r.cut {
                eprintln!("rtm2m: journal tail cut at seq {seq}: {why}");
            }
            for (seq, why) in &r.bad_snapshots {
                eprintln!("rtm2m: snapshot at seq {seq} unusable: {why}");
            }
            let line = journal.processed_line()?;
            Ok((journal, r.engine, r.processed_seq, line))
        }
        None => {
            let genesis = Genesis::from_json(accounts_text)?;
            let (engine, outputs) = Engine::new(&genesis, workers)?;
            journal.init(accounts_text, &outputs)?;
            Ok((journal, engine, 0, 0))
        }
    }
}

/// Runs `rtm2m run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let accounts_text = std::fs::read_to_string(&args.accounts)
        .with_context(|| format!("{}: cannot be read", args.accounts.display()))?;
    let (journal, mut engine, processed_seq, processed_line) = open_engine(
        &args.data_dir,
        &accounts_text,
        args.sync.into(),
        args.workers.parallelism(),
    )?;
    let mut out_file = match &args.out {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("{}: cannot be created", p.display()))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            let mut failed = None;
            journal.for_each_output(|line| {
                if failed.is_none() {
                    if let Err(e) = writeln!(w, "{line}") {
                        failed = Some(e);
                    }
                }
            })?;
            if let Some(e) = failed {
                bail!("{}: {e}", p.display());
            }
            w.flush()?;
            Some(w)
        }
        None => None,
    };
    let hook = Box::new(
        move |group: &Group, bodies: &[String]| -> Result<(), String> {
            if let Some(w) = out_file.as_mut() {
                for b in bodies {
                    w.write_all(b.as_bytes()).map_err(|e| e.to_string())?;
                    w.write_all(b"\n").map_err(|e| e.to_string())?;
                }
                w.flush().map_err(|e| e.to_string())?;
            }
            let mut stdout = std::io::stdout().lock();
            writeln!(
                stdout,
                "{{\"type\":\"ack\",\"seq\":{}}}",
                group.processed_seq
            )
            .map_err(|e| e.to_string())?;
            stdout.flush().map_err(|e| e.to_string())
        },
    );
    let writer = Writer::spawn(journal, 1, hook);
    let opts = IngestOptions {
        group_events: args.group_events.max(1),
        group_time: Duration::from_millis(args.group_ms),
        snapshot_every: args.snapshot_every,
        processed_seq,
        processed_line,
        progress: std::io::stderr().is_terminal(),
        lookahead: if std::fs::metadata(&args.events).is_ok_and(|m| m.is_file()) {
            LOOKAHEAD
        } else {
            0
        },
    };
    let started = Instant::now();
    let stats = ingest(&mut engine, &writer, numbered_lines(&args.events)?, &opts);
    let finished = writer.finish();
    let stats = stats?;
    finished?;
    eprintln!(
        "rtm2m run: {} lines ({} applied, {} rejected, {} already processed), {} outputs, {} commits in {:.3} s; last seq {}; state {}",
        stats.lines,
        stats.applied,
        stats.rejected,
        stats.skipped,
        stats.outputs,
        stats.groups,
        started.elapsed().as_secs_f64(),
        engine.last_seq(),
        engine.state_hash_hex()
    );
    Ok(())
}
