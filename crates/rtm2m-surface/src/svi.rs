//! Raw SVI slices: total variance, its derivatives, Durrleman's butterfly condition, Lee's wing bounds,
//! and the repairs that restore the no-arbitrage conditions on a grid.
//!
//! A slice is the total implied variance `w(k) = σ_imp(k)²·T` as a function of the log-forward-moneyness
//! `k = ln(K/F)`. Raw SVI (Gatheral 2004; Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces",
//! Quantitative Finance 14(1), 2014, eq. 3.1):
//! `w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²))`.

use serde::Serialize;

/// Largest total-variance slope of a wing, |dw/dk| as |k| → ∞: Lee's moment formula bounds the asymptotic
/// slope of total implied variance by 2 (Lee, "The moment formula for implied volatility at extreme strikes",
/// Mathematical Finance 14(3), 2004, Theorem 3.2/3.4).
pub const LEE_SLOPE_MAX: f64 = 2.0;

/// Raw SVI parameters of one slice, in total variance (years × vol²) against `k = ln(K/F)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SviRaw {
    /// Level `a`, total variance.
    pub a: f64,
    /// Angle `b ≥ 0`, total variance per unit of log-moneyness: the wings have slopes `b(1 ± ρ)`.
    pub b: f64,
    /// Rotation `ρ ∈ [−1, 1]`: the skew.
    pub rho: f64,
    /// Horizontal shift `m`, log-moneyness of the vertex.
    pub m: f64,
    /// Smoothness `σ > 0` of the vertex, log-moneyness.
    pub sigma: f64,
}

/// Total variance and its first two derivatives in `k` at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceDerivatives {
    /// `w(k)`.
    pub w: f64,
    /// `dw/dk`.
    pub dw: f64,
    /// `d²w/dk²`.
    pub d2w: f64,
}

impl SviRaw {
    /// A flat slice: the same total variance `w` at every strike.
    pub fn flat(w: f64) -> SviRaw {
        SviRaw {
            a: w,
            b: 0.0,
            rho: 0.0,
            m: 0.0,
            sigma: 1.0,
        }
    }

    /// Whether every parameter is finite and in its domain (`b ≥ 0`, `|ρ| ≤ 1`, `σ > 0`) and the total
    /// variance is never negative (`a + bσ√(1 − ρ²) ≥ 0`, the minimum of `w`).
    pub fn is_valid(&self) -> bool {
        [self.a, self.b, self.rho, self.m, self.sigma]
            .iter()
            .all(|x| x.is_finite())
            && self.b >= 0.0
            && self.rho.abs() <= 1.0
            && self.sigma > 0.0
            && self.min_total_variance() >= 0.0
    }

    /// `w(k)`.
    #[inline]
    pub fn total_variance(&self, k: f64) -> f64 {
        let x = k - self.m;
        self.a + self.b * (self.rho * x + (x * x + self.sigma * self.sigma).sqrt())
    }

    /// `w`, `w'`, `w''` at `k`: `w' = b(ρ + x/r)`, `w'' = bσ²/r³` with `x = k − m`, `r = √(x² + σ²)`.
    #[inline]
    pub fn derivatives(&self, k: f64) -> SliceDerivatives {
        let x = k - self.m;
        let s2 = self.sigma * self.sigma;
        let r = (x * x + s2).sqrt();
        SliceDerivatives {
            w: self.a + self.b * (self.rho * x + r),
            dw: self.b * (self.rho + x / r),
            d2w: self.b * s2 / (r * r * r),
        }
    }

    /// Durrleman's function `g(k) = (1 − k·w'/(2w))² − (w'²/4)·(1/w + 1/4) + w''/2` (Gatheral & Jacquier
    /// 2014, eq. 2.1, after Durrleman 2005): the slice has no butterfly arbitrage iff `g ≥ 0` everywhere
    /// (the risk-neutral density is `g(k)/√(2πw)·exp(−d₂²/2)`). `−∞` where `w ≤ 0`.
    #[inline]
    pub fn durrleman_g(&self, k: f64) -> f64 {
        // The same formula as [`durrleman_g`] with two divisions instead of four (it runs in the fit's
        // inner loop): 1/r and 1/w.
        let x = k - self.m;
        let s2 = self.sigma * self.sigma;
        let r = (x * x + s2).sqrt();
        let inv_r = 1.0 / r;
        let w = self.a + self.b * (self.rho * x + r);
        if w.is_nan() || w <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let inv_w = 1.0 / w;
        let dw = self.b * (self.rho + x * inv_r);
        let d2w = self.b * s2 * inv_r * inv_r * inv_r;
        let first = 1.0 - 0.5 * k * dw * inv_w;
        first * first - 0.25 * dw * dw * (inv_w + 0.25) + 0.5 * d2w
    }

