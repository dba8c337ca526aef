//! Black-76 and generalised Black–Scholes prices and analytic Greeks, built on normalised Black.
//!
//! Every price goes through the normalised Black function `b(x, s, θ)` of Jäckel ("Let's Be Rational",
//! Wilmott 2015, eq. 2.3), with `x = ln(F/K)`, `s = σ√T`:
//! `V = D·√(F·K)·b(x, s, θ)`, `b = θ·[e^{x/2}·Φ(θ(x/s + s/2)) − e^{−x/2}·Φ(θ(x/s − s/2))]`.
//! In-the-money options are reduced to out-of-the-money ones plus intrinsic value, and deep out-of-the-money
//! ones use the `erfcx` form, so no digits are lost to cancellation in the wings.
//! Units of every Greek are in [`crate::conventions`].

use crate::error::{require_finite, require_non_negative, require_positive};
use crate::special::{erf_small, erfcx_pair_non_negative, ln_ratio, norm_cdf, FRAC_1_SQRT_2PI};
use crate::{OptionKind, PricingError};
use std::f64::consts::FRAC_1_SQRT_2;

/// Inputs of the generalised Black–Scholes model (spot S, strike K, expiry T, volatility σ, rate r, yield q).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BsInputs {
    /// Spot price S, in quote currency (USD) per unit of underlying. Must be positive.
    pub spot: f64,
    /// Strike K, same unit as spot. Must be positive.
    pub strike: f64,
    /// Time to expiry T in years (the caller chooses the day count; see [`crate::conventions`]). ≥ 0.
    pub expiry_years: f64,
    /// Annualised volatility σ as a fraction (0.8 = 80%). ≥ 0.
    pub vol: f64,
    /// Continuously compounded risk-free rate r, per year, as a fraction.
    pub rate: f64,
    /// Continuously compounded dividend (or carry, borrow, staking) yield q, per year; carry b = r − q.
    pub dividend: f64,
}

impl BsInputs {
    /// Checks every field, naming the first invalid one.
    pub fn validate(&self) -> Result<(), PricingError> {
        require_positive("spot", self.spot)?;
        require_positive("strike", self.strike)?;
        require_non_negative("expiry_years", self.expiry_years)?;
        require_non_negative("vol", self.vol)?;
        require_finite("rate", self.rate)?;
        require_finite("dividend", self.dividend)?;
        let out_of_range = |field, reason| Err(PricingError::InvalidInput { field, reason });
        if !(PRICE_MIN..=PRICE_MAX).contains(&self.spot) {
            return out_of_range("spot", "must be between 1e-150 and 1e150");
        }
        if !(PRICE_MIN..=PRICE_MAX).contains(&self.strike) {
            return out_of_range("strike", "must be between 1e-150 and 1e150");
        }
        let t = self.expiry_years;
        if (self.rate * t).abs() >= RATE_TIME_MAX {
            return out_of_range("rate", "rate·expiry_years must be below 700 in magnitude");
        }
        if (self.dividend * t).abs() >= RATE_TIME_MAX
            || ((self.rate - self.dividend) * t).abs() >= RATE_TIME_MAX
        {
            return out_of_range(
                "dividend",
                "dividend·expiry_years and the carry must be below 700 in magnitude",
            );
        }
        if self.vol * self.vol * t >= VARIANCE_MAX {
            return out_of_range(
                "vol",
                "total variance vol²·expiry_years must be below 1e300",
            );
        }
        Ok(())
    }

    /// The forward F = S·e^{(r−q)T}.
    #[inline]
    pub fn forward(&self) -> f64 {
        self.spot * ((self.rate - self.dividend) * self.expiry_years).exp()
    }
}

/// Smallest and largest spot or strike accepted: products and square roots of two prices stay finite.
pub(crate) const PRICE_MIN: f64 = 1e-150;
/// See [`PRICE_MIN`].
pub(crate) const PRICE_MAX: f64 = 1e150;
/// Largest |r·T|, |q·T|, |(r − q)·T| accepted: e^{±700} and its products with prices stay finite.
pub(crate) const RATE_TIME_MAX: f64 = 700.0;
/// Largest total variance σ²T accepted.
pub(crate) const VARIANCE_MAX: f64 = 1e300;

/// The range checks of [`BsInputs::validate`] beyond signs and finiteness, branch-free for the batch kernel.
#[inline(always)]
pub(crate) fn scales_in_range(
    spot: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
    dividend: f64,
) -> bool {
    (PRICE_MIN..=PRICE_MAX).contains(&spot)
        & (PRICE_MIN..=PRICE_MAX).contains(&strike)
        & ((rate * expiry_years).abs() < RATE_TIME_MAX)
        & ((dividend * expiry_years).abs() < RATE_TIME_MAX)
        & (((rate - dividend) * expiry_years).abs() < RATE_TIME_MAX)
        & (vol * vol * expiry_years < VARIANCE_MAX)
}

