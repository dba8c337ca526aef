//! The Deribit chains of `../shared/data/deribit_svcj_snapshots` (a calm day and the Feb-2026 crash) as one
//! replayable input stream, through the market crate's importers.
//!
//! Per snapshot, in this order, all at the snapshot's time: every option quote that has a mark IV, the
//! perpetual and dated-future marks taken at that snapshot (`perpetual_futures_prices.csv`,
//! `term_futures_marks.csv`, matched on the snapshot's exact timestamp), then one `index` per underlying:
//! the median of the rows' `index_price`, with half the spread of those values as its confidence (the
//! snapshot's rows are collected over a few minutes, so the index drifts inside a snapshot). Seqs count from
//! 1. Quotes without a mark IV, or already expired, are left out and counted.

use crate::error::EngineError;
use crate::event::{Input, InputKind};
use rtm2m_margin::instrument::Instrument;
use rtm2m_market::event::{IndexStatus, IndexUpdate};
use rtm2m_market::import::{import_file, Format};
use rtm2m_market::{Event, Timestamp};
use std::collections::BTreeMap;
use std::path::Path;

/// The stream and what the conversion did.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainStream {
    /// Input events, seqs 1..
    pub events: Vec<Input>,
    /// Time of each snapshot, in order.
    pub snapshots: Vec<Timestamp>,
    /// Index per snapshot per underlying, USD.
    pub index_usd: Vec<BTreeMap<String, f64>>,
    /// Option quotes left out for having no mark IV.
    pub skipped_no_iv: u64,
    /// Quotes and marks left out for being expired at the snapshot.
    pub skipped_expired: u64,
}

fn data(path: &Path, reason: impl std::fmt::Display) -> EngineError {
    EngineError::Data(format!("{}: {reason}", path.display()))
}

fn expired(name: &str, ts: Timestamp) -> bool {
    let now_s = ts.unix_nanos().div_euclid(1_000_000_000);
    match Instrument::parse(name).map(|i| i.kind) {
        Ok(rtm2m_margin::instrument::InstrumentKind::Option { expiry_unix_s, .. })
        | Ok(rtm2m_margin::instrument::InstrumentKind::Future { expiry_unix_s, .. }) => {
            expiry_unix_s <= now_s
        }
        _ => false,
    }
}

/// Converts the snapshots in `dir` (the `deribit_svcj_snapshots` folder).
pub fn convert(dir: &Path) -> Result<ChainStream, EngineError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| data(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| Format::detect(p) == Some(Format::DeribitSnapshot))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(data(dir, "no deribit_options_snapshot_*.csv file"));
    }
    let mut marks: BTreeMap<Timestamp, Vec<Event>> = BTreeMap::new();
    for (name, format) in [
        ("perpetual_futures_prices.csv", Format::DeribitPerpetual),
        ("term_futures_marks.csv", Format::DeribitFutures),
    ] {
        let path = dir.join(name);
        let imported = import_file(format, &path).map_err(|e| data(&path, e))?;
        for e in imported.events {
            marks.entry(e.ts()).or_default().push(e);
        }
    }
    let mut stream = ChainStream {
        events: Vec::new(),
        snapshots: Vec::new(),
        index_usd: Vec::new(),
        skipped_no_iv: 0,
        skipped_expired: 0,
    };
    let mut seq = 1u64;
    for path in files {
        let imported = import_file(Format::DeribitSnapshot, &path).map_err(|e| data(&path, e))?;
        let Some(ts) = imported.events.iter().map(Event::ts).max() else {
            continue;
        };
        let mut index_seen: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut push = |stream: &mut ChainStream, e: Event| {
            stream.events.push(Input {
                seq,
                ts,
                kind: InputKind::Market(e),
            });
            seq += 1;
        };
        for e in imported.events {
            let Event::OptionQuote(q) = e else { continue };
            if let Some(x) = q.index_price {
                index_seen.entry(q.underlying.clone()).or_default().push(x);
            }
            if q.mark_iv.is_none() {
                stream.skipped_no_iv += 1;
                continue;
            }
            if expired(&q.instrument, ts) {
                stream.skipped_expired += 1;
                continue;
            }
            push(&mut stream, Event::OptionQuote(q));
        }
        for e in marks.get(&ts).into_iter().flatten() {
            let Event::Mark(m) = e else { continue };
            if expired(&m.instrument, ts) {
                stream.skipped_expired += 1;
                continue;
            }
            let mut m = m.clone();
            m.ts = ts;
            push(&mut stream, Event::Mark(m));
        }
        let mut index = BTreeMap::new();
        for (u, mut xs) in index_seen {
            xs.sort_by(f64::total_cmp);
            let n = xs.len();
            let median = if n % 2 == 1 {
                xs[n / 2]
            } else {
                0.5 * (xs[n / 2 - 1] + xs[n / 2])
            };
            let half_width = 0.5 * (xs[n - 1] - xs[0]);
            index.insert(u.clone(), median);
            push(
                &mut stream,
                Event::Index(IndexUpdate {
                    ts,
                    underlying: u,
                    price: median,
                    confidence: half_width,
                    status: IndexStatus::Ok,
                }),
            );
        }
        stream.snapshots.push(ts);
        stream.index_usd.push(index);
    }
    Ok(stream)
}

/// `../shared/data/deribit_svcj_snapshots` seen from a crate of this workspace (`None` when absent).
pub fn shared_snapshots_dir(manifest_dir: &str) -> Option<std::path::PathBuf> {
    let p = Path::new(manifest_dir).join("../../../shared/data/deribit_svcj_snapshots");
    p.is_dir().then_some(p)
}
