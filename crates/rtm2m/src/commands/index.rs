//! `rtm2m index`: index updates per underlying from a stream of events (JSON Lines, `docs/events.md`).
//!
//! Events are read one at a time and updates written as each cycle closes, so memory does not grow with
//! the input. A malformed line stops the run with `line N: field: reason` and exit status 2; the updates of
//! the cycles before it have been written. Design of the index: `docs/index.md`.

use crate::table::InputError;
use anyhow::Context;
use clap::{Args, ValueEnum};
use rtm2m_market::event::{read_events, IndexStatus};
use rtm2m_oracle::index::{IndexConfig, IndexEngine, IndexReport, Method};
use rtm2m_oracle::OracleError;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

/// Aggregation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodName {
    /// Deribit's capped median: each source clamped to ±0.5% of the median, then averaged.
    CappedMedian,
    /// The plain median of the sources.
    Median,
    /// Volume-weighted average of the trades and bars of the last 5 minutes.
    Vwap,
}

/// Arguments of `rtm2m index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Events file, JSON Lines (`rtm2m import` writes them); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub events: PathBuf,
    /// Aggregation method.
    #[arg(long, value_enum, default_value = "capped-median")]
    pub method: MethodName,
    /// One JSON object per update per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds of event time between updates.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub cycle_s: f64,
    /// A source without a live update for this many seconds is stale.
    #[arg(long, default_value_t = 180.0, value_name = "SECONDS")]
    pub staleness_s: f64,
    /// Fewer used sources than this and the index is degraded.
    #[arg(long, default_value_t = 3)]
    pub quorum: usize,
    /// A stablecoin whose USD rate is further than this fraction from 1 is de-pegged, and so is a
    /// stablecoin pair whose price is this far from the other quote currencies' in the same cycle.
    #[arg(long, default_value_t = 0.02, value_name = "FRACTION")]
    pub depeg_threshold: f64,
    /// Only this underlying (`BTC`); all of them by default.
    #[arg(long)]
    pub underlying: Option<String>,
}

/// Seconds from a flag to nanoseconds, or an error naming the flag.
fn nanos(flag: &str, seconds: f64) -> anyhow::Result<i64> {
    if seconds.is_finite() && seconds > 0.0 && seconds <= 1e9 {
        let ns = (seconds * 1e9).round() as i64;
        if ns > 0 {
            return Ok(ns);
        }
    }
    anyhow::bail!("--{flag}: must be a number of seconds in (0, 1e9], found {seconds}")
}

fn config(args: &IndexArgs) -> anyhow::Result<IndexConfig> {
    let config = IndexConfig {
        method: match args.method {
            MethodName::CappedMedian => Method::CappedMedian,
            MethodName::Median => Method::Median,
            MethodName::Vwap => Method::Vwap,
        },
        cycle_ns: nanos("cycle-s", args.cycle_s)?,
        staleness_ns: nanos("staleness-s", args.staleness_s)?,
        quorum: args.quorum,
        depeg_threshold: args.depeg_threshold,
        ..IndexConfig::default()
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
    Ok(config)
}

fn status_name(status: IndexStatus) -> &'static str {
    match status {
        IndexStatus::Ok => "ok",
        IndexStatus::Degraded => "degraded",
        IndexStatus::Halted => "halted",
    }
}

/// `TS UNDERLYING price=.. conf=.. status [flags] used=N excluded: source reason, ...`.
fn text(r: &IndexReport) -> String {
    let price = r.price.map_or("-".to_owned(), |p| format!("{p:.2}"));
    let confidence = r.confidence.map_or("-".to_owned(), |c| format!("{c:.2}"));
    let mut line = format!(
        "{} {} price={price} conf={confidence} {}",
        r.ts,
        r.underlying,
        status_name(r.status)
    );
    if !r.flags.is_empty() {
        let flags: Vec<String> = r
            .flags
            .iter()
            .map(|f| {
                serde_json::to_value(f)
                    .map_or_else(|_| "?".into(), |v| v.as_str().unwrap_or("?").to_owned())
            })
            .collect();
        line.push_str(&format!(" [{}]", flags.join(",")));
    }
    line.push_str(&format!(" used={}", r.used.len()));
    if !r.excluded.is_empty() {
        let excluded: Vec<String> = r
            .excluded
            .iter()
            .map(|e| format!("{} {}", e.source, e.reason))
            .collect();
        line.push_str(&format!(" excluded: {}", excluded.join(", ")));
    }
    line
}

/// Writes the reports of `underlying` (or all); `Ok(false)` when the reader went away (closed pipe).
fn write_reports(
    reports: &mut Vec<IndexReport>,
    args: &IndexArgs,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    for report in reports.drain(..) {
        if args
            .underlying
            .as_ref()
            .is_some_and(|u| *u != report.underlying)
        {
            continue;
        }
        let mut line = if args.json {
            serde_json::to_string(&report).context("cannot serialise an index update")?
        } else {
            text(&report)
        };
        line.push('\n');
        match out.write_all(line.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
            Err(e) => return Err(e).context("cannot write the index updates"),
        }
    }
    Ok(true)
}

/// Runs `rtm2m index`.
pub fn run(args: &IndexArgs) -> anyhow::Result<()> {
    let mut engine = IndexEngine::new(config(args)?)?;
    let input: Box<dyn BufRead> = if args.events.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(&args.events)
            .with_context(|| format!("{}: cannot read", args.events.display()))?;
        Box::new(BufReader::new(file))
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut reports = Vec::new();
    let mut events = read_events(input);
    while let Some(event) = events.next() {
        let event = event.map_err(|e| InputError {
            line: e.line.unwrap_or(events.line()) as usize,
            field: e.field.clone(),
            reason: e.reason.clone(),
        })?;
        engine.on_event(&event, &mut reports).map_err(|e| match e {
            OracleError::OutOfOrder { ts, previous } => InputError {
                line: events.line() as usize,
                field: "ts".into(),
                reason: format!("{ts} is before {previous}: events must be in time order"),
            }
            .into(),
            other => anyhow::Error::from(other),
        })?;
        if !write_reports(&mut reports, args, &mut out)? {
            return Ok(());
        }
    }
    engine.finish(&mut reports);
    if !write_reports(&mut reports, args, &mut out)? {
        return Ok(());
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the index updates")
        }
        _ => Ok(()),
    }
}