/// Price and sensitivities of one option. Units: see [`crate::conventions`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Greeks {
    /// Premium, in the currency of spot and strike.
    pub price: f64,
    /// ∂V/∂S.
    pub delta: f64,
    /// ∂²V/∂S².
    pub gamma: f64,
    /// ∂V/∂σ per 1.00 of volatility.
    pub vega: f64,
    /// dV/dt per year as calendar time passes (= −∂V/∂T).
    pub theta: f64,
    /// ∂V/∂r per 1.00 of rate, spot held (the forward moves with r).
    pub rho: f64,
    /// ∂²V/∂S∂σ (change of delta per 1.00 of volatility).
    pub vanna: f64,
    /// ∂²V/∂σ² (change of vega per 1.00 of volatility).
    pub volga: f64,
    /// dΔ/dt per year as calendar time passes (= −∂²V/∂S∂T).
    pub charm: f64,
}

/// The normalised Black price `b(x, s, θ)` (Jäckel 2015, eq. 2.3) with `x = ln(F/K)`, `s = σ√T ≥ 0`.
///
/// The undiscounted option price is `√(F·K)·b`. Accurate to a few ulps relative, also far out of the money.
pub fn normalised_black(x: f64, s: f64, kind: OptionKind) -> f64 {
    debug_assert!(s >= 0.0 && x.is_finite());
    let itm = kind.sign() * x > 0.0;
    if s <= 0.0 {
        return if itm {
            normalised_intrinsic(x.abs())
        } else {
            0.0
        };
    }
    // One moneyness (one exponential) serves both the out-of-the-money part and the intrinsic value; the
    // intrinsic value is computed only when it is used: in the money, or in `otm_call_parts`'s middle branch
    // (the same floating-point test as there).
    let x_otm = -x.abs();
    let middle_branch = s < 0.7 && x_otm / s + 0.5 * s > 0.0;
    let moneyness = if itm || middle_branch {
        OtmMoneyness::new(x_otm)
    } else {
        OtmMoneyness::without_intrinsic(x_otm)
    };
    let otm = otm_call_parts(&moneyness, s).price;
    if itm {
        moneyness.intrinsic + otm
    } else {
        otm
    }
}

/// Normalised intrinsic value of an in-the-money option, `e^{|x|/2} − e^{−|x|/2} = 2·sinh(|x|/2)`.
#[inline]
pub(crate) fn normalised_intrinsic(x_abs: f64) -> f64 {
    2.0 * (0.5 * x_abs).sinh()
}

/// Quantities of `x ≤ 0` that do not depend on `s`, computed once per solve.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OtmMoneyness {
    /// x = ln(F/K) ≤ 0.
    pub x: f64,
    /// e^{x/2}, the price as s → ∞ (b_max).
    pub decay: f64,
    /// e^{−x/2}.
    pub growth: f64,
    /// 2·sinh(|x|/2), the normalised intrinsic value of the in-the-money twin.
    pub intrinsic: f64,
}

impl OtmMoneyness {
    /// As [`OtmMoneyness::new`] with `intrinsic` left at NaN, for callers that use neither the intrinsic value
    /// nor `otm_call_parts`'s middle branch (`s < 0.7` and `d₁ > 0`), which reads it.
    #[inline]
    pub(crate) fn without_intrinsic(x: f64) -> Self {
        debug_assert!(x <= 0.0);
        let decay = (0.5 * x).exp();
        OtmMoneyness {
            x,
            decay,
            growth: 1.0 / decay,
            intrinsic: f64::NAN,
        }
    }

    pub(crate) fn new(x: f64) -> Self {
        debug_assert!(x <= 0.0);
        let decay = (0.5 * x).exp();
        let growth = 1.0 / decay;
        // e^{−x/2} − e^{x/2}: a plain difference when |x| ≥ 1 (condition number coth(|x|/2) ≤ 2.2, so a
        // few ulps at most), else −e^{−x/2}·expm1(x), free of cancellation; both cheaper than sinh.
        let intrinsic = if x <= -1.0 {
            growth - decay
        } else {
            -growth * x.exp_m1()
        };
        OtmMoneyness {
            x,
            decay,
            growth,
            intrinsic,
        }
    }
}

/// The normalised out-of-the-money call at `s > 0`: its price `b`, its complement `b_max − b`, and its
/// derivative in s, `b'(s) = e^{−(h² + t²)/2}/√(2π)` (Jäckel 2015, eq. 4.3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OtmCallParts {
    pub price: f64,
    pub complement: f64,
    pub vega: f64,
}

