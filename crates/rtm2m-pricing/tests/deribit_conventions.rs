//! Coin-settled options in Deribit's conventions, checked against Deribit's own published tickers
//! (`../shared/data/deribit_ticker_2021-02-09`: mark price in coin, mark IV, and Greeks, for 2,038 BTC and
//! ETH options). Skips with a note when `../shared` is absent (a fresh clone); CI always has it.

use rtm2m_pricing::implied_vol_black76;
use rtm2m_pricing::inverse::inverse_option;
use rtm2m_pricing::OptionKind;
use std::path::PathBuf;

const FILES: [&str; 4] = [
    "btc_option_data_20210209.csv",
    "eth_option_data_20210209.csv",
    "btc_option_data.csv",
    "eth_option_data.csv",
];

fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/deribit_ticker_2021-02-09");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "NOTE: {} is absent; skipping the Deribit ticker checks",
            dir.display()
        );
        None
    }
}

/// Deribit expiry `11FEB21` → 08:00 UTC that day, as Unix milliseconds.
fn expiry_ms(code: &str) -> i64 {
    let (day, rest) = code.split_at(code.len() - 5);
    let (month, year) = rest.split_at(3);
    let month = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ]
    .iter()
    .position(|m| *m == month)
    .expect("month code") as i64
        + 1;
    let (day, year): (i64, i64) = (
        day.parse().expect("day"),
        2000 + year.parse::<i64>().expect("year"),
    );
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + 8 * 3_600) * 1_000
}

struct Ticker {
    name: String,
    kind: OptionKind,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    mark_price_coin: f64,
    mark_iv: f64,
    delta: f64,
    gamma: f64,
    vega: f64,
    theta: f64,
}

fn tickers() -> Option<Vec<Ticker>> {
    let dir = data_dir()?;
    let mut out = Vec::new();
    for file in FILES {
        let mut reader = csv::Reader::from_path(dir.join(file)).expect("ticker file opens");
        let headers = reader.headers().expect("header").clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        let (c_name, c_forward, c_ts) = (
            column("instrument_name"),
            column("underlying_price"),
            column("timestamp"),
        );
        let (c_mark, c_iv) = (column("mark_price"), column("mark_iv"));
        let (c_delta, c_gamma, c_vega, c_theta) = (
            column("greeks.delta"),
            column("greeks.gamma"),
            column("greeks.vega"),
            column("greeks.theta"),
        );
        for record in reader.records() {
            let r = record.expect("CSV record");
            let name = r[c_name].to_string();
            let parts: Vec<&str> = name.split('-').collect();
            let number = |c: usize| r[c].parse::<f64>().expect("number");
            let timestamp_ms: i64 = r[c_ts].parse().expect("timestamp");
            out.push(Ticker {
                kind: if parts[3] == "C" {
                    OptionKind::Call
                } else {
                    OptionKind::Put
                },
                forward: number(c_forward),
                strike: parts[2].parse().expect("strike"),
                expiry_years: (expiry_ms(parts[1]) - timestamp_ms) as f64 / (365.0 * 86_400_000.0),
                mark_price_coin: number(c_mark),
                mark_iv: number(c_iv) / 100.0,
                delta: number(c_delta),
                gamma: number(c_gamma),
                vega: number(c_vega),
                theta: number(c_theta),
                name,
            });
        }
    }
    Some(out)
}

fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn mark_iv_reproduces_deribits_coin_mark_price() {
    let Some(tickers) = tickers() else { return };
    assert!(tickers.len() > 2000, "{} tickers", tickers.len());
    // Our implied vol of Deribit's coin mark price (Black-76 on the forward, r = 0, ACT/365 to 08:00 UTC)
    // against Deribit's mark IV, in vol points, where the IV is well determined (|delta| in [0.05, 0.95]:
    // elsewhere the 1e-8 coin rounding of the mark price alone moves the IV by tenths of a point).
    let mut errors = Vec::new();
    for t in tickers
        .iter()
        .filter(|t| (0.05..=0.95).contains(&t.delta.abs()))
    {
        let price_usd = t.mark_price_coin * t.forward;
        let iv = implied_vol_black76(t.kind, price_usd, t.forward, t.strike, t.expiry_years, 1.0)
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        errors.push(((iv - t.mark_iv) * 100.0).abs());
    }
    let (median, p95) = (
        quantile(errors.clone(), 0.5),
        quantile(errors.clone(), 0.95),
    );
    eprintln!("IV of Deribit's mark price vs its mark IV, {} options: median {median:.4}, 95% {p95:.4} vol points", errors.len());
    assert!(errors.len() > 1500);
    assert!(median < 0.02, "median {median}");
    assert!(p95 < 0.4, "95th percentile {p95}");
}

#[test]
fn greeks_follow_deribits_units() {
    let Some(tickers) = tickers() else { return };
    // Under a day to expiry Deribit's theta is the decay left to expiry, not a per-day rate: skip those.
    let tickers: Vec<&Ticker> = tickers
        .iter()
        .filter(|t| t.expiry_years >= 1.0 / 365.0)
        .collect();
    let (mut delta, mut gamma, mut vega, mut theta) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in &tickers {
        let g = inverse_option(t.kind, t.forward, t.strike, t.expiry_years, t.mark_iv)
            .expect("valid ticker");
        // Deribit publishes 5 decimals: gamma (1e-5 to 1e-3) keeps only its rounding, so it is compared in
        // absolute terms against the half-unit 5e-6.
        delta.push((g.delta - t.delta).abs());
        gamma.push((g.gamma - t.gamma).abs());
        vega.push((g.vega_usd_per_vol_point - t.vega).abs() / (t.vega.abs() + 1e-5));
        theta.push((g.theta_usd_per_day - t.theta).abs() / (t.theta.abs() + 1e-5));
    }
    // A ticker's Greeks, forward and timestamp come from moments a little apart, so the check is on the
    // bulk: a unit or convention error (per vol point vs per 1.00, per day vs per year, premium-adjusted
    // delta, 360 vs 365 days) would move the medians by orders of magnitude.
    for (name, errors, median_max, p95_max) in [
        ("delta (absolute)", delta, 2e-5, 2e-4),
        ("gamma (absolute)", gamma.clone(), 3e-6, 5e-6),
        ("vega (relative)", vega, 1e-4, 5e-3),
        ("theta (relative)", theta, 1e-4, 2e-2),
    ] {
        let (median, p95) = (quantile(errors.clone(), 0.5), quantile(errors, 0.95));
        eprintln!(
            "{name}: median error {median:.2e}, 95% {p95:.2e} over {} tickers",
            tickers.len()
        );
        assert!(
            median <= median_max && p95 <= p95_max,
            "{name}: median {median:e}, 95% {p95:e}"
        );
    }
    let gamma_max = gamma.iter().copied().fold(0.0, f64::max);
    // Rounding (5e-6) plus a margin for the drift of the forward between a ticker's fields.
    assert!(
        gamma_max <= 6e-6,
        "gamma off by more than Deribit's rounding: {gamma_max:e}"
    );
}