    /// `w(k)` and Durrleman's `g(k)` together ([`SviRaw::total_variance`], [`SviRaw::durrleman_g`], the same
    /// values to the bit), for the checks that need both at every point of a grid.
    #[inline]
    pub fn total_variance_and_g(&self, k: f64) -> (f64, f64) {
        let x = k - self.m;
        let s2 = self.sigma * self.sigma;
        let r = (x * x + s2).sqrt();
        let w = self.a + self.b * (self.rho * x + r);
        if w.is_nan() || w <= 0.0 {
            return (w, f64::NEG_INFINITY);
        }
        let (inv_r, inv_w) = (1.0 / r, 1.0 / w);
        let dw = self.b * (self.rho + x * inv_r);
        let d2w = self.b * s2 * inv_r * inv_r * inv_r;
        let first = 1.0 - 0.5 * k * dw * inv_w;
        (
            w,
            first * first - 0.25 * dw * dw * (inv_w + 0.25) + 0.5 * d2w,
        )
    }

    /// The minimum of [`SviRaw::durrleman_g`] over `grid`, and the `k` where it is reached.
    pub fn min_g(&self, grid: &[f64]) -> (f64, f64) {
        let mut best = (f64::INFINITY, f64::NAN);
        for &k in grid {
            let g = self.durrleman_g(k);
            if g < best.0 || g.is_nan() {
                best = (if g.is_nan() { f64::NEG_INFINITY } else { g }, k);
            }
        }
        best
    }

    /// Whether `g ≥ 0` at every point of `grid` (stops at the first negative one).
    pub fn g_non_negative(&self, grid: &[f64]) -> bool {
        grid.iter().all(|&k| self.durrleman_g(k) >= 0.0)
    }

    /// Slopes of the wings, `(left, right) = (b(1 − ρ), b(1 + ρ))`: `w(k)/|k|` as `k → ∓∞`.
    pub fn wing_slopes(&self) -> (f64, f64) {
        (self.b * (1.0 - self.rho), self.b * (1.0 + self.rho))
    }

    /// The minimum of `w`: `a + bσ√(1 − ρ²)`.
    pub fn min_total_variance(&self) -> f64 {
        self.a + self.b * self.sigma * (1.0 - self.rho * self.rho).max(0.0).sqrt()
    }

    /// The slice scaled by `factor`: `factor·w(k)`, still raw SVI.
    pub fn scaled(&self, factor: f64) -> SviRaw {
        SviRaw {
            a: self.a * factor,
            b: self.b * factor,
            ..*self
        }
    }

    /// `(1 − t)·w(k) + t·level`, still raw SVI (the angle shrinks, the level moves): at `t = 1` it is flat.
    pub fn blended_toward(&self, t: f64, level: f64) -> SviRaw {
        SviRaw {
            a: (1.0 - t) * self.a + t * level,
            b: (1.0 - t) * self.b,
            ..*self
        }
    }

    /// Implied volatility at `k` for a slice of `expiry_years`: `√(w(k)/T)`.
    pub fn vol(&self, k: f64, expiry_years: f64) -> f64 {
        (self.total_variance(k).max(0.0) / expiry_years).sqrt()
    }

    /// The at-the-money skew `dσ_imp/dk` at `k = 0`: `w'(0)/(2√(w(0)·T))`, vol (fraction) per unit of
    /// log-moneyness.
    pub fn atm_skew(&self, expiry_years: f64) -> f64 {
        let d = self.derivatives(0.0);
        d.dw / (2.0 * (d.w.max(f64::MIN_POSITIVE) * expiry_years).sqrt())
    }
}

