//! Funding accrual against the published histories of `../shared/data/funding_rates_supervik`.
//!
//! The files publish one thing per row: the rate settled at that instant (`Symbol,Date,Funding Rate`), for
//! 8-hour periods (Binance, Bybit, Gate, HTX, KuCoin, MEXC) or 1-hour periods (dYdX). No premium index,
//! interest rate, mark or index is given. So what is checked, for every row of every file:
//! 1. at settlements: a position of notional N pays N × rate at the settlement instant;
//! 2. continuously: accrued over the period's window, cut into up to 7 random pieces, the same N × rate;
//! 3. dYdX: the hourly rates accrued over each 8-hour window [00:00, 08:00), [08:00, 16:00), [16:00, 24:00)
//!    equal the sum of the 8 published hourly rates;
//! 4. Binance, Bybit, Gate, HTX, KuCoin: every published rate is one the formula F = P + clamp(I − P, ±0.05%)
//!    with I = 0.01% produces, from the premiums that the formula's inverse gives.
//!
//! The reference is exact: each rate's decimal text is read as an integer count of 10^-24 (no floating
//! point), products and sums are exact in i128, and the tolerance is 1e-12 of notional per period.

use rtm2m_funding::{
    implied_premium_range, periodic_rate, FundingHistory, NotionalPath, PeriodicParams,
};
use rtm2m_market::event::{Event, Funding};
use rtm2m_market::import::{import_file, Format};
use rtm2m_market::Timestamp;
use std::path::{Path, PathBuf};

/// Exact decimals: integers of 10^-24.
const SCALE_DIGITS: u32 = 24;

fn histories_dir() -> Option<PathBuf> {
    let shared = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if shared.is_dir() {
        Some(shared.join("data/funding_rates_supervik"))
    } else {
        eprintln!("note: ../shared absent, skipping the funding-history tests");
        None
    }
}

/// `-0.00012359`, `5.3e-05`, `0.000658153991747989` as an exact integer of 10^-24.
fn exact(text: &str) -> i128 {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().expect("an integer exponent")),
        None => (text, 0),
    };
    let (negative, digits) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all: String = format!("{whole}{fraction}");
    let value: i128 = all.parse().expect("decimal digits");
    let shift = SCALE_DIGITS as i32 + exponent - fraction.len() as i32;
    assert!(shift >= 0, "{text} has more than 24 decimals");
    let value = value * 10i128.pow(shift as u32);
    if negative {
        -value
    } else {
        value
    }
}

fn to_f64(scaled: i128) -> f64 {
    scaled as f64 / 10f64.powi(SCALE_DIGITS as i32)
}

struct History {
    name: String,
    events: Vec<Funding>,
    /// The `Funding Rate` column's text, exact, row by row.
    exact_rates: Vec<i128>,
}

fn histories() -> Option<Vec<History>> {
    let dir = histories_dir()?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the histories folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.to_string_lossy().ends_with("_funding_history.csv"))
        .collect();
    paths.sort();
    assert_eq!(paths.len(), 14, "7 venues × BTC and ETH");
    let histories = paths
        .iter()
        .map(|path| {
            let imported = import_file(Format::Funding, path).unwrap_or_else(|e| panic!("{e}"));
            let events: Vec<Funding> = imported
                .events
                .into_iter()
                .map(|e| match e {
                    Event::Funding(f) => f,
                    other => panic!("expected funding, found {other:?}"),
                })
                .collect();
            // The third column of the raw file, independent of the importer's float parsing.
            let text = std::fs::read_to_string(path).expect("readable");
            let exact_rates: Vec<i128> = text
                .lines()
                .skip(1)
                .map(|line| exact(line.rsplit(',').next().expect("three columns").trim()))
                .collect();
            assert_eq!(exact_rates.len(), events.len());
            History {
                name: path
                    .file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
                events,
                exact_rates,
            }
        })
        .collect();
    Some(histories)
}

/// A notional with no short decimal expansion, so that N × rate exercises the arithmetic.
const NOTIONAL_USDT: f64 = 12_345.678;
const NOTIONAL_MILLI: i128 = 12_345_678;

