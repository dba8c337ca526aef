//! Funding rates from prices: the premium-index formula of periodic venues and Deribit's continuous one.
//!
//! Periodic (Binance USDⓈ-M, BitMEX, and the venues that copied them: Bybit, Gate, HTX, KuCoin):
//! - premium index `P = [max(0, impact_bid − index) − max(0, index − impact_ask)] / index`, sampled through
//!   the period and averaged with linear weights `(1·P₁ + 2·P₂ + … + n·Pₙ) / (1 + 2 + … + n)` (Binance,
//!   "Introduction to Binance Futures Funding Rates"; BitMEX, "Perpetual Contracts Guide");
//! - rate for the period `F = P + clamp(I − P, −0.05%, +0.05%)`, `I` the interest-rate component (0.01% per
//!   8 hours on Binance), then a per-contract cap `clamp(F, min, max)` (Binance: ±0.3% for BTCUSDT during
//!   2020–2023, visible in the histories of `../shared/data`).
//!
//! Deribit (support.deribit.com, "Funding Specifications"): premium rate `p = (mark − index) / index`,
//! rate per 8 hours `f = max(d, p) + min(−d, p)` (zero inside the dead zone `[−d, d]`), capped per
//! instrument; `d` is 0.025% in the current specification and was 0.05% in the original one (also bit.com's).
//! The payment over a time `Δt` is `f · position · Δt / 8 h` (see [`crate::accrual`]).

use crate::{finite, non_negative, positive, FundingError};

type Result<T> = std::result::Result<T, FundingError>;

/// Bounds on a funding rate, fractions per period: the rate is `clamp(rate, min, max)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateCap {
    /// Lowest rate, fraction per period (e.g. −0.003).
    pub min: f64,
    /// Highest rate, fraction per period (e.g. 0.003).
    pub max: f64,
}

impl RateCap {
    /// The cap `[min, max]`, checked: finite and `min ≤ max`.
    pub fn new(min: f64, max: f64) -> Result<RateCap> {
        finite("cap.min", min)?;
        finite("cap.max", max)?;
        if min > max {
            return Err(FundingError::new(
                "cap.min",
                format!("{min} is above cap.max {max}"),
            ));
        }
        Ok(RateCap { min, max })
    }

    fn apply(self, rate: f64) -> f64 {
        rate.clamp(self.min, self.max)
    }
}

/// Parameters of the periodic formula `F = clamp_cap(P + clamp(I − P, −c, +c))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodicParams {
    /// `I`, the interest-rate component per funding period, fraction (Binance: 0.0001 per 8 h).
    pub interest_rate: f64,
    /// `c`, the half-width of the clamp on `I − P`, fraction per period (0.0005, i.e. ±0.05%).
    pub clamp: f64,
    /// The contract's cap on the rate, if any.
    pub cap: Option<RateCap>,
}

impl PeriodicParams {
    /// Binance USDⓈ-M perpetuals: `I` = 0.01% per 8 hours, clamp ±0.05%, no cap (add one with
    /// [`PeriodicParams::with_cap`]; it varies by contract).
    pub fn binance() -> PeriodicParams {
        PeriodicParams {
            interest_rate: 0.0001,
            clamp: 0.0005,
            cap: None,
        }
    }

    /// The same parameters with the cap `[min, max]`.
    pub fn with_cap(self, min: f64, max: f64) -> Result<PeriodicParams> {
        Ok(PeriodicParams {
            cap: Some(RateCap::new(min, max)?),
            ..self
        })
    }

    fn check(&self) -> Result<()> {
        finite("interest_rate", self.interest_rate)?;
        non_negative("clamp", self.clamp)?;
        if let Some(cap) = self.cap {
            RateCap::new(cap.min, cap.max)?;
        }
        Ok(())
    }
}

/// Deribit's dead zone and cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeribitParams {
    /// `d`: premium rates within `[−d, d]` fund nothing; outside, the rate is the premium less `d`.
    pub dead_zone: f64,
    /// The instrument's cap on the rate per 8 hours, if any.
    pub cap: Option<RateCap>,
}

impl DeribitParams {
    /// Deribit's current specification: dead zone ±0.025%, no cap (add the instrument's with
    /// [`DeribitParams::with_cap`]).
    pub fn current() -> DeribitParams {
        DeribitParams {
            dead_zone: 0.00025,
            cap: None,
        }
    }

    /// Deribit's original specification (and bit.com's): dead zone ±0.05%, no cap.
    pub fn original() -> DeribitParams {
        DeribitParams {
            dead_zone: 0.0005,
            cap: None,
        }
    }

    /// The same parameters with the cap `[min, max]` per 8 hours.
    pub fn with_cap(self, min: f64, max: f64) -> Result<DeribitParams> {
        Ok(DeribitParams {
            cap: Some(RateCap::new(min, max)?),
            ..self
        })
    }

    fn check(&self) -> Result<()> {
        non_negative("dead_zone", self.dead_zone)?;
        if let Some(cap) = self.cap {
            RateCap::new(cap.min, cap.max)?;
        }
        Ok(())
    }
}

