//! Risk arrays for a whole real option chain (Deribit BTC and ETH, `../shared`; a synthetic chain of the same
//! shape when it is absent) over the default `rtm2m` grid, and one 50-position account margined from the
//! cached arrays.

mod cpu_time;

use cpu_time::ThreadCpuTime;
use criterion::measurement::Measurement;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rtm2m_margin::account::Account;
use rtm2m_margin::engine::{prepare, rtm2m_requirements, Rtm2mParams};
use rtm2m_margin::market::{AssetQuote, MarkIvs, MarketSnapshot};
use rtm2m_margin::market_risk::MarketRisk;
use std::collections::BTreeMap;
use std::path::PathBuf;

const SNAPSHOT: &str = "data/deribit_svcj_snapshots/deribit_options_snapshot_20260205T042952Z.csv";

fn asset(price_usd: f64) -> AssetQuote {
    AssetQuote {
        price_usd,
        confidence: 1.0,
        ewma_vol: Some(0.5),
        depth_usd: Some(5e7),
        stablecoin: false,
        static_haircut: None,
    }
}

/// The chain's market and instrument names: columns `instrument_name`, `underlying` (forward),
/// `implied_volatility`, `index_price`, `currency`.
fn real_chain(path: &PathBuf) -> Option<(MarketSnapshot, Vec<String>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let (ts, name, fwd, iv, index, ccy) = (
        col("timestamp")?,
        col("instrument_name")?,
        col("underlying")?,
        col("implied_volatility")?,
        col("index_price")?,
        col("currency")?,
    );
    let mut market = MarketSnapshot {
        as_of: String::new(),
        assets: BTreeMap::new(),
        underlyings: BTreeMap::new(),
        mark_ivs: BTreeMap::new(),
    };
    let mut names = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let n = f.get(name)?.to_string();
        let coin = f.get(ccy)?.to_string();
        let code = n.split('-').nth(1)?.to_owned();
        market.as_of = f.get(ts)?.split('.').next()?.to_owned() + "Z";
        market
            .assets
            .entry(coin.clone())
            .or_insert_with(|| asset(f[index].parse().unwrap_or(1.0)));
        market
            .underlyings
            .entry(coin)
            .or_default()
            .forwards
            .insert(code, f.get(fwd)?.parse().ok()?);
        market.mark_ivs.insert(n.clone(), f.get(iv)?.parse().ok()?);
        names.push(n);
    }
    Some((market, names))
}

/// 1 700 options on BTC and ETH: 10 expiries × 85 strikes, calls and puts alternating.
fn synthetic_chain() -> (MarketSnapshot, Vec<String>) {
    let codes = [
        "9JAN26", "16JAN26", "30JAN26", "27FEB26", "27MAR26", "24APR26", "26JUN26", "25SEP26",
        "25DEC26", "26MAR27",
    ];
    let mut market = MarketSnapshot {
        as_of: "2026-01-05T15:33:29Z".into(),
        assets: BTreeMap::new(),
        underlyings: BTreeMap::new(),
        mark_ivs: BTreeMap::new(),
    };
    let mut names = Vec::new();
    for (coin, spot) in [("BTC", 93_640.0), ("ETH", 3_180.0)] {
        market.assets.insert(coin.into(), asset(spot));
        let u = market.underlyings.entry(coin.into()).or_default();
        for code in codes {
            u.forwards.insert(code.into(), spot * 1.01);
            for i in 0..85 {
                let strike = (spot * (0.4 + 1.6 * i as f64 / 84.0)).round();
                let n = format!(
                    "{coin}-{code}-{strike}-{}",
                    if i % 2 == 0 { "C" } else { "P" }
                );
                market.mark_ivs.insert(n.clone(), 0.45 + 0.002 * i as f64);
                names.push(n);
            }
        }
    }
    (market, names)
}

fn bench_wall(c: &mut Criterion) {
    bench(c, "");
}

fn bench_cpu(c: &mut Criterion<ThreadCpuTime>) {
    bench(c, "cpu_time/");
}

/// The benchmarks, named with `prefix` (one set per measurement).
fn bench<M: Measurement + 'static>(c: &mut Criterion<M>, prefix: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(SNAPSHOT);
    let (market, names) = real_chain(&path).unwrap_or_else(|| {
        eprintln!(
            "note: {} absent: using a synthetic 1 700-option chain",
            path.display()
        );
        synthetic_chain()
    });
    let params = Rtm2mParams::rtm2m_default();
    let vols = MarkIvs(&market.mark_ivs);
    let risk = MarketRisk::build(
        &market,
        &vols,
        &params.grid,
        names.iter().map(String::as_str),
    )
    .expect("chain market is valid");
    eprintln!(
        "chain: {} instruments valued of {}, {} scenarios",
        risk.instruments.len(),
        names.len(),
        risk.scenario_count()
    );
    c.bench_function(
        &format!("{prefix}risk_arrays_whole_chain_default_grid"),
        |b| {
            b.iter(|| {
                MarketRisk::build(
                    black_box(&market),
                    &vols,
                    &params.grid,
                    names.iter().map(String::as_str),
                )
                .expect("valid")
            })
        },
    );
    let account = Account {
        id: "bench".into(),
        cash_usd: 1e6,
        accrued_funding_usd: 0.0,
        collateral: vec![],
        positions: vec![],
        ..Account::default()
    };
    let mut prepared = prepare(&account, &market, &risk, &params).expect("valid");
    let step = (risk.instruments.len() / 50).max(1);
    prepared.held = (0..risk.instruments.len())
        .step_by(step)
        .take(50)
        .enumerate()
        .map(|(k, i)| (i, if k % 3 == 0 { 2.0 } else { -1.0 }))
        .collect();
    let mut pnl = Vec::new();
    c.bench_function(
        &format!("{prefix}account_50_positions_from_cached_arrays"),
        |b| {
            b.iter(|| rtm2m_requirements(black_box(&risk), black_box(&prepared), &params, &mut pnl))
        },
    );
}

criterion_group!(wall_time, bench_wall);
criterion_group! {
    name = thread_cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench_cpu
}
criterion_main!(wall_time, thread_cpu_time);
