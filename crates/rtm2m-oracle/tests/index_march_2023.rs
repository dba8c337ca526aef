//! The March 2023 USDC de-peg on real 1-minute bars (Binance.US BTC/USD, BTC/USDT, BTC/USDC; Kraken
//! XBT/USDC): the BTC index must follow the USD- and USDT-quoted market while BTC/USDC trades up to 13.7%
//! above BTC/USD, and say that it left the USDC pairs out.

use rtm2m_market::event::IndexStatus;
use rtm2m_market::import::{import_file, merge_by_time, Format};
use rtm2m_market::{Event, Timestamp};
use rtm2m_oracle::index::{ExclusionReason, IndexConfig, IndexEngine, IndexReport};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

const FILES: [&str; 4] = [
    "binanceus_BTCUSD_1m_20230301_20230321.csv",
    "binanceus_BTCUSDT_1m_20230301_20230321.csv",
    "binanceus_BTCUSDC_1m_20230301_20230321.csv",
    "kraken_XBTUSDC_1m_20230301_20230321.csv",
];

fn events() -> Option<Vec<Event>> {
    let dir = Path::new(DATA).join("data/spot_1m_binanceus_kraken_2023-03");
    if !Path::new(DATA).is_dir() {
        eprintln!("note: ../shared absent, skipping the March 2023 de-peg acceptance test");
        return None;
    }
    let batches = FILES
        .iter()
        .map(|name| {
            let path: PathBuf = dir.join(name);
            let format = Format::detect(&path).expect("a bar file name");
            import_file(format, &path)
                .expect("the shared bars import")
                .events
        })
        .collect();
    Some(merge_by_time(batches))
}

fn utc(text: &str) -> Timestamp {
    text.parse().expect("a timestamp written in the test")
}

/// Bar closes by (source, bar end).
fn closes(events: &[Event]) -> HashMap<(String, Timestamp), f64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Bar(b) => Some(((format!("{}:{}", b.venue, b.symbol), b.ts), b.close)),
            _ => None,
        })
        .collect()
}

fn run(events: &[Event], config: IndexConfig) -> Vec<IndexReport> {
    let mut engine = IndexEngine::new(config).expect("valid config");
    let mut out = Vec::new();
    for event in events {
        engine
            .on_event(event, &mut out)
            .expect("events in time order");
    }
    engine.finish(&mut out);
    out
}

#[test]
fn btc_index_follows_usd_and_usdt_through_the_usdc_depeg() {
    let Some(events) = events() else { return };
    let closes = closes(&events);
    let reports = run(&events, IndexConfig::default());
    let (start, end) = (utc("2023-03-10T00:00:00Z"), utc("2023-03-14T00:00:00Z"));
    let usdc = ["binanceus:BTC/USDC", "kraken:BTC/USDC"];

    let (mut minutes, mut worst, mut worst_at) = (0, 0.0f64, start);
    let (mut large_premium, mut large_excluded_depeg) = (0, 0);
    let mut statuses: HashMap<&str, usize> = HashMap::new();
    let mut reasons: HashMap<String, usize> = HashMap::new();
    for report in reports
        .iter()
        .filter(|r| r.underlying == "BTC" && r.ts >= start && r.ts < end)
    {
        minutes += 1;
        let usd = closes[&("binanceus:BTC/USD".to_string(), report.ts)];
        let usdt = closes[&("binanceus:BTC/USDT".to_string(), report.ts)];
        // The median of the USD- and USDT-quoted sources (two of them: their mean), at face value.
        let reference = (usd + usdt) / 2.0;
        let price = report
            .price
            .unwrap_or_else(|| panic!("no price at {}: {report:?}", report.ts));
        let deviation = (price / reference - 1.0).abs();
        if deviation > worst {
            (worst, worst_at) = (deviation, report.ts);
        }
        assert!(
            deviation <= 0.01,
            "{}: index {price} is {:.3}% from {reference}",
            report.ts,
            deviation * 100.0
        );
        *statuses
            .entry(match report.status {
                IndexStatus::Ok => "ok",
                IndexStatus::Degraded => "degraded",
                IndexStatus::Halted => "halted",
            })
            .or_default() += 1;

        // While BTC/USDC trades more than 3% above BTC/USD on every USDC venue that printed this minute
        // (1.5 times the 2% de-peg threshold), no USDC source may be used.
        let premiums: Vec<f64> = usdc
            .iter()
            .filter_map(|s| closes.get(&(s.to_string(), report.ts)))
            .map(|close| close / usd - 1.0)
            .collect();
        if !premiums.is_empty() && premiums.iter().all(|p| *p > 0.03) {
            large_premium += 1;
            for source in usdc {
                assert!(
                    report.used.iter().all(|u| u.source != source),
                    "{}: {source} used at a premium of {premiums:?}",
                    report.ts
                );
            }
            for source in usdc {
                let reason = report
                    .excluded
                    .iter()
                    .find(|e| e.source == source)
                    .map(|e| e.reason);
                *reasons.entry(format!("{source} {reason:?}")).or_default() += 1;
            }
            if usdc.iter().all(|s| {
                report.excluded.iter().any(|e| {
                    e.source == *s
                        && matches!(e.reason, ExclusionReason::Depeg | ExclusionReason::Stale)
                })
            }) {
                large_excluded_depeg += 1;
            }
        }
    }
    eprintln!(
        "March 2023: {minutes} minutes, worst deviation {:.3}% at {worst_at}; statuses {statuses:?}; \
         {large_premium} minutes with every USDC premium > 3%, {large_excluded_depeg} of them with both \
         USDC sources excluded as depeg (or stale, checked first); reasons {reasons:?}",
        worst * 100.0
    );
    assert_eq!(minutes, 4 * 24 * 60);
    // The de-peg lasted from the evening of 10 March into 13 March: at least a day of large premiums.
    assert!(large_premium > 24 * 60, "{large_premium}");
    // The exclusion is reported as a de-peg (or as stale, which is checked first: Binance.US BTC/USDC had
    // no trade in 35% of these minutes), never as something else.
    assert_eq!(large_excluded_depeg, large_premium);
}