/// The premium index of one sample, fraction:
/// `[max(0, impact_bid − index) − max(0, index − impact_ask)] / index` (Binance, BitMEX).
///
/// Zero when the index lies between the impact prices; positive when buyers pay above the index.
pub fn premium_index(impact_bid: f64, impact_ask: f64, index_price: f64) -> Result<f64> {
    positive("impact_bid", impact_bid)?;
    positive("impact_ask", impact_ask)?;
    positive("index_price", index_price)?;
    if impact_bid > impact_ask {
        return Err(FundingError::new(
            "impact_bid",
            format!("{impact_bid} is above impact_ask {impact_ask}"),
        ));
    }
    Ok(((impact_bid - index_price).max(0.0) - (index_price - impact_ask).max(0.0)) / index_price)
}

/// Binance's average premium index of a period: samples in time order, weighted 1, 2, …, n
/// (`(1·P₁ + … + n·Pₙ) / (1 + … + n)`), so later samples count more.
pub fn average_premium_index(samples: &[f64]) -> Result<f64> {
    if samples.is_empty() {
        return Err(FundingError::new("samples", "must not be empty"));
    }
    let mut weighted = 0.0;
    let mut weights = 0.0;
    for (i, &p) in samples.iter().enumerate() {
        finite(&format!("samples[{i}]"), p)?;
        let w = (i + 1) as f64;
        weighted += w * p;
        weights += w;
    }
    Ok(weighted / weights)
}

/// The funding rate of one period, `F = P + clamp(I − P, −c, +c)`, then capped: Binance's and BitMEX's
/// formula. `average_premium` is `P`, a fraction (from [`average_premium_index`]).
///
/// When `P` is within `c` of `I` the rate is exactly `I`.
pub fn periodic_rate(average_premium: f64, params: &PeriodicParams) -> Result<f64> {
    finite("average_premium", average_premium)?;
    params.check()?;
    let (i, c) = (params.interest_rate, params.clamp);
    let p = average_premium;
    let spread = i - p;
    // Inside the band the formula is P + (I − P); written as I so it is exactly I, as venues publish it.
    let rate = if spread.abs() <= c {
        i
    } else {
        p + spread.clamp(-c, c)
    };
    let rate = params.cap.map_or(rate, |cap| cap.apply(rate));
    debug_assert!(rate.is_finite());
    Ok(rate)
}

/// The average premiums `P` that give the published rate `rate` under `params`: `[lo, hi]`.
///
/// `rate = I` comes from any `P` in `[I − c, I + c]`; above `I` only from `P = rate + c`, below only from
/// `P = rate − c`. At a cap bound the range extends to ±∞ on that side. A rate outside the cap is refused.
/// This is how a history that publishes rates alone is checked against the formula (`docs/funding.md`).
pub fn implied_premium_range(rate: f64, params: &PeriodicParams) -> Result<(f64, f64)> {
    finite("rate", rate)?;
    params.check()?;
    let (i, c) = (params.interest_rate, params.clamp);
    let (mut lo, mut hi) = if rate == i {
        (i - c, i + c)
    } else if rate > i {
        (rate + c, rate + c)
    } else {
        (rate - c, rate - c)
    };
    if let Some(cap) = params.cap {
        if rate > cap.max || rate < cap.min {
            return Err(FundingError::new(
                "rate",
                format!("{rate} is outside the cap [{}, {}]", cap.min, cap.max),
            ));
        }
        if rate == cap.max {
            hi = f64::INFINITY;
        }
        if rate == cap.min {
            lo = f64::NEG_INFINITY;
        }
    }
    Ok((lo, hi))
}

/// Deribit's premium rate, `(mark − index) / index`, fraction.
pub fn premium_rate(mark_price: f64, index_price: f64) -> Result<f64> {
    positive("mark_price", mark_price)?;
    positive("index_price", index_price)?;
    Ok((mark_price - index_price) / index_price)
}