/// Regions (h = x/s, t = s/2, d₁ = h + t, d₂ = h − t):
/// - `d₁ ≤ 0`: both Φ's in the lower tail; with erfcx the common Gaussian factor `G = e^{−(h²+t²)/2}/2`
///   comes out exactly: `b = G·(erfcx(−d₁/√2) − erfcx(−d₂/√2))` (Jäckel 2015, eq. 3.2);
/// - `d₂ < 0 < d₁`, `s < 0.7`: `|d|/√2 < 0.5`, and `b = e^{x/2}·(Φ(d₁) − Φ(d₂)) − 2·sinh(|x|/2)·Φ(d₂)` with
///   `Φ(d₁) − Φ(d₂) = (erf(d₁/√2) + erf(−d₂/√2))/2` summed from positive series terms;
/// - `d₂ < 0 < d₁`, `s ≥ 0.7`: `b_max − b = G·(erfcx(d₁/√2) + erfcx(−d₂/√2))`, two positive terms, and
///   `b ≥ b(s = 0.7)` is far from 0, so `b = b_max − (b_max − b)` loses nothing.
#[inline]
pub(crate) fn otm_call_parts(m: &OtmMoneyness, s: f64) -> OtmCallParts {
    let h = m.x / s;
    let t = 0.5 * s;
    let d1 = h + t;
    let d2 = h - t;
    let gauss = 0.5 * (-0.5 * (h * h + t * t)).exp();
    let vega = 2.0 * FRAC_1_SQRT_2PI * gauss;
    if d1 <= 0.0 {
        let (a, b) = erfcx_pair_non_negative(-d1 * FRAC_1_SQRT_2, -d2 * FRAC_1_SQRT_2);
        let price = gauss * (a - b);
        OtmCallParts {
            price,
            complement: m.decay - price,
            vega,
        }
    } else if s < 0.7 {
        let e1 = erf_small(d1 * FRAC_1_SQRT_2);
        let e2 = erf_small(-d2 * FRAC_1_SQRT_2);
        let cdf_d2 = 0.5 * (1.0 - e2);
        let price = (m.decay * 0.5 * (e1 + e2) - m.intrinsic * cdf_d2).max(0.0);
        OtmCallParts {
            price,
            complement: m.decay - price,
            vega,
        }
    } else {
        let (a, b) = erfcx_pair_non_negative(d1 * FRAC_1_SQRT_2, -d2 * FRAC_1_SQRT_2);
        let complement = gauss * (a + b);
        OtmCallParts {
            price: (m.decay - complement).max(0.0),
            complement,
            vega,
        }
    }
}

/// Black-76 premium of a European option on a forward: `D·θ·(F·Φ(θd₁) − K·Φ(θd₂))`.
///
/// `forward` and `strike` in the same currency; `expiry_years` ≥ 0; `vol` ≥ 0 annualised;
/// `discount` is the discount factor D to the payment date, in (0, ∞) (usually ≤ 1).
pub fn black76_price(
    kind: OptionKind,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    discount: f64,
) -> Result<f64, PricingError> {
    require_positive("forward", forward)?;
    require_positive("strike", strike)?;
    require_non_negative("expiry_years", expiry_years)?;
    require_non_negative("vol", vol)?;
    require_positive("discount", discount)?;
    let x = ln_ratio(forward, strike);
    let s = vol * expiry_years.sqrt();
    Ok(discount * forward.sqrt() * strike.sqrt() * normalised_black(x, s, kind))
}

/// Generalised Black–Scholes premium (spot, carry r − q).
pub fn black_scholes_price(kind: OptionKind, inputs: &BsInputs) -> Result<f64, PricingError> {
    inputs.validate()?;
    Ok(black_scholes_price_unchecked(kind, inputs))
}

/// The premium without validation; the caller has validated `inputs`.
#[inline]
pub(crate) fn black_scholes_price_unchecked(kind: OptionKind, i: &BsInputs) -> f64 {
    let carry_t = (i.rate - i.dividend) * i.expiry_years;
    let x = ln_ratio(i.spot, i.strike) + carry_t;
    let s = i.vol * i.expiry_years.sqrt();
    // D·√(F·K) = e^{−rT}·√(S·K)·e^{(r−q)T/2}
    let scale = (-i.rate * i.expiry_years + 0.5 * carry_t).exp() * i.spot.sqrt() * i.strike.sqrt();
    scale * normalised_black(x, s, kind)
}

