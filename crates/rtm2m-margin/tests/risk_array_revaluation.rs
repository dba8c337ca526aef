//! Every value of every risk array of [`MarketRisk`] against a full Black-76 revaluation computed here,
//! scenario by scenario, from the grid's published moves, vol states and weights (docs/margin.md §5): the
//! library prices each option once per distinct point with shared factors and a SIMD normalised-Black kernel,
//! and must land on the textbook number.
//!
//! Reference per option and scenario: `w·(V(F(1 + m), σ') − V(F, σ))`, `V = D·B76(F, K, T, σ)·u` (Black 1976,
//! eq. 7; `rtm2m_pricing::black76_price`), `u = S/F` coin-settled (D = 1), `u = 1` USD-settled
//! (D = e^{−rT}); σ' the documented shock of the scenario's vol state, recomputed below; delta-one
//! instruments `w·Δ·S·m`.

mod common;

use rtm2m_margin::market::{MarkIvs, MarketSnapshot};
use rtm2m_margin::market_risk::MarketRisk;
use rtm2m_margin::scenario::{GridParams, VolState};
use rtm2m_pricing::{black76_price, OptionKind};
use std::collections::BTreeMap;

/// The documented vol of `state` for an option of mark vol `vol`, `expiry_years` ahead, log-moneyness
/// `k = ln(K/F)`, with the default grid's parameters: w(T) = (30/max(days, 1))^(0.3 if days ≤ 30 else
/// 0.13), down σ·max(0, 1 − 0.30·w), up σ·(1 + 0.45·w); rotations (Derive PMRM_2 skew scenarios) with
/// cap = max(0, 0.15 − 0.05·√T) reached at k* = max(0.01, √T·4·(0.6 − 0.1·√T)).
fn shocked_vol(state: VolState, vol: f64, expiry_years: f64, k: f64) -> f64 {
    let days = (expiry_years * 365.0).max(1.0);
    let w = (30.0 / days).powf(if days <= 30.0 { 0.3 } else { 0.13 });
    let root = expiry_years.sqrt();
    let cap = (0.15 - 0.05 * root).max(0.0);
    let k_star = (root * 4.0 * (0.6 - 0.1 * root)).max(0.01);
    let linear = (k * cap / k_star).clamp(-cap, cap);
    let wing = (k.abs() * cap / k_star).min(cap);
    match state {
        VolState::Down => vol * (1.0 - 0.30 * w).max(0.0),
        VolState::Unchanged => vol,
        VolState::Up => vol * (1.0 + 0.45 * w),
        VolState::SkewCallsUp => vol * (1.0 + linear).max(0.0),
        VolState::SkewPutsUp => vol * (1.0 - linear).max(0.0),
        VolState::WingsUp => vol * (1.0 + wing),
        VolState::WingsDown => vol * (1.0 - wing).max(0.0),
    }
}

/// An option as the reference needs it, read from its name here (`BTC-1JAN27-100000-C`,
/// `BTC_USDC-8JAN26-98000-P`).
struct OptionSpec {
    underlying: String,
    expiry_code: String,
    strike: f64,
    kind: OptionKind,
    usd_settled: bool,
}

fn option_spec(name: &str) -> Option<OptionSpec> {
    let parts: Vec<&str> = name.split('-').collect();
    let [coin, code, strike, cp] = parts.as_slice() else {
        return None;
    };
    Some(OptionSpec {
        underlying: coin.trim_end_matches("_USDC").to_owned(),
        expiry_code: (*code).to_owned(),
        strike: strike.parse().ok()?,
        kind: if *cp == "C" {
            OptionKind::Call
        } else {
            OptionKind::Put
        },
        usd_settled: coin.ends_with("_USDC"),
    })
}