/// N × rate, exactly, as a float.
fn notional_times(rate: i128) -> f64 {
    to_f64(rate * NOTIONAL_MILLI) / 1000.0
}

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn settlements_pay_notional_times_each_published_rate() {
    let Some(histories) = histories() else { return };
    let long = NotionalPath::constant(NOTIONAL_USDT).expect("finite");
    let short = NotionalPath::constant(-NOTIONAL_USDT).expect("finite");
    let tolerance = 1e-12 * NOTIONAL_USDT;
    let mut periods = 0;
    let mut worst = 0.0f64;
    for h in &histories {
        let history =
            FundingHistory::new(h.events.clone()).unwrap_or_else(|e| panic!("{}: {e}", h.name));
        for (i, (event, &rate)) in h.events.iter().zip(&h.exact_rates).enumerate() {
            let from = match i {
                0 => Timestamp::from_unix_nanos(event.ts.unix_nanos() - 1),
                _ => h.events[i - 1].ts,
            };
            let expected = notional_times(rate);
            let paid = history
                .paid_at_settlements(&long, from, event.ts)
                .expect("valid interval");
            assert!(
                close(paid, expected, tolerance),
                "{} row {}: paid {paid}, expected {expected}",
                h.name,
                i + 2
            );
            worst = worst.max((paid - expected).abs() / NOTIONAL_USDT);
            let received = history
                .paid_at_settlements(&short, from, event.ts)
                .expect("valid interval");
            assert_eq!(received, -paid, "{} row {}", h.name, i + 2);
            periods += 1;
        }
        // Over the whole history: N × the exact sum of the column.
        let total: i128 = h.exact_rates.iter().sum();
        let first = Timestamp::from_unix_nanos(h.events[0].ts.unix_nanos() - 1);
        let last = h.events.last().expect("rows").ts;
        let paid = history
            .paid_at_settlements(&long, first, last)
            .expect("valid interval");
        assert!(
            close(paid, notional_times(total), tolerance),
            "{}: total {paid} vs {}",
            h.name,
            notional_times(total)
        );
    }
    eprintln!(
        "checked {periods} settled periods in {} histories; largest error {worst:e} of notional",
        histories.len()
    );
    assert_eq!(
        periods,
        4383 * 2 + 3285 * 2 + 17_520 * 2 + 4290 * 2 + 3284 * 2 + 3285 * 2 + 3285 * 2
    );
}

/// A small deterministic generator for cut points (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[test]
fn continuous_accrual_over_each_period_pays_notional_times_its_rate() {
    let Some(histories) = histories() else { return };
    let long = NotionalPath::constant(NOTIONAL_USDT).expect("finite");
    let tolerance = 1e-12 * NOTIONAL_USDT;
    let mut random = SplitMix(20_240_101);
    let mut periods = 0;
    let mut worst = 0.0f64;
    for h in &histories {
        let history = FundingHistory::new(h.events.clone()).expect("valid history");
        let curve = history.to_curve();
        assert_eq!(curve.segments().len(), h.events.len(), "{}", h.name);
        for (i, (segment, &rate)) in curve.segments().iter().zip(&h.exact_rates).enumerate() {
            assert_eq!(segment.end, h.events[i].ts);
            // Cut [start, end) at up to 6 random instants and add up the pieces.
            let (start, end) = (segment.start.unix_nanos(), segment.end.unix_nanos());
            let mut cuts: Vec<i64> = (0..random.next() % 7)
                .map(|_| start + (random.next() % (end - start) as u64) as i64)
                .collect();
            cuts.push(start);
            cuts.push(end);
            cuts.sort_unstable();
            let paid: f64 = cuts
                .windows(2)
                .map(|w| {
                    curve
                        .paid(
                            &long,
                            Timestamp::from_unix_nanos(w[0]),
                            Timestamp::from_unix_nanos(w[1]),
                        )
                        .expect("valid interval")
                })
                .sum();
            let expected = notional_times(rate);
            worst = worst.max((paid - expected).abs() / NOTIONAL_USDT);
            assert!(
                close(paid, expected, tolerance),
                "{} row {}: accrued {paid}, expected {expected}",
                h.name,
                i + 2
            );
            periods += 1;
        }
        let total: i128 = h.exact_rates.iter().sum();
        let paid = curve
            .paid(
                &long,
                curve.segments()[0].start,
                curve.segments().last().expect("segments").end,
            )
            .expect("valid interval");
        assert!(
            close(paid, notional_times(total), tolerance),
            "{}: total {paid}",
            h.name
        );
    }
    eprintln!("accrued {periods} periods continuously; largest error {worst:e} of notional");
}