/// Generalised Black–Scholes price and analytic Greeks (Haug, "The Complete Guide to Option Pricing
/// Formulas", 2nd ed., §2.1 and §2.2), with the units of [`crate::conventions`].
///
/// `T = 0` or `σ = 0` give the limits as σ√T → 0 (infinite gamma at the money).
pub fn black_scholes(kind: OptionKind, inputs: &BsInputs) -> Result<Greeks, PricingError> {
    inputs.validate()?;
    let i = inputs;
    let stddev = i.vol * i.expiry_years.sqrt();
    if stddev == 0.0 {
        return Ok(zero_stddev_limit(kind, i));
    }
    let theta_sign = kind.sign();
    let t = i.expiry_years;
    let sqrt_t = t.sqrt();
    let carry = i.rate - i.dividend;
    let ln_spot_strike = ln_ratio(i.spot, i.strike);
    let x = ln_spot_strike + carry * t;
    let d1 = x / stddev + 0.5 * stddev;
    let d2 = d1 - stddev;
    let df_q = (-i.dividend * t).exp();
    let df_r = (-i.rate * t).exp();
    // Φ(θd) through erfc keeps full relative precision in both tails.
    let cdf_d1 = norm_cdf(theta_sign * d1);
    let cdf_d2 = norm_cdf(theta_sign * d2);
    let pdf_d1 = FRAC_1_SQRT_2PI * (-0.5 * d1 * d1).exp();

    let price = black_scholes_price_unchecked(kind, i);
    let spot_pdf = i.spot * df_q * pdf_d1;
    let vega = spot_pdf * sqrt_t;
    let gamma = df_q * pdf_d1 / (i.spot * stddev);
    let delta = theta_sign * df_q * cdf_d1;
    let theta = -spot_pdf * i.vol / (2.0 * sqrt_t) - theta_sign * i.rate * i.strike * df_r * cdf_d2
        + theta_sign * i.dividend * i.spot * df_q * cdf_d1;
    let rho = theta_sign * i.strike * t * df_r * cdf_d2;
    let vanna = -df_q * pdf_d1 * d2 / i.vol;
    let volga = vega * d1 * d2 / i.vol;
    // 2bT − d₂·s = bT − ln(S/K) + s²/2, summed without the rounded x in between.
    let charm_numerator = carry * t - ln_spot_strike + 0.5 * stddev * stddev;
    let charm = theta_sign * i.dividend * df_q * cdf_d1
        - df_q * pdf_d1 * charm_numerator / (2.0 * t * stddev);
    Ok(Greeks {
        price,
        delta,
        gamma,
        vega,
        theta,
        rho,
        vanna,
        volga,
        charm,
    })
}

/// Limits of price and Greeks as σ√T → 0⁺ (expiry now, or no volatility): the option is worth its
/// discounted forward intrinsic value; at the money exactly, gamma is infinite.
fn zero_stddev_limit(kind: OptionKind, i: &BsInputs) -> Greeks {
    let theta_sign = kind.sign();
    let t = i.expiry_years;
    let df_q = (-i.dividend * t).exp();
    let df_r = (-i.rate * t).exp();
    let carry = i.rate - i.dividend;
    // Compare the forward with the strike in log space: ln(S/K) + (r − q)T.
    let x = ln_ratio(i.spot, i.strike) + carry * t;
    if theta_sign * x > 0.0 {
        Greeks {
            price: theta_sign * (i.spot * df_q - i.strike * df_r),
            delta: theta_sign * df_q,
            theta: theta_sign * (i.dividend * i.spot * df_q - i.rate * i.strike * df_r),
            rho: theta_sign * i.strike * t * df_r,
            charm: theta_sign * i.dividend * df_q,
            ..Greeks::default()
        }
    } else if theta_sign * x < 0.0 {
        Greeks::default()
    } else {
        // At the money forward: Φ(θd₁) → 1/2, φ(d₁) → 1/√(2π).
        let sqrt_t = t.sqrt();
        let vega = i.spot * df_q * FRAC_1_SQRT_2PI * sqrt_t;
        let time_decay = if i.vol == 0.0 { 0.0 } else { f64::NEG_INFINITY };
        let theta =
            time_decay + 0.5 * theta_sign * (i.dividend * i.spot * df_q - i.rate * i.strike * df_r);
        let charm = if carry == 0.0 {
            0.5 * theta_sign * i.dividend * df_q
        } else {
            -carry.signum() * f64::INFINITY
        };
        Greeks {
            price: 0.0,
            delta: 0.5 * theta_sign * df_q,
            gamma: f64::INFINITY,
            vega,
            theta,
            rho: 0.5 * theta_sign * i.strike * t * df_r,
            vanna: 0.5 * df_q * FRAC_1_SQRT_2PI * sqrt_t,
            volga: 0.0,
            charm,
        }
    }
}
