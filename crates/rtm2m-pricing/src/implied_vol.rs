//! Implied volatility to machine precision, in the spirit of Jäckel's "Let's Be Rational" (Wilmott 2015).
//!
//! The premium is first normalised (`β = V/(D·√(F·K))`, `x = ln(F/K)`) and reduced to an out-of-the-money
//! call (`x ≤ 0`, in-the-money options lose their intrinsic value by put–call parity). The inflection point
//! `s_c = √(2|x|)` of `b(s)` splits the problem in two (Jäckel 2015, §4):
//! - **lower branch** `β < b(s_c)`: solve `ln b(s) = ln β`; the start comes from inverting Jäckel's lower
//!   asymptotic map `f_l(s) = (2π|x|/√27)·Φ(−|x|/(√3·s))³` (eq. 4.9), which matches `b` as s → 0;
//! - **upper branch**: solve `ln(b_max − b(s)) = ln(b_max − β)`, with `b_max − b(s)` summed from two positive
//!   terms (no cancellation); the start inverts the upper map `Φ(−s/2)` (eq. 4.13).
//!
//! Both objectives are nearly linear in the right variable, so third-order Householder steps (with the
//! closed-form derivatives `b''/b' = x²/s³ − s/4`, `b'''/b' = (b''/b')² − 3x²/s⁴ − 1/4`, eq. 4.3–4.5)
//! reach machine precision in two to four steps. A bracket is kept throughout, so a step that would leave it
//! bisects instead: the iteration cannot diverge.

use crate::black::BsInputs;
use crate::black::{otm_call_parts, OtmMoneyness};
use crate::error::require_positive;
use crate::special::{erfcx_non_negative, inverse_norm_cdf_lower_rough, ln_ratio};
use crate::{IvError, OptionKind};

/// Upper limit on Householder steps; the measured worst case is far below (see the tests).
const MAX_ITERATIONS: usize = 24;
/// 2π/√27, the constant of the lower asymptotic map.
const TWO_PI_OVER_SQRT_27: f64 = 1.209_199_576_156_145_2;
const SQRT_3: f64 = 1.732_050_807_568_877_2;

/// Implied volatility of a generalised Black–Scholes premium (spot, rate r, yield q; see
/// [`crate::conventions`]). Returns the annualised σ.
pub fn implied_vol_black_scholes(
    kind: OptionKind,
    price: f64,
    spot: f64,
    strike: f64,
    expiry_years: f64,
    rate: f64,
    dividend: f64,
) -> Result<f64, IvError> {
    let spot = require_positive("spot", spot)?;
    let strike = require_positive("strike", strike)?;
    let expiry_years = require_positive("expiry_years", expiry_years)?;
    BsInputs {
        spot,
        strike,
        expiry_years,
        vol: 0.0,
        rate,
        dividend,
    }
    .validate()?;
    let carry_t = (rate - dividend) * expiry_years;
    let x = ln_ratio(spot, strike) + carry_t;
    let scale = (-rate * expiry_years + 0.5 * carry_t).exp() * spot.sqrt() * strike.sqrt();
    let beta = normalised_price(price, scale)?;
    Ok(implied_vol_normalised(beta, x, kind)? / expiry_years.sqrt())
}

/// Implied volatility of a Black-76 premium on a forward with discount factor `discount`.
pub fn implied_vol_black76(
    kind: OptionKind,
    price: f64,
    forward: f64,
    strike: f64,
    expiry_years: f64,
    discount: f64,
) -> Result<f64, IvError> {
    let forward = require_positive("forward", forward)?;
    let strike = require_positive("strike", strike)?;
    let expiry_years = require_positive("expiry_years", expiry_years)?;
    let discount = require_positive("discount", discount)?;
    let beta = normalised_price(price, discount * forward.sqrt() * strike.sqrt())?;
    let x = ln_ratio(forward, strike);
    Ok(implied_vol_normalised(beta, x, kind)? / expiry_years.sqrt())
}

fn normalised_price(price: f64, scale: f64) -> Result<f64, IvError> {
    if !price.is_finite() {
        return Err(IvError::Invalid {
            field: "price",
            reason: "must be a finite number",
        });
    }
    if price < 0.0 {
        return Err(IvError::BelowIntrinsic);
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(IvError::Invalid {
            field: "price",
            reason: "scale of the inputs is out of range",
        });
    }
    Ok(price / scale)
}

