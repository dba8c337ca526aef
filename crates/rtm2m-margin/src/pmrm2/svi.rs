//! Raw SVI implied volatility as Derive's vol feed evaluates it.

/// Raw SVI parameters of one expiry (Gatheral's raw parametrisation) with the forward and the time to expiry
/// they were fitted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SviParams {
    /// Level `a` of total variance (years × vol²).
    pub a: f64,
    /// Wing slope `b` (≥ 0).
    pub b: f64,
    /// Skew `ρ` in (−1, 1).
    pub rho: f64,
    /// Horizontal shift `m` in log-moneyness.
    pub m: f64,
    /// ATM curvature `σ` (> 0) in log-moneyness.
    pub sigma: f64,
    /// Forward the fit is expressed against, USD.
    pub forward_usd: f64,
    /// Time to expiry of the fit, years.
    pub tau_years: f64,
}

/// Cap on SVI total variance `w` (Derive's vol feed: 144 = a 12.0 total vol).
pub const TOTAL_VARIANCE_MAX: f64 = 144.0;
/// The log-moneyness clamp is this many times `√(a + b·σ)`.
pub const K_BOUND_SCALE: f64 = 4.0;

/// Why an SVI evaluation has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SviError {
    /// `a + b·σ < 0`: the log-moneyness bound is undefined.
    NegativeMinVariance,
    /// Total variance `w(k) < 0` at the requested strike.
    NegativeTotalVariance,
    /// τ ≤ 0 or a non-finite parameter.
    BadParameters,
}

impl SviParams {
    /// Implied volatility (annualised, fraction) at `strike_usd`.
    ///
    /// `k = ln(K/F)` is clamped to `±4·√(a + b·σ)`, `w(k) = a + b(ρ(k − m) + √((k − m)² + σ²))` is capped at
    /// 144, and `vol = √(w/τ)`.
    pub fn vol(&self, strike_usd: f64) -> Result<f64, SviError> {
        // Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces" (2014), eq. 3.1 (raw SVI);
        // the k clamp and w cap are those of Derive's lyra-utils SVI.getVol.
        let finite = [
            self.a,
            self.b,
            self.rho,
            self.m,
            self.sigma,
            self.forward_usd,
            self.tau_years,
        ]
        .iter()
        .all(|x| x.is_finite());
        if !finite
            || self.tau_years <= 0.0
            || self.forward_usd <= 0.0
            || strike_usd.is_nan()
            || strike_usd < 0.0
        {
            return Err(SviError::BadParameters);
        }
        let min_variance = self.a + self.b * self.sigma;
        if min_variance < 0.0 {
            return Err(SviError::NegativeMinVariance);
        }
        let k_bound = K_BOUND_SCALE * min_variance.sqrt();
        let ratio = strike_usd / self.forward_usd;
        let k = if ratio > 0.0 {
            ratio.ln().clamp(-k_bound, k_bound)
        } else {
            -k_bound
        };
        let x = k - self.m;
        let w = self.a + self.b * (self.rho * x + (x * x + self.sigma * self.sigma).sqrt());
        if w < 0.0 {
            return Err(SviError::NegativeTotalVariance);
        }
        let w = w.min(TOTAL_VARIANCE_MAX);
        debug_assert!(w >= 0.0);
        Ok((w / self.tau_years).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SviParams {
        SviParams {
            a: 0.04,
            b: 0.1,
            rho: -0.3,
            m: 0.0,
            sigma: 0.2,
            forward_usd: 100.0,
            tau_years: 0.5,
        }
    }

    #[test]
    fn atm_vol_is_sqrt_of_total_variance_over_tau() {
        let p = params();
        let w = 0.04 + 0.1 * 0.2;
        assert!((p.vol(100.0).expect("valid") - (w / 0.5_f64).sqrt()).abs() < 1e-15);
    }

    #[test]
    fn far_strikes_are_clamped_to_the_k_bound() {
        let p = params();
        let bound = 4.0 * (0.04_f64 + 0.1 * 0.2).sqrt();
        let at_bound = p.vol(100.0 * bound.exp()).expect("valid");
        assert_eq!(p.vol(1e9).expect("valid"), at_bound);
        assert_eq!(
            p.vol(0.0).expect("valid"),
            p.vol(100.0 * (-bound).exp()).expect("valid")
        );
    }

    #[test]
    fn total_variance_is_capped() {
        let p = SviParams {
            a: 500.0,
            ..params()
        };
        assert_eq!(p.vol(100.0).expect("valid"), (144.0_f64 / 0.5).sqrt());
    }
}
