//! Coin-settled (inverse) options as Deribit quotes them: premium in coin, Greeks in Deribit's units.
//! The conventions are spelled out in [`crate::conventions`].

use crate::black::{black76_price, normalised_black};
use crate::error::{require_non_negative, require_positive};
use crate::special::{norm_cdf, FRAC_1_SQRT_2PI};
use crate::{OptionKind, PricingError};

/// Calendar days per year in Deribit's theta convention.
pub const DAYS_PER_YEAR: f64 = 365.0;

/// Premium and Greeks of a coin-settled option, in Deribit's conventions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InverseGreeks {
    /// Premium in coin (BTC, ETH) per option on one coin: USD premium / forward.
    pub price_coin: f64,
    /// Premium in USD: the Black-76 premium on the forward with r = 0.
    pub price_usd: f64,
    /// Deribit's delta: θ·Φ(θd₁) on the forward, not premium-adjusted.
    pub delta: f64,
    /// Premium-adjusted delta in coin: `delta − price_coin`, the coin exposure of a coin-settled option.
    pub delta_premium_adjusted: f64,
    /// Gamma per USD of forward: φ(d₁)/(F·σ√T).
    pub gamma: f64,
    /// Vega in USD per 1 vol point.
    pub vega_usd_per_vol_point: f64,
    /// Theta in USD per calendar day (365-day year), as time passes.
    pub theta_usd_per_day: f64,
}

/// Premium (coin and USD) and Greeks of a coin-settled European option on `forward` (USD per coin).
pub fn inverse_option(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
) -> Result<InverseGreeks, PricingError> {
    require_positive("forward", forward)?;
    require_positive("strike", strike)?;
    require_non_negative("expiry_years", expiry_years)?;
    require_non_negative("vol", vol)?;
    let price_usd = black76_price(kind, forward, strike, expiry_years, vol, 1.0)?;
    let price_coin = price_usd / forward;
    let theta_sign = kind.sign();
    let stddev = vol * expiry_years.sqrt();
    let x = crate::special::ln_ratio(forward, strike);
    let (delta, pdf_d1) = if stddev > 0.0 {
        let d1 = x / stddev + 0.5 * stddev;
        (
            theta_sign * norm_cdf(theta_sign * d1),
            FRAC_1_SQRT_2PI * (-0.5 * d1 * d1).exp(),
        )
    } else {
        let step = if theta_sign * x > 0.0 {
            1.0
        } else if x == 0.0 {
            0.5
        } else {
            0.0
        };
        (theta_sign * step, 0.0)
    };
    let (gamma, theta_per_year) = if stddev > 0.0 {
        (
            pdf_d1 / (forward * stddev),
            -forward * pdf_d1 * vol / (2.0 * expiry_years.sqrt()),
        )
    } else if x == 0.0 {
        (
            f64::INFINITY,
            if vol > 0.0 { f64::NEG_INFINITY } else { 0.0 },
        )
    } else {
        (0.0, 0.0)
    };
    debug_assert!(normalised_black(x, stddev, kind) >= 0.0);
    Ok(InverseGreeks {
        price_coin,
        price_usd,
        delta,
        delta_premium_adjusted: delta - price_coin,
        gamma,
        vega_usd_per_vol_point: forward * pdf_d1 * expiry_years.sqrt() / 100.0,
        theta_usd_per_day: theta_per_year / DAYS_PER_YEAR,
    })
}