/// Normalised implied volatility: the `s = σ√T ≥ 0` with `b(x, s, θ) = beta` (Jäckel 2015, eq. 2.3).
pub fn implied_vol_normalised(beta: f64, x: f64, kind: OptionKind) -> Result<f64, IvError> {
    if !beta.is_finite() {
        return Err(IvError::Invalid {
            field: "price",
            reason: "must be a finite number",
        });
    }
    if !x.is_finite() {
        return Err(IvError::Invalid {
            field: "log_moneyness",
            reason: "must be a finite number",
        });
    }
    let moneyness = OtmMoneyness::new(-x.abs());
    let mut beta_otm = beta;
    if kind.sign() * x > 0.0 {
        beta_otm -= moneyness.intrinsic;
    }
    if beta_otm < 0.0 {
        return Err(IvError::BelowIntrinsic);
    }
    if beta_otm == 0.0 {
        return Ok(0.0);
    }
    if beta_otm >= moneyness.decay {
        return Err(IvError::AboveUpperBound);
    }
    Ok(solve_otm_call(beta_otm, &moneyness).0)
}

/// Solves `b(x, s) = beta` for `x ≤ 0`, `0 < beta < beta_max = e^{x/2}`. Returns `(s, evaluations of b)`.
pub(crate) fn solve_otm_call(beta: f64, moneyness: &OtmMoneyness) -> (f64, usize) {
    let (x, beta_max) = (moneyness.x, moneyness.decay);
    debug_assert!(x <= 0.0 && beta > 0.0 && beta < beta_max);
    let x_abs = -x;
    let s_c = (2.0 * x_abs).sqrt();
    // At s_c, d₁ = 0 and d₂ = −√(2|x|), G = e^{x/2}/2: b(s_c) = e^{x/2}·(1 − erfcx(√|x|))/2.
    let beta_c = 0.5 * moneyness.decay * (1.0 - erfcx_non_negative(x_abs.sqrt()));
    let below_inflection = beta < beta_c;
    let s_upper_map = upper_branch_start(moneyness, beta);
    let mut s = if below_inflection {
        // The lower map is asymptotic for s ≪ |x| (h = x/s → −∞); closer to the money the upper map, exact
        // at x = 0, is the better start.
        let s_lower_map = lower_branch_start(x_abs, beta).min(s_c);
        if s_lower_map < 0.5 * x_abs {
            s_lower_map
        } else {
            s_upper_map.min(s_c)
        }
    } else {
        s_upper_map.max(s_c)
    };
    if !(s > 0.0 && s.is_finite()) {
        s = s_c.max(f64::MIN_POSITIVE);
    }
    // The upper objective needs b_max − β, whose rounding perturbs β by ε·b_max: harmless only once β is
    // at least half of b_max. Below that, ln b is the better-conditioned objective on either side of s_c.
    let lower = beta <= 0.5 * beta_max;
    let target = if lower {
        beta.ln()
    } else {
        (beta_max - beta).ln()
    };
    // The bracket comes only from evaluated points: s_c itself may be the root to the last bit.
    let (mut lo, mut hi) = (0.0, f64::INFINITY);
    let x2 = x * x;
    let mut step_previous = f64::INFINITY;
    for evaluation in 1..=MAX_ITERATIONS {
        let parts = otm_call_parts(moneyness, s);
        let b2_over_b1 = x2 / (s * s * s) - 0.25 * s;
        let b3_over_b1 = b2_over_b1 * b2_over_b1 - 3.0 * x2 / (s * s * s * s) - 0.25;
        let (g, g1, h2, h3) = if lower {
            let b = parts.price;
            if b <= 0.0 {
                (f64::NEG_INFINITY, 0.0, 0.0, 0.0)
            } else {
                let lambda = parts.vega / b;
                let h2 = b2_over_b1 - lambda;
                let h3 = b3_over_b1 - 3.0 * lambda * b2_over_b1 + 2.0 * lambda * lambda;
                (b.ln() - target, lambda, h2, h3)
            }
        } else {
            let c = parts.complement;
            if c <= 0.0 {
                (f64::INFINITY, 0.0, 0.0, 0.0)
            } else {
                let mu = parts.vega / c;
                let h2 = b2_over_b1 + mu;
                let h3 = b3_over_b1 + 3.0 * mu * b2_over_b1 + 2.0 * mu * mu;
                (target - c.ln(), mu, h2, h3)
            }
        };
        if g.abs() <= 2.0 * f64::EPSILON {
            // The objective is a logarithm: |g| ≤ 2ε means b(s) matches β to the last bits it carries.
            return (s, evaluation);
        }
        if g < 0.0 {
            lo = s;
        } else {
            hi = s;
        }
        let mut next = f64::NAN;
        if g.is_finite() && g1 > 0.0 && g1.is_finite() {
            // Householder's third-order step (Householder 1970; Jäckel 2015, eq. 4.2).
            let nu = -g / g1;
            next = s + nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu / 6.0));
        }
        let step = (next - s).abs();
        if step <= CONVERGED_STEP * s {
            // A third-order step this small leaves an error of order (step/s)³ ≪ ε: no need to evaluate again.
            return (next, evaluation);
        }
        if step <= 1e-9 * s && step > 0.5 * step_previous {
            // Third-order steps stopped shrinking: what is left is the rounding noise of b(s) itself.
            return (next, evaluation);
        }
        if !(next > lo && next < hi) {
            // Bisect geometrically: the root may be orders of magnitude from an end of the bracket.
            next = match (lo > 0.0, hi.is_finite()) {
                (true, true) => (lo * hi).sqrt(),
                (false, true) => 0.25 * hi,
                _ => 4.0 * s,
            };
            step_previous = f64::INFINITY;
        } else {
            step_previous = step;
        }
        s = next;
    }
    (s, MAX_ITERATIONS)
}

