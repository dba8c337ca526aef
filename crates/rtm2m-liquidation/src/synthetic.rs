//! A synthetic BTC market and a seeded synthetic population of accounts, for the cascade simulation and for
//! tests. Deterministic: the same seed gives the same accounts, bit for bit (ChaCha8).
//!
//! **Market.** One underlying, BTC: index S, perpetual at the index, three dated expiries (~25, ~53 and ~81
//! days out) with forwards `S·e^{basis·T}`, USD-settled options on a strike grid of 60%…140% of the starting
//! index in 5% steps. Vols follow a fixed smile in log-moneyness k = ln(K/F),
//! `σ = σ_ATM·(1 − 0.25·k + 0.6·k²)` clamped to [0.15, 3], and the ATM level rises as the index falls below its
//! start (spot-vol beta): `σ_ATM = σ₀·(1 + β·max(0, −ln(S/S₀)))`.
//!
//! **Population.** Each account is one of five kinds, drawn with fixed weights: directional perpetuals (35%,
//! two in three long), directional futures (15%), short premium (20%: a short put 5–25% out of the money and,
//! half the time, a short call 5–30% out), protected longs (10%: long perpetual and a long put), and leveraged
//! spot (20%: BTC collateral bought with borrowed cash). Sizes are log-normal (median 50 000 USD of notional).
//! Each account's cash is then set so that its equity is `m` times its maintenance requirement under the
//! `rtm2m` model at the start, with `m = 1.02 + Exp(mean 0.8)`: many accounts sit close to maintenance, as on
//! a real venue, and none starts liquidatable.

