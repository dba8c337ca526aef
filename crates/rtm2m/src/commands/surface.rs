//! `rtm2m surface`: fits the implied-volatility surface of option chains and writes, per underlying and
//! expiry, the forward, the SVI parameters, the at-the-money figures, the fit quality and the no-arbitrage
//! checks; with `--marks`, a mark per instrument. `rtm2m bench surface` times the refits.

use super::bench::BenchArgs;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rtm2m_market::event::{read_events, Event};
use rtm2m_market::import::{import_file, merge_by_time, Format};
use rtm2m_market::Timestamp;
use rtm2m_surface::quotes::middle_expiry_quote;
use rtm2m_surface::report::SliceReport;
use rtm2m_surface::{SurfaceConfig, SurfaceEngine, SurfaceHealth};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The format of the chain files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChainFormat {
    /// Deribit option-chain snapshots (`deribit_options_snapshot_*.csv`).
    DeribitSnapshot,
    /// Deribit `public/ticker` dumps (`*_option_data*.csv`).
    DeribitTicker,
    /// Deribit dated-future marks (`term_futures_marks.csv`): forwards.
    DeribitFutures,
    /// rtm2m events, JSON Lines (`docs/events.md`).
    Events,
}

/// Arguments of `rtm2m surface`.
#[derive(Debug, Args)]
pub struct SurfaceArgs {
    /// Chain files; their events are applied in time order.
    #[arg(long, num_args = 1.., required = true)]
    pub chain: Vec<PathBuf>,
    /// The files' format (by default told by each file's name; `.jsonl` files are events).
    #[arg(long, value_enum)]
    pub format: Option<ChainFormat>,
    /// Valuation time, RFC 3339 (default: the time of the latest event).
    #[arg(long)]
    pub now: Option<String>,
    /// Also write a mark per instrument.
    #[arg(long)]
    pub marks: bool,
    /// JSON Lines instead of tables: one object per expiry (`"record":"slice"`), per underlying
    /// (`"record":"health"`) and, with `--marks`, per instrument (`"record":"mark"` or `"unmarked"`).
    #[arg(long)]
    pub json: bool,
}

fn format_of(path: &Path, given: Option<ChainFormat>) -> anyhow::Result<Option<Format>> {
    Ok(match given {
        Some(ChainFormat::DeribitSnapshot) => Some(Format::DeribitSnapshot),
        Some(ChainFormat::DeribitTicker) => Some(Format::DeribitTicker),
        Some(ChainFormat::DeribitFutures) => Some(Format::DeribitFutures),
        Some(ChainFormat::Events) => None,
        None if path.extension().is_some_and(|e| e == "jsonl") => None,
        None => Some(Format::detect(path).with_context(|| {
            format!(
                "{}: the format is not told by the name: give --format",
                path.display()
            )
        })?),
    })
}

/// The events of every chain file, merged in time order.
pub fn load_chain(paths: &[PathBuf], format: Option<ChainFormat>) -> anyhow::Result<Vec<Event>> {
    let mut batches = Vec::with_capacity(paths.len());
    for path in paths {
        match format_of(path, format)? {
            Some(f) => {
                let imported = import_file(f, path)?;
                if imported.report.skipped_rows() > 0 {
                    eprintln!("{}", imported.report);
                }
                batches.push(imported.events);
            }
            None => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("{}: cannot be read", path.display()))?;
                let events = read_events(BufReader::new(file))
                    .collect::<Result<Vec<Event>, _>>()
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                batches.push(events);
            }
        }
    }
    Ok(merge_by_time(batches))
}

/// Applies `events` to a new engine; quotes the surface cannot use are counted by reason on stderr.
pub fn engine_of(events: &[Event]) -> anyhow::Result<SurfaceEngine> {
    let mut engine = SurfaceEngine::new(SurfaceConfig::default())?;
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    for event in events {
        if let Err(e) = engine.apply(event) {
            *rejected.entry(e.to_string()).or_default() += 1;
        }
    }
    for (reason, n) in rejected {
        eprintln!("rtm2m surface: {n} quote(s) left out: {reason}");
    }
    Ok(engine)
}

/// `value` (a JSON object) tagged with `"record": kind`.
fn record(kind: &str, mut value: Value) -> anyhow::Result<Value> {
    if let Value::Object(map) = &mut value {
        map.insert("record".into(), Value::String(kind.into()));
    }
    Ok(value)
}

fn points(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |v| format!("{v:.2}"))
}

fn slice_line(r: &SliceReport) -> String {
    format!(
        "{}  T={:.5}  F={:.2} ({})  {}  a={:.6} b={:.6} rho={:+.4} m={:+.4} sigma={:.4}  atm_vol={:.4} \
         atm_skew={:+.4}  rmse={} vol pts  within={}  fit={}/{}  g_min={:.3e}  calendar_violations={}  \
         inherited_quotes={}",
        r.expiry,
        r.expiry_years,
        r.forward,
        json!(r.forward_source).as_str().unwrap_or("?"),
        json!(r.kind).as_str().unwrap_or("?"),
        r.svi.a,
        r.svi.b,
        r.svi.rho,
        r.svi.m,
        r.svi.sigma,
        r.atm_vol,
        r.atm_skew,
        points(r.rmse_vol_points),
        r.within_bid_ask_share
            .map_or("-".to_owned(), |s| format!("{:.0}%", 100.0 * s)),
        r.fit_quotes,
        r.quotes,
        r.g_min,
        r.calendar_violations,
        r.inherited_quotes,
    )
}