/// A Householder step below this relative size is final (its successor would be below (1e-7)³ ≈ 1e-21).
const CONVERGED_STEP: f64 = 1e-7;

/// Start of the lower branch: the inverse of Jäckel's lower map `f_l` at `beta` (eq. 4.9–4.10).
#[inline]
fn lower_branch_start(x_abs: f64, beta: f64) -> f64 {
    let u = (beta / (TWO_PI_OVER_SQRT_27 * x_abs)).cbrt();
    if !(u > 0.0 && u < 0.5) {
        return f64::INFINITY;
    }
    let z = -inverse_norm_cdf_lower_rough(u);
    x_abs / (SQRT_3 * z)
}

/// Start of the upper branch: for large s, `b_max − b ≈ (e^{x/2} + e^{−x/2})·Φ(−s/2)` (eq. 4.13).
#[inline]
fn upper_branch_start(m: &OtmMoneyness, beta: f64) -> f64 {
    let q = ((m.decay - beta) / (m.decay + m.growth)).min(0.5);
    if q.is_nan() || q <= 0.0 {
        return f64::INFINITY;
    }
    -2.0 * inverse_norm_cdf_lower_rough(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::black::normalised_black;

    /// Iteration counts over a dense grid of (x, s), to keep the "few iterations" promise honest.
    #[test]
    fn householder_converges_in_few_iterations_over_the_domain() {
        let mut worst = 0;
        let mut histogram = [0usize; MAX_ITERATIONS + 1];
        for i in 0..=60 {
            let x = -8.0 * (i as f64 / 60.0).powi(2);
            for j in 0..=80 {
                let s = 1e-3 * 10f64.powf(4.0 * j as f64 / 80.0);
                let beta = normalised_black(x, s, OptionKind::Call);
                let beta_max = (0.5 * x).exp();
                if !(beta > 1e-300 && beta < beta_max) {
                    continue;
                }
                let (solved, n) = solve_otm_call(beta, &OtmMoneyness::new(x));
                histogram[n] += 1;
                worst = worst.max(n);
                let b_back = normalised_black(x, solved, OptionKind::Call);
                assert!(
                    ((b_back - beta) / beta).abs() < 1e-12 || (solved - s).abs() < 1e-10 * s,
                    "x={x} s={s} solved={solved} n={n}"
                );
            }
        }
        let cases: usize = histogram.iter().sum();
        let mean = histogram
            .iter()
            .enumerate()
            .map(|(n, c)| n * c)
            .sum::<usize>() as f64
            / cases as f64;
        eprintln!(
            "b evaluations per solve (index = count): {:?}, mean {mean:.2}",
            &histogram[..9]
        );
        assert!(worst <= 8, "worst iteration count {worst}");
        assert!(mean <= 3.5, "mean iteration count {mean}");
    }
}