/// Deribit's funding rate per 8 hours from a mark and an index:
/// `clamp_cap(max(d, p) + min(−d, p))`, `p` the [`premium_rate`]. Zero inside the dead zone.
pub fn deribit_rate(mark_price: f64, index_price: f64, params: &DeribitParams) -> Result<f64> {
    params.check()?;
    let p = premium_rate(mark_price, index_price)?;
    let d = params.dead_zone;
    let rate = p.max(d) + p.min(-d);
    Ok(params.cap.map_or(rate, |cap| cap.apply(rate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_rate_matches_hand_computed_cases() {
        let binance = PeriodicParams::binance();
        // P inside [I − 0.05%, I + 0.05%] = [−0.0004, 0.0006]: F = I.
        assert_eq!(periodic_rate(0.0003, &binance), Ok(0.0001));
        assert_eq!(periodic_rate(-0.0004, &binance), Ok(0.0001));
        assert_eq!(periodic_rate(0.0006, &binance), Ok(0.0001));
        // P = 0.10%: I − P = −0.09% clamps to −0.05%, F = 0.10% − 0.05% = 0.05%.
        let f = periodic_rate(0.001, &binance).expect("valid");
        assert!((f - 0.0005).abs() < 1e-18, "{f}");
        // P = −0.10%: I − P = 0.11% clamps to 0.05%, F = −0.05%.
        let f = periodic_rate(-0.001, &binance).expect("valid");
        assert!((f + 0.0005).abs() < 1e-18, "{f}");
        // With Binance BTCUSDT's ±0.3% cap, P = 1% gives 0.3%, not 0.95%.
        let capped = binance.with_cap(-0.003, 0.003).expect("valid cap");
        assert_eq!(periodic_rate(0.01, &capped), Ok(0.003));
        assert_eq!(periodic_rate(-0.01, &capped), Ok(-0.003));
    }

    #[test]
    fn premium_index_and_its_weighted_average_match_hand_computed_cases() {
        // Buyers' impact price 60 above a 50,000 index: 60 / 50,000 = 0.12%.
        assert_eq!(premium_index(50_060.0, 50_070.0, 50_000.0), Ok(0.0012));
        // Sellers' impact price 25 below: −25 / 50,000.
        assert_eq!(premium_index(49_970.0, 49_975.0, 50_000.0), Ok(-0.0005));
        // Index between the impact prices: no premium.
        assert_eq!(premium_index(49_990.0, 50_010.0, 50_000.0), Ok(0.0));
        // (1·0.001 + 2·0.002 + 3·0.003) / 6 = 0.014 / 6.
        let average = average_premium_index(&[0.001, 0.002, 0.003]).expect("valid");
        assert!((average - 0.014 / 6.0).abs() < 1e-18);
    }

    #[test]
    fn deribit_rate_has_a_dead_zone_and_subtracts_it_outside() {
        // Mark 50,100 over index 50,000: premium 0.2%.
        let original = deribit_rate(50_100.0, 50_000.0, &DeribitParams::original()).expect("ok");
        assert!((original - 0.0015).abs() < 1e-15, "{original}");
        let current = deribit_rate(50_100.0, 50_000.0, &DeribitParams::current()).expect("ok");
        assert!((current - 0.00175).abs() < 1e-15, "{current}");
        // Mark 49,900: −0.2% premium, −0.15% (original).
        let below = deribit_rate(49_900.0, 50_000.0, &DeribitParams::original()).expect("ok");
        assert!((below + 0.0015).abs() < 1e-15, "{below}");
        // 0.02% premium is inside both dead zones: exactly zero.
        assert_eq!(
            deribit_rate(50_010.0, 50_000.0, &DeribitParams::current()),
            Ok(0.0)
        );
        let capped = DeribitParams::current()
            .with_cap(-0.005, 0.005)
            .expect("valid cap");
        assert_eq!(deribit_rate(60_000.0, 50_000.0, &capped), Ok(0.005));
    }

    #[test]
    fn implied_premiums_are_the_inverse_of_the_formula() {
        let p = PeriodicParams::binance();
        let (lo, hi) = implied_premium_range(0.0001, &p).expect("valid");
        assert!(
            (lo + 0.0004).abs() < 1e-18 && (hi - 0.0006).abs() < 1e-18,
            "{lo} {hi}"
        );
        let (lo, hi) = implied_premium_range(0.0005, &p).expect("valid");
        assert_eq!(lo, hi);
        assert!((lo - 0.001).abs() < 1e-18);
        let capped = p.with_cap(-0.003, 0.003).expect("valid cap");
        assert_eq!(
            implied_premium_range(0.003, &capped).map(|r| r.1),
            Ok(f64::INFINITY)
        );
        assert_eq!(
            implied_premium_range(0.004, &capped),
            Err(FundingError::new(
                "rate",
                "0.004 is outside the cap [-0.003, 0.003]"
            ))
        );
    }

    #[test]
    fn bad_inputs_are_named_by_field() {
        let err = |r: Result<f64>| r.expect_err("invalid").to_string();
        assert_eq!(
            err(premium_index(1.0, 2.0, 0.0)),
            "index_price: must be > 0, found 0"
        );
        assert_eq!(
            err(premium_index(2.0, 1.0, 1.0)),
            "impact_bid: 2 is above impact_ask 1"
        );
        assert_eq!(
            err(average_premium_index(&[0.1, f64::NAN])),
            "samples[1]: must be a finite number, found NaN"
        );
        assert_eq!(
            err(average_premium_index(&[])),
            "samples: must not be empty"
        );
        assert_eq!(
            err(periodic_rate(f64::INFINITY, &PeriodicParams::binance())),
            "average_premium: must be a finite number, found inf"
        );
        let bad = PeriodicParams {
            clamp: -0.1,
            ..PeriodicParams::binance()
        };
        assert_eq!(
            err(periodic_rate(0.0, &bad)),
            "clamp: must be ≥ 0, found -0.1"
        );
        assert_eq!(
            err(deribit_rate(-1.0, 1.0, &DeribitParams::current())),
            "mark_price: must be > 0, found -1"
        );
        assert_eq!(
            RateCap::new(0.1, -0.1).expect_err("min > max").to_string(),
            "cap.min: 0.1 is above cap.max -0.1"
        );
    }
}