use crate::error::{require_in, require_positive, LiquidationError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use rtm2m_margin::account::{Account, Collateral, Position};
use rtm2m_margin::engine::{prepare, rtm2m_requirements, Rtm2mParams};
use rtm2m_margin::instrument::{SECONDS_PER_DAY, SECONDS_PER_YEAR};
use rtm2m_margin::market::{AssetQuote, MarkIvs, MarketSnapshot, UnderlyingQuote};
use rtm2m_margin::market_risk::MarketRisk;
use std::collections::BTreeMap;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Civil date of a day count since 1970-01-01 (H. Hinnant, "chrono-compatible low-level date algorithms",
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// RFC 3339 UTC text of whole seconds since the epoch, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(unix_s: i64) -> String {
    let days = unix_s.div_euclid(SECONDS_PER_DAY);
    let secs = unix_s.rem_euclid(SECONDS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Deribit expiry code (`27MAR26`) of the day containing `unix_s`.
fn expiry_code(unix_s: i64) -> String {
    let (y, m, d) = civil_from_days(unix_s.div_euclid(SECONDS_PER_DAY));
    format!("{d}{}{:02}", MONTHS[(m - 1) as usize], y.rem_euclid(100))
}

/// The synthetic BTC market.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticMarket {
    /// Start of the simulation, Unix seconds.
    pub start_unix_s: i64,
    /// Index at the start, USD.
    pub spot0_usd: f64,
    /// ATM vol at the starting index, annualised fraction.
    pub atm_vol0: f64,
    /// β of the ATM vol's rise as the index falls.
    pub vol_spot_beta: f64,
    /// Forward basis, per year (continuous).
    pub basis_per_year: f64,
    /// Expiries: (code, 08:00 UTC Unix seconds).
    pub expiries: Vec<(String, i64)>,
    /// Option strikes, USD.
    pub strikes_usd: Vec<f64>,
    /// Every instrument name, in a fixed order (spot, perpetual, futures, options).
    pub names: Vec<String>,
}

impl SyntheticMarket {
    /// The market described in the module documentation: index `spot0_usd` at `start_unix_s`, ATM vol 50%,
    /// basis 5% a year, spot-vol beta `vol_spot_beta`.
    pub fn btc(
        start_unix_s: i64,
        spot0_usd: f64,
        vol_spot_beta: f64,
    ) -> Result<SyntheticMarket, LiquidationError> {
        let c = "synthetic market";
        require_positive(c, "spot0_usd", spot0_usd)?;
        require_in(c, "vol_spot_beta", vol_spot_beta, 0.0, 20.0)?;
        let day0 = start_unix_s.div_euclid(SECONDS_PER_DAY);
        let expiries: Vec<(String, i64)> = [25, 53, 81]
            .iter()
            .map(|d| {
                let t = (day0 + d) * SECONDS_PER_DAY + 8 * 3600;
                (expiry_code(t), t)
            })
            .collect();
        let strikes_usd: Vec<f64> = (0..17)
            .map(|i| (spot0_usd * (0.6 + 0.05 * f64::from(i))).round())
            .collect();
        let mut names = vec!["BTC_USDC".to_owned(), "BTC-PERPETUAL".to_owned()];
        names.extend(expiries.iter().map(|(code, _)| format!("BTC-{code}")));
        for (code, _) in &expiries {
            for k in &strikes_usd {
                for cp in ["C", "P"] {
                    names.push(format!("BTC_USDC-{code}-{k}-{cp}"));
                }
            }
        }
        Ok(SyntheticMarket {
            start_unix_s,
            spot0_usd,
            atm_vol0: 0.5,
            vol_spot_beta,
            basis_per_year: 0.05,
            expiries,
            strikes_usd,
            names,
        })
    }

    /// Forward of expiry `expiry_unix_s` at `time_unix_s` with index `index_usd`, USD.
    pub fn forward_usd(&self, time_unix_s: i64, index_usd: f64, expiry_unix_s: i64) -> f64 {
        let years = ((expiry_unix_s - time_unix_s) as f64 / SECONDS_PER_YEAR).max(0.0);
        index_usd * (self.basis_per_year * years).exp()
    }

    /// Vol of strike `strike_usd` on forward `forward_usd` when the index is `index_usd`.
    pub fn vol(&self, strike_usd: f64, forward_usd: f64, index_usd: f64) -> f64 {
        let fall = (-(index_usd / self.spot0_usd).ln()).max(0.0);
        let atm = self.atm_vol0 * (1.0 + self.vol_spot_beta * fall);
        let k = (strike_usd / forward_usd).ln();
        (atm * (1.0 - 0.25 * k + 0.6 * k * k)).clamp(0.15, 3.0)
    }

    /// The market snapshot at `time_unix_s` with index `index_usd`.
    pub fn snapshot(&self, time_unix_s: i64, index_usd: f64) -> MarketSnapshot {
        let mut forwards = BTreeMap::new();
        let mut mark_ivs = BTreeMap::new();
        for (code, t) in &self.expiries {
            let f = self.forward_usd(time_unix_s, index_usd, *t);
            forwards.insert(code.clone(), f);
            for k in &self.strikes_usd {
                let v = self.vol(*k, f, index_usd);
                for cp in ["C", "P"] {
                    mark_ivs.insert(format!("BTC_USDC-{code}-{k}-{cp}"), v);
                }
            }
        }
        let mut assets = BTreeMap::new();
        assets.insert(
            "BTC".to_owned(),
            AssetQuote {
                price_usd: index_usd,
                confidence: 1.0,
                ewma_vol: Some(self.atm_vol0),
                depth_usd: Some(5e8),
                stablecoin: false,
                static_haircut: None,
            },
        );
        let mut underlyings = BTreeMap::new();
        underlyings.insert(
            "BTC".to_owned(),
            UnderlyingQuote {
                rate: 0.0,
                perp_usd: Some(index_usd),
                forwards,
                settlements: BTreeMap::new(),
            },
        );
        MarketSnapshot {
            as_of: format_utc(time_unix_s),
            assets,
            underlyings,
            mark_ivs,
        }
    }

    /// Values every instrument of the market on `snapshot` over the grid of `params`.
    pub fn risk(
        &self,
        snapshot: &MarketSnapshot,
        params: &Rtm2mParams,
    ) -> Result<MarketRisk, LiquidationError> {
        Ok(MarketRisk::build(
            snapshot,
            &MarkIvs(&snapshot.mark_ivs),
            &params.grid,
            self.names.iter().map(String::as_str),
        )?)
    }
}

fn option_name(code: &str, strike_usd: f64, call: bool) -> String {
    format!(
        "BTC_USDC-{code}-{strike_usd}-{}",
        if call { "C" } else { "P" }
    )
}

/// The strike of the grid nearest to `target_usd`.
fn nearest(strikes: &[f64], target_usd: f64) -> f64 {
    strikes
        .iter()
        .copied()
        .min_by(|a, b| (a - target_usd).abs().total_cmp(&(b - target_usd).abs()))
        .unwrap_or(target_usd)
}

/// `n` accounts drawn with `seed` as the module documentation describes, their cash set on the market at its
/// start with the `rtm2m` model `params`.
pub fn population(
    market: &SyntheticMarket,
    params: &Rtm2mParams,
    n: usize,
    seed: u64,
) -> Result<Vec<Account>, LiquidationError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let snapshot = market.snapshot(market.start_unix_s, market.spot0_usd);
    let risk = market.risk(&snapshot, params)?;
    let s = market.spot0_usd;
    let notional = LogNormal::new((50_000.0f64).ln(), 1.0).expect("valid log-normal");
    let headroom = Exp::new(1.0 / 0.8).expect("valid exponential");
    let mut pnl = Vec::new();
    let mut out = Vec::with_capacity(n);
    for a in 0..n {
        let size = (notional.sample(&mut rng).clamp(1_000.0, 5_000_000.0) / s).max(1e-4);
        let (code, expiry) = market.expiries[rng.random_range(0..market.expiries.len())].clone();
        let forward = market.forward_usd(market.start_unix_s, s, expiry);
        let u: f64 = rng.random();
        let mut account = Account {
            id: format!("acct-{a:05}"),
            ..Account::default()
        };
        let position = |instrument: String, size: f64, entry: Option<f64>| Position {
            instrument,
            size,
            entry_price_usd: entry,
        };
        if u < 0.35 {
            let side = if rng.random_bool(2.0 / 3.0) {
                1.0
            } else {
                -1.0
            };
            account
                .positions
                .push(position("BTC-PERPETUAL".into(), side * size, Some(s)));
        } else if u < 0.50 {
            let side = if rng.random_bool(2.0 / 3.0) {
                1.0
            } else {
                -1.0
            };
            account
                .positions
                .push(position(format!("BTC-{code}"), side * size, Some(forward)));
        } else if u < 0.70 {
            let k_put = nearest(&market.strikes_usd, s * rng.random_range(0.75..0.95));
            account
                .positions
                .push(position(option_name(&code, k_put, false), -size, None));
            if rng.random_bool(0.5) {
                let k_call = nearest(&market.strikes_usd, s * rng.random_range(1.05..1.3));
                account
                    .positions
                    .push(position(option_name(&code, k_call, true), -size, None));
            }
        } else if u < 0.80 {
            account
                .positions
                .push(position("BTC-PERPETUAL".into(), size, Some(s)));
            let k_put = nearest(&market.strikes_usd, s * rng.random_range(0.7..0.9));
            account
                .positions
                .push(position(option_name(&code, k_put, false), size, None));
        } else {
            account.collateral.push(Collateral {
                asset: "BTC".into(),
                amount: size,
            });
        }
        // Cash so that equity = m·MM at the start.
        let m = 1.02 + headroom.sample(&mut rng);
        let prepared = prepare(&account, &snapshot, &risk, params)?;
        let mm = rtm2m_requirements(&risk, &prepared, params, &mut pnl).mm_usd;
        account.cash_usd = m * mm - prepared.equity_usd;
        out.push(account);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtm2m_margin::instrument::{parse_expiry_code, parse_utc};

    #[test]
    fn utc_formatting_inverts_the_parser() {
        for t in [
            "2026-01-05T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "1970-01-01T00:00:00Z",
        ] {
            let s = parse_utc(t).expect("valid");
            assert_eq!(format_utc(s), t);
        }
        let t = parse_expiry_code("27MAR26").expect("valid");
        assert_eq!(expiry_code(t), "27MAR26");
        assert_eq!(
            expiry_code(parse_expiry_code("5JAN26").expect("valid")),
            "5JAN26"
        );
    }
}