/// Checks every array value of `names` (options, and delta-one instruments priced at `delta_usd` per unit
/// move) on `market`; `expiry_years` maps an expiry code to its years to expiry. Returns the number of values
/// checked.
fn check_arrays(
    market: &MarketSnapshot,
    names: &[&str],
    expiry_years: &dyn Fn(&str) -> f64,
    delta_usd: &BTreeMap<&str, f64>,
) -> usize {
    let params = GridParams::rtm2m_default();
    let risk = MarketRisk::build(
        market,
        &MarkIvs(&market.mark_ivs),
        &params,
        names.iter().copied(),
    )
    .expect("valid market");
    let grid = &risk.grid;
    let mut checked = 0;
    for name in names {
        let j = risk.index_of("test", name).expect("valued");
        let array = risk.array(j);
        let u = grid
            .underlyings
            .iter()
            .position(|x| name.starts_with(x.as_str()))
            .expect("a grid underlying");
        for (s, scenario) in grid.scenarios.iter().enumerate() {
            let m = scenario.moves[u];
            let got = array[s];
            let want = if let Some(exposure) = delta_usd.get(name) {
                scenario.weight * exposure * m
            } else {
                let o = option_spec(name).expect("an option name");
                let quote = &market.underlyings[&o.underlying];
                let f = quote.forwards[&o.expiry_code];
                let t = expiry_years(&o.expiry_code);
                let index = market.assets[&o.underlying].price_usd;
                let (discount, usd_per_premium) = if o.usd_settled {
                    ((-quote.rate * t).exp(), 1.0)
                } else {
                    (1.0, index / f)
                };
                let vol = market.mark_ivs[*name];
                let state = match scenario.vol_underlying {
                    Some(only) if only != u => VolState::Unchanged,
                    _ => scenario.vol,
                };
                let shocked = shocked_vol(state, vol, t, (o.strike / f).ln());
                let value = |f: f64, vol: f64| {
                    black76_price(o.kind, f, o.strike, t, vol, discount).expect("valid")
                        * usd_per_premium
                };
                let (moved, now) = (value(f * (1.0 + m), shocked), value(f, vol));
                if m == 0.0 && shocked == vol {
                    assert_eq!(got, 0.0, "{name}, {}: nothing moves", scenario.label);
                }
                // Agreement to ~1e-13 of the values whose difference the P&L is.
                let tolerance = 1e-11 * (moved.abs() + now.abs()) * scenario.weight;
                assert!(
                    (got - scenario.weight * (moved - now)).abs() <= tolerance,
                    "{name}, {}: array {got:e}, revaluation {:e}",
                    scenario.label,
                    scenario.weight * (moved - now)
                );
                checked += 1;
                continue;
            };
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "{name}, {}: array {got:e}, want {want:e}",
                scenario.label
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn risk_arrays_equal_black76_revaluations_scenario_by_scenario() {
    // 2026-01-01 08:00 UTC: 1JAN27 is T = 1 exactly, 8JAN26 7 days; forwards away from the index, a USD
    // rate, calls and puts deep in and out of the money, coin- and USD-settled, both underlyings.
    let market = MarketSnapshot::from_json(
        r#"{
        "as_of": "2026-01-01T08:00:00Z",
        "assets": {
            "BTC": {"price_usd": 100000, "ewma_vol": 0.5, "depth_usd": 5e7},
            "ETH": {"price_usd": 3000, "ewma_vol": 0.7, "depth_usd": 2e7}
        },
        "underlyings": {
            "BTC": {"rate": 0.05, "forwards": {"1JAN27": 104000, "8JAN26": 100150}},
            "ETH": {"rate": 0.03, "forwards": {"1JAN27": 3090}}
        },
        "mark_ivs": {
            "BTC-1JAN27-100000-C": 0.55, "BTC-1JAN27-40000-P": 0.9, "BTC-1JAN27-250000-C": 0.8,
            "BTC-1JAN27-60000-C": 0.6, "BTC_USDC-1JAN27-120000-P": 0.5, "BTC-8JAN26-100000-P": 0.45,
            "BTC-8JAN26-130000-C": 1.1, "BTC_USDC-8JAN26-99000-C": 0.4, "ETH-1JAN27-3000-P": 0.7,
            "ETH_USDC-1JAN27-1500-C": 0.95
        }
    }"#,
    )
    .expect("valid market");
    let mut names: Vec<&str> = market.mark_ivs.keys().map(String::as_str).collect();
    names.extend(["BTC-1JAN27", "ETH-PERPETUAL", "BTC_USDC"]);
    // Δ·S per unit: a future moves F·m, the perpetual (marked at the index) S·m, spot S·m.
    let delta_usd = BTreeMap::from([
        ("BTC-1JAN27", 104_000.0),
        ("ETH-PERPETUAL", 3_000.0),
        ("BTC_USDC", 100_000.0),
    ]);
    let years = |code: &str| {
        if code == "1JAN27" {
            1.0
        } else {
            604_800.0 / 31_536_000.0
        }
    };
    let checked = check_arrays(&market, &names, &years, &delta_usd);
    assert_eq!(checked, names.len() * 174);
}

#[test]
fn risk_arrays_of_the_real_deribit_chain_equal_black76_revaluations() {
    let Some(shared) =
        common::shared_dir("risk_arrays_of_the_real_deribit_chain_equal_black76_revaluations")
    else {
        return;
    };
    let path =
        shared.join("data/deribit_svcj_snapshots/deribit_options_snapshot_20260205T042952Z.csv");
    let text = std::fs::read_to_string(&path).expect("snapshot is readable");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let (ts, name, fwd, iv, index, ccy) = (
        col("timestamp"),
        col("instrument_name"),
        col("underlying"),
        col("implied_volatility"),
        col("index_price"),
        col("currency"),
    );
    let mut json_assets = BTreeMap::new();
    let mut forwards: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut marks = BTreeMap::new();
    let mut as_of = String::new();
    let mut names = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let code = f[name].split('-').nth(1).expect("expiry").to_owned();
        as_of = f[ts].split('.').next().expect("time").to_owned() + "Z";
        json_assets.insert(f[ccy].to_owned(), f[index].parse::<f64>().expect("index"));
        forwards
            .entry(f[ccy].to_owned())
            .or_default()
            .insert(code, f[fwd].parse().expect("forward"));
        marks.insert(f[name].to_owned(), f[iv].parse::<f64>().expect("iv"));
        names.push(f[name]);
    }
    let market = MarketSnapshot {
        as_of,
        assets: json_assets
            .iter()
            .map(|(coin, &price_usd)| {
                let quote =
                    format!(r#"{{"price_usd": {price_usd}, "ewma_vol": 0.5, "depth_usd": 5e7}}"#);
                (coin.clone(), serde_json::from_str(&quote).expect("quote"))
            })
            .collect(),
        underlyings: forwards
            .into_iter()
            .map(|(coin, forwards)| {
                let quote = serde_json::json!({ "forwards": forwards });
                (coin, serde_json::from_value(quote).expect("underlying"))
            })
            .collect(),
        mark_ivs: marks,
    };
    // Whole seconds from the snapshot to 08:00 UTC of the expiry day, ACT/365 (docs/conventions.md; the
    // file's own time_to_maturity counts 365.25-day years).
    let as_of_s = market.as_of_unix_s().expect("time");
    let years = |code: &str| {
        let expiry = rtm2m_margin::instrument::parse_expiry_code(code).expect("code");
        (expiry - as_of_s) as f64 / 31_536_000.0
    };
    let checked = check_arrays(&market, &names, &years, &BTreeMap::new());
    assert_eq!(checked, names.len() * 174);
    assert!(names.len() > 1_600, "{} options", names.len());
}