#[test]
fn dydx_hourly_rates_accrue_into_their_8_hour_sums() {
    let Some(histories) = histories() else { return };
    let unit = NotionalPath::constant(1.0).expect("finite");
    for h in histories.iter().filter(|h| h.name.contains("_dydx_")) {
        let history = FundingHistory::new(h.events.clone()).expect("valid history");
        let curve = history.to_curve();
        // 2022-01-01T00:00:00Z is 1640995200 (`date -u -d 2022-01-01 +%s`); 730 days of three windows.
        let first = 1_640_995_200_i64 * 1_000_000_000;
        let eight_hours = 8 * 3_600 * 1_000_000_000_i64;
        let mut windows = 0;
        for k in 0..730 * 3 {
            let from = first + k * eight_hours;
            let to = from + eight_hours;
            // The rates settled in (from, to]: each one's 1-hour window lies inside [from, to).
            let expected: i128 = h
                .events
                .iter()
                .zip(&h.exact_rates)
                .filter(|(e, _)| e.ts.unix_nanos() > from && e.ts.unix_nanos() <= to)
                .map(|(_, r)| *r)
                .sum();
            let settled = h
                .events
                .iter()
                .filter(|e| e.ts.unix_nanos() > from && e.ts.unix_nanos() <= to)
                .count();
            let accrued = curve
                .paid(
                    &unit,
                    Timestamp::from_unix_nanos(from),
                    Timestamp::from_unix_nanos(to),
                )
                .expect("valid interval");
            if settled == 8 {
                assert!(
                    close(accrued, to_f64(expected), 1e-12),
                    "{} window {k}: accrued {accrued}, published sum {}",
                    h.name,
                    to_f64(expected)
                );
                windows += 1;
            }
        }
        // The last window ends at 2024-01-01T00:00Z, past the file's last row (2023-12-31 23:00).
        assert_eq!(windows, 730 * 3 - 1, "{}", h.name);
    }
}

#[test]
fn premium_index_venues_publish_rates_the_formula_produces() {
    let Some(histories) = histories() else { return };
    let params = PeriodicParams::binance();
    let mut rows = 0;
    for h in histories.iter().filter(|h| {
        ["_binance_", "_bybit_", "_gate_", "_htx_", "_kucoin_"]
            .iter()
            .any(|v| h.name.contains(v))
    }) {
        for (i, event) in h.events.iter().enumerate() {
            let (lo, hi) = implied_premium_range(event.rate, &params).expect("a finite rate");
            for premium in [lo, hi, 0.5 * (lo + hi)] {
                let recomputed = periodic_rate(premium, &params).expect("a finite premium");
                assert!(
                    close(recomputed, to_f64(h.exact_rates[i]), 1e-12),
                    "{} row {}: premium {premium} gives {recomputed}, published {}",
                    h.name,
                    i + 2,
                    event.rate
                );
            }
            rows += 1;
        }
    }
    assert_eq!(rows, (4383 + 3285 + 4290 + 3284 + 3285) * 2);
}

#[test]
fn exact_decimal_reader_reads_the_column_spellings() {
    assert_eq!(exact("0.0001"), 100_000_000_000_000_000_000);
    assert_eq!(exact("-0.00012359"), -123_590_000_000_000_000_000);
    assert_eq!(exact("5.3e-05"), 53_000_000_000_000_000_000);
    assert_eq!(exact("0.000658153991747989"), 658_153_991_747_989_000_000);
    assert_eq!(exact("0.0"), 0);
}
