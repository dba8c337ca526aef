//! `rtm2m import`: real exchange files into events (JSON Lines, `docs/events.md`), several files merged in
//! time order.
//!
//! Every file is read and checked before anything is written, so a malformed row (`path:line: column:
//! reason`, exit status 2) leaves no partial output. Progress bars go to stderr only when stderr is a
//! terminal; the summary line (events written per type) always does.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rtm2m_market::event::{Event, EVENT_TYPES};
use rtm2m_market::import::{import_reader, merge_by_time, Format, ImportError, Imported};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// A source format, named after where the files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatName {
    /// Each file's format from its name (the patterns below).
    Auto,
    /// Deribit option-chain snapshots, `deribit_options_snapshot_<UTC>.csv` → option_quote.
    DeribitSnapshot,
    /// Deribit `public/ticker` dumps, `*_option_data*.csv` → option_quote and book.
    DeribitTicker,
    /// Deribit perpetual prices per snapshot, `perpetual_futures_prices.csv` → mark.
    DeribitPerpetual,
    /// Deribit dated-future marks per snapshot, `term_futures_marks.csv` → mark.
    DeribitFutures,
    /// Binance.US OHLCV bars, `binanceus_<PAIR>_<interval>_*.csv` → bar.
    BinanceusBars,
    /// Kraken OHLCV bars (headerless), `kraken_<PAIR>_<interval>_*.csv` → bar.
    KrakenBars,
    /// Perpetual funding histories, `<BASE>-<QUOTE>_<venue>_*_funding_history.csv` → funding.
    Funding,
}

impl FormatName {
    /// The importer's format, or `None` for `auto`.
    fn format(self) -> Option<Format> {
        match self {
            FormatName::Auto => None,
            FormatName::DeribitSnapshot => Some(Format::DeribitSnapshot),
            FormatName::DeribitTicker => Some(Format::DeribitTicker),
            FormatName::DeribitPerpetual => Some(Format::DeribitPerpetual),
            FormatName::DeribitFutures => Some(Format::DeribitFutures),
            FormatName::BinanceusBars => Some(Format::BinanceusBars),
            FormatName::KrakenBars => Some(Format::KrakenBars),
            FormatName::Funding => Some(Format::Funding),
        }
    }
}

/// Arguments of `rtm2m import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The format of the files (`auto`: from each file's name).
    #[arg(value_enum)]
    pub format: FormatName,
    /// Files to import; their events are merged in time order (ties keep the order given here).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write the events to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// A progress bar on stderr when it is a terminal, else nothing.
fn progress(length: u64, message: String, template: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(template)
        .expect("the template is a constant and valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message);
    bar
}

fn import_one(format: Format, path: &Path) -> anyhow::Result<Imported> {
    let unreadable = |e: io::Error| ImportError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = File::open(path).map_err(unreadable)?;
    let length = file.metadata().map_err(unreadable)?.len();
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let bar = progress(
        length,
        name,
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
    );
    let imported = import_reader(format, path, BufReader::new(bar.wrap_read(file)));
    bar.finish_and_clear();
    Ok(imported?)
}

/// Writes `events`; `Ok(false)` when the reader of stdout went away (a closed pipe is not an error).
fn write_all(events: &[Event], out: &mut dyn Write) -> anyhow::Result<bool> {
    let bar = progress(
        events.len() as u64,
        "writing".into(),
        "{msg} [{bar:30}] {pos}/{len} events",
    );
    for (i, event) in events.iter().enumerate() {
        let mut line = event.to_json()?;
        line.push('\n');
        match out.write_all(line.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
            Err(e) => return Err(e).context("cannot write the events"),
        }
        if i % 4096 == 0 {
            bar.set_position(i as u64);
        }
    }
    bar.finish_and_clear();
    match out.flush() {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("cannot write the events"),
    }
}

/// `N events written to WHERE (type n, ...)`, types in the order of `docs/events.md`.
fn summary(events: &[Event], destination: &str) -> String {
    let counts: Vec<String> = EVENT_TYPES
        .iter()
        .filter_map(|type_name| {
            let n = events
                .iter()
                .filter(|e| e.type_name() == *type_name)
                .count();
            (n > 0).then(|| format!("{type_name} {n}"))
        })
        .collect();
    let by_type = if counts.is_empty() {
        String::new()
    } else {
        format!(" ({})", counts.join(", "))
    };
    format!(
        "rtm2m import: {} events written to {destination}{by_type}",
        events.len()
    )
}

/// Runs `rtm2m import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let mut batches = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let format = match args.format.format().or_else(|| Format::detect(path)) {
            Some(format) => format,
            None => bail!(ImportError::Unrecognised {
                path: path.display().to_string(),
                reason:
                    "cannot tell the format from the file name; name it (see `rtm2m import --help`)"
                        .into(),
            }),
        };
        let imported = import_one(format, path)?;
        if imported.report.skipped_rows() > 0 {
            eprintln!("note: {}", imported.report);
        }
        batches.push(imported.events);
    }
    let events = merge_by_time(batches);
    let (complete, destination) = match &args.out {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("{}: cannot be created", path.display()))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let complete = write_all(&events, &mut out)
                .with_context(|| format!("{}: cannot be written", path.display()))?;
            (complete, path.display().to_string())
        }
        None => {
            let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
            (write_all(&events, &mut out)?, "stdout".to_owned())
        }
    };
    if complete {
        eprintln!("{}", summary(&events, &destination));
    }
    Ok(())
}