/// Durrleman's `g` from `w`, `w'`, `w''` at `k` (see [`SviRaw::durrleman_g`]).
#[inline]
pub fn durrleman_g(k: f64, d: SliceDerivatives) -> f64 {
    if d.w <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let first = 1.0 - k * d.dw / (2.0 * d.w);
    first * first - 0.25 * d.dw * d.dw * (1.0 / d.w + 0.25) + 0.5 * d.d2w
}

/// `n` points evenly spaced from `lo` to `hi` inclusive (`n ≥ 2`).
pub fn uniform_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    debug_assert!(n >= 2 && hi > lo);
    let step = (hi - lo) / (n - 1) as f64;
    (0..n).map(|i| lo + step * i as f64).collect()
}

/// The butterfly repair aims at `g ≥ 10⁻⁴` on its grid, so that `g` cannot dip below zero between grid
/// points (measured on the real chains: by 2·10⁻⁶ at most with a 1001-point grid and no margin).
pub const BUTTERFLY_REPAIR_MARGIN: f64 = 1e-4;

/// Bisection steps of the repairs: the blend weight is found to 2⁻¹⁴ (6·10⁻⁵), from above.
const REPAIR_STEPS: usize = 14;

/// The least blend toward the flat `level` that makes `g ≥` [`BUTTERFLY_REPAIR_MARGIN`] on `grid`: `(1 − t)·w + t·level` with the
/// smallest `t ∈ [0, 1]` found by bisection (at `t = 1` the slice is flat and `g ≡ 1`). Returns the slice
/// and `t`; `t = 0` when the slice already satisfies the condition.
///
/// The bisection keeps its upper end feasible, so the result satisfies the bound on `grid` whatever the shape
/// of `t ↦ min g`. With `level ≥ w_prev(k)` on the grid and `w ≥ w_prev` on it, the blend keeps `w ≥ w_prev`
/// too: the butterfly repair then does not undo a calendar repair.
pub fn repair_butterfly(slice: &SviRaw, level: f64, grid: &[f64]) -> (SviRaw, f64) {
    // Every candidate shares the slice's m, ρ and σ: the terms that depend only on them are computed once.
    let terms = BlendTerms::new(slice, grid);
    // The minimum of g as [`SviRaw::min_g`] finds it, by index.
    let mut worst = (f64::INFINITY, None);
    for i in 0..grid.len() {
        let g = terms.g(i, slice.a, slice.b);
        if g < worst.0 || g.is_nan() {
            worst = (if g.is_nan() { f64::NEG_INFINITY } else { g }, Some(i));
        }
    }
    let (g_min, Some(at)) = worst else {
        return (*slice, 0.0);
    };
    if g_min >= BUTTERFLY_REPAIR_MARGIN {
        return (*slice, 0.0);
    }
    // Each candidate is tried first where the unrepaired slice is worst: most infeasible ones fail there
    // at once, and only feasible ones pay for the whole grid.
    let feasible = |t: f64| {
        let s = slice.blended_toward(t, level);
        terms.g(at, s.a, s.b) >= BUTTERFLY_REPAIR_MARGIN
            && (0..grid.len()).all(|i| terms.g(i, s.a, s.b) >= BUTTERFLY_REPAIR_MARGIN)
    };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..REPAIR_STEPS {
        let mid = 0.5 * (lo + hi);
        if feasible(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    (slice.blended_toward(hi, level), hi)
}

/// The terms of [`SviRaw::durrleman_g`] on a grid that depend only on `m`, `ρ` and `σ`, for the slices
/// that differ from one another in `a` and `b` only (the blends of [`repair_butterfly`]).
struct BlendTerms<'a> {
    grid: &'a [f64],
    /// `σ²`.
    s2: f64,
    /// Per point: `ρx + r`, `ρ + x/r` (as `x·(1/r)`) and `1/r`, with `x = k − m`, `r = √(x² + σ²)`.
    terms: Vec<[f64; 3]>,
}

impl<'a> BlendTerms<'a> {
    fn new(slice: &SviRaw, grid: &'a [f64]) -> BlendTerms<'a> {
        let s2 = slice.sigma * slice.sigma;
        let terms = grid
            .iter()
            .map(|&k| {
                let x = k - slice.m;
                let r = (x * x + s2).sqrt();
                let inv_r = 1.0 / r;
                [slice.rho * x + r, slice.rho + x * inv_r, inv_r]
            })
            .collect();
        BlendTerms { grid, s2, terms }
    }

    /// [`SviRaw::durrleman_g`] at the `i`-th grid point of the slice with level `a` and angle `b`: the same
    /// operations on the same values, so the same bits.
    #[inline]
    fn g(&self, i: usize, a: f64, b: f64) -> f64 {
        let (k, [u, v, inv_r]) = (self.grid[i], self.terms[i]);
        let w = a + b * u;
        if w.is_nan() || w <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let inv_w = 1.0 / w;
        let dw = b * v;
        let d2w = b * self.s2 * inv_r * inv_r * inv_r;
        let first = 1.0 - 0.5 * k * dw * inv_w;
        first * first - 0.25 * dw * dw * (inv_w + 0.25) + 0.5 * d2w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vogt() -> SviRaw {
        // Axel Vogt's slice, Gatheral & Jacquier 2014, Example 3.1 (T = 1): it has butterfly arbitrage.
        SviRaw {
            a: -0.0410,
            b: 0.1331,
            rho: 0.3060,
            m: 0.3586,
            sigma: 0.4153,
        }
    }

    #[test]
    fn vogt_slice_of_gatheral_jacquier_has_butterfly_arbitrage_and_the_repair_removes_it() {
        let grid = uniform_grid(-1.5, 1.5, 3001);
        let (g_min, at) = vogt().min_g(&grid);
        // The paper's Figure 3.1 shows g < 0 on an interval right of the money.
        assert!(g_min < 0.0 && at > 0.0, "min g {g_min} at {at}");
        let level = vogt().total_variance(0.0);
        let (repaired, t) = repair_butterfly(&vogt(), level, &grid);
        assert!(t > 0.0 && t < 1.0);
        assert!(repaired.min_g(&grid).0 >= 0.0);
        // The blend keeps the at-the-money total variance.
        assert!((repaired.total_variance(0.0) - level).abs() < 1e-15);
    }

    #[test]
    fn the_blends_g_from_shared_terms_is_bit_for_bit_durrlemans_g() {
        let grid = uniform_grid(-1.5, 1.5, 301);
        let slice = vogt();
        let terms = BlendTerms::new(&slice, &grid);
        for t in [0.0, 0.1, 0.37, 0.9, 1.0] {
            let s = slice.blended_toward(t, 0.05);
            for (i, &k) in grid.iter().enumerate() {
                assert_eq!(
                    terms.g(i, s.a, s.b).to_bits(),
                    s.durrleman_g(k).to_bits(),
                    "{t} {k}"
                );
            }
        }
    }

    #[test]
    fn total_variance_and_g_are_bit_for_bit_the_separate_values() {
        let slices = [
            vogt(),
            SviRaw {
                a: 0.02,
                b: 0.3,
                rho: -0.6,
                m: 0.1,
                sigma: 0.2,
            },
        ];
        for s in slices {
            for i in 0..401 {
                let k = -2.0 + 0.01 * i as f64;
                let (w, g) = s.total_variance_and_g(k);
                assert_eq!(w.to_bits(), s.total_variance(k).to_bits());
                assert_eq!(g.to_bits(), s.durrleman_g(k).to_bits(), "k {k}");
            }
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        let s = vogt();
        for &k in &[-1.0, -0.2, 0.0, 0.3586, 0.9] {
            let d = s.derivatives(k);
            let h = 1e-4;
            let (wp, wm) = (s.total_variance(k + h), s.total_variance(k - h));
            assert!((d.dw - (wp - wm) / (2.0 * h)).abs() < 1e-8);
            assert!((d.d2w - (wp - 2.0 * d.w + wm) / (h * h)).abs() < 1e-5);
            // The fast g agrees with the reference formula on the derivatives.
            let (fast, reference) = (s.durrleman_g(k), durrleman_g(k, d));
            assert!((fast - reference).abs() <= 1e-13 * (1.0 + reference.abs()));
        }
    }
}