fn health_line(h: &SurfaceHealth) -> String {
    format!(
        "{}: age_s={:.0} coverage={:.0}% expiries={} (svi {}) index_move={} stale={}{}",
        h.underlying,
        h.age_s,
        100.0 * h.coverage,
        h.expiries,
        h.expiries_svi,
        h.index_move_since_fit
            .map_or("-".to_owned(), |m| format!("{:+.4}", m)),
        h.stale,
        if h.stale {
            format!(" add_on={:.4}", h.vol_add_on)
        } else {
            String::new()
        }
    )
}

/// Runs `rtm2m surface`.
pub fn run(args: &SurfaceArgs) -> anyhow::Result<()> {
    let events = load_chain(&args.chain, args.format)?;
    let mut engine = engine_of(&events)?;
    let now = match &args.now {
        Some(text) => Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("--now: {e}"))?,
        None => match engine.last_event() {
            Some(ts) => ts,
            None => bail!("--chain: the files hold no events"),
        },
    };
    engine.refit(now);
    let underlyings: Vec<String> = engine.surfaces().map(|s| s.underlying.clone()).collect();
    if underlyings.is_empty() {
        bail!("--chain: no option quotes in the files");
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for underlying in &underlyings {
        let surface = engine.surface(underlying).expect("listed above");
        let (health, marks, unmarked) = engine.marks(underlying, now).expect("listed above");
        let reports = SliceReport::all(surface);
        if args.json {
            writeln!(out, "{}", record("health", serde_json::to_value(&health)?)?)?;
            for r in &reports {
                writeln!(out, "{}", record("slice", serde_json::to_value(r)?)?)?;
            }
            if args.marks {
                for m in &marks {
                    writeln!(out, "{}", record("mark", serde_json::to_value(m)?)?)?;
                }
                for u in &unmarked {
                    writeln!(out, "{}", record("unmarked", serde_json::to_value(u)?)?)?;
                }
            }
        } else {
            writeln!(out, "{}", health_line(&health))?;
            for r in &reports {
                writeln!(out, "  {}", slice_line(r))?;
            }
            if args.marks {
                writeln!(
                    out,
                    "  instrument,expiry,strike,type,forward,mark_iv,mark_price_coin,mark_price_usd,delta,gamma,vega,theta,confidence"
                )?;
                for m in &marks {
                    writeln!(
                        out,
                        "  {},{},{},{},{:.2},{:.6},{:.8},{:.4},{:.6},{:.3e},{:.4},{:.4},{:.3}",
                        m.instrument,
                        m.expiry,
                        m.strike,
                        m.option_type,
                        m.forward,
                        m.mark_iv,
                        m.mark_price_coin,
                        m.mark_price_usd,
                        m.delta,
                        m.gamma,
                        m.vega,
                        m.theta,
                        m.confidence
                    )?;
                }
                for u in &unmarked {
                    writeln!(out, "  {}: no mark ({})", u.instrument, u.reason)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The chain `rtm2m bench surface` times by default: the BTC options of a Deribit snapshot of
/// 2026-02-06 (930 instruments, 12 expiries) in the shared data.
const DEFAULT_BENCH_CHAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/deribit_svcj_snapshots/deribit_options_snapshot_20260206T043012Z.csv"
);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `rtm2m bench surface`: medians of a cold refit of a whole chain (from quotes, no previous fit), a
/// warm one (every expiry refitted from its previous parameters), and the refit after one quote of the
/// middle expiry changes.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    if args.repeat == 0 {
        bail!("--repeat: must be at least 1");
    }
    let path = args
        .chain
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BENCH_CHAIN));
    let underlying = args.underlying.clone();
    let events: Vec<Event> = load_chain(std::slice::from_ref(&path), None)?
        .into_iter()
        .filter(|e| matches!(e, Event::OptionQuote(q) if q.underlying == underlying))
        .collect();
    if events.is_empty() {
        bail!("{}: no {underlying} option quotes", path.display());
    }
    let mut engine = engine_of(&events)?;
    let now = engine.last_event().expect("events were applied");
    let passes = 10 * args.repeat;
    let (mut cold, mut warm, mut one) = (Vec::new(), Vec::new(), Vec::new());
    let mut expiries = 0;
    for _ in 0..passes {
        engine.invalidate(true);
        let start = Instant::now();
        let stats = engine.refit(now);
        cold.push(start.elapsed().as_secs_f64());
        expiries = stats.fitted + stats.fallbacks;
        engine.invalidate(false);
        let start = Instant::now();
        engine.refit(now);
        warm.push(start.elapsed().as_secs_f64());
    }
    // One quote of the middle expiry moves by a tick and back.
    let target = middle_expiry_quote(&events).expect("the middle expiry has a two-sided quote");
    for pass in 0..passes {
        let mut q = (*target).clone();
        if pass % 2 == 0 {
            q.bid = q.bid.map(|b| b + 0.0005);
        }
        engine.apply(&Event::OptionQuote(q))?;
        let start = Instant::now();
        engine.refit(now);
        one.push(start.elapsed().as_secs_f64());
    }
    let (cold, warm, one) = (median(cold), median(warm), median(one));
    println!(
        "surface: {} {underlying} instruments, {expiries} expiries, median of {passes} passes: cold chain {:.3} ms, warm chain {:.3} ms, one expiry after a quote change {:.1} us",
        events.len(),
        cold * 1e3,
        warm * 1e3,
        one * 1e6
    );
    if args.json {
        let summary = json!({
            "name": "surface",
            "instruments": events.len(),
            "expiries": expiries,
            "passes": passes,
            "cold_chain_seconds": cold,
            "warm_chain_seconds": warm,
            "one_expiry_seconds": one,
        });
        println!("{summary}");
    }
    Ok(())
}
