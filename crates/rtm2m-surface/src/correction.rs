//! A smooth, local correction of a slice's total variance: `w(k) = w_SVI(k) + δ(k)`, with `δ` a cubic
//! spline with knots at the slice's quoted strikes (and, beyond them, at the next expiry's), its outer
//! knots at the ends of the surface's dense grid, zero with its first two derivatives from there on.
//!
//! Raw SVI is convex in `k`: a smile that bends the other way between two strikes, or a slice squeezed
//! between its neighbours in a calendar conflict, leaves quotes outside their bid/ask that an
//! arbitrage-free surface could fit. The correction moves the fitted volatility of those quotes into their
//! bands (shrunk a little, [`BAND_SHRINK`]) by a weighted least-squares on the distance outside, one B-spline
//! coefficient at a time, each step accepted only if on a fine grid of the correction's support Durrleman's
//! `g` stays above a margin (no butterfly arbitrage) and the slice stays between the previous expiry's
//! own smile and the next expiry's smile (no calendar arbitrage); a step that breaks a condition is
//! halved. Quotes that stay far outside lose weight between rounds (Cauchy weights), so that a quote no
//! arbitrage-free smile can reach stops pulling its neighbours out of their bands. The next expiry's quotes
//! cap the slice softly (at a tenth of the weight), so that a wing the slice only extrapolates makes room
//! for a later expiry's quotes. Beyond the dense grid the slice is its SVI: the wings, and Lee's moment
//! bounds, are untouched. `docs/surface.md` §Correction explains the choice.

use crate::slice::FitPoints;
use crate::svi::{durrleman_g, SliceDerivatives, SviRaw};

/// One cubic spline of the fit: coefficients of the B-splines on `knots`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Spline {
    /// Knots `t₀ < t₁ < … < t_m`; the `j`-th function lives on `[t_j, t_{j+4}]`.
    knots: Vec<f64>,
    /// One coefficient per function (`m − 3` of them), total variance.
    coefficients: Vec<f64>,
}

impl Spline {
    /// Adds `[δ, δ', δ'']` at `k` to `out`; `extended` is [`extended`]`(&self.knots)`.
    fn add_to(&self, extended: &[f64], k: f64, out: &mut [f64; 3]) {
        let m = self.knots.len() - 1;
        if !(k >= self.knots[0] && k < self.knots[m]) {
            return;
        }
        // The knot interval holding k: functions s − 3 ..= s are non-zero there.
        let s = self.knots.partition_point(|&t| t <= k) - 1;
        let d = cubic_span(extended, s, k);
        for r in 0..4 {
            let Some(j) = (s + r).checked_sub(3) else {
                continue;
            };
            let Some(&c) = self.coefficients.get(j) else {
                continue;
            };
            for (o, row) in out.iter_mut().zip(&d) {
                *o += c * row[r];
            }
        }
    }
}

/// The correction of one slice, a cubic spline kept as one polynomial per knot interval (empty: none):
/// fitted as B-spline coefficients, evaluated as polynomials.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Correction {
    /// Knots `t₀ < … < t_m`; zero outside `[t₀, t_m]`.
    pub knots: Vec<f64>,
    /// On `[t_i, t_{i+1})`: `δ = a₀ + a₁x + a₂x² + a₃x³` with `x = k − t_i`.
    pub pieces: Vec<[f64; 4]>,
}

/// `B_j` of degree `p` on `knots` at `x` (Cox–de Boor; intervals half-open on the right): the tests'
/// reference for [`cubic_span`].
#[cfg(test)]
fn basis(knots: &[f64], j: usize, p: usize, x: f64) -> f64 {
    if p == 0 {
        return f64::from(u8::from(knots[j] <= x && x < knots[j + 1]));
    }
    let mut v = 0.0;
    let left = knots[j + p] - knots[j];
    if left > 0.0 {
        v += (x - knots[j]) / left * basis(knots, j, p - 1, x);
    }
    let right = knots[j + p + 1] - knots[j + 1];
    if right > 0.0 {
        v += (knots[j + p + 1] - x) / right * basis(knots, j + 1, p - 1, x);
    }
    v
}

/// The `d`-th derivative of `B_j` of degree `p` at `x`.
#[cfg(test)]
fn basis_derivative(knots: &[f64], j: usize, p: usize, x: f64, d: usize) -> f64 {
    if d == 0 {
        return basis(knots, j, p, x);
    }
    let mut v = 0.0;
    let left = knots[j + p] - knots[j];
    if left > 0.0 {
        v += basis_derivative(knots, j, p - 1, x, d - 1) / left;
    }
    let right = knots[j + p + 1] - knots[j + 1];
    if right > 0.0 {
        v -= basis_derivative(knots, j + 1, p - 1, x, d - 1) / right;
    }
    p as f64 * v
}

/// The knots `t₀ < … < t_m` extended by three equal steps beyond each end (the spacing of the end
/// interval), as [`cubic_span`] reads them: `t_i` for `i` in `−3 ..= m + 3` at index `i + 3`.
fn extended(knots: &[f64]) -> Vec<f64> {
    let m = knots.len() - 1;
    let mut out = Vec::with_capacity(m + 7);
    out.extend((-3..0_isize).map(|i| knots[0] + i as f64 * (knots[1] - knots[0])));
    out.extend_from_slice(knots);
    out.extend((m + 1..=m + 3).map(|i| knots[m] + (i - m) as f64 * (knots[m] - knots[m - 1])));
    out
}

/// The four cubic functions non-zero on the knot interval `[t_s, t_{s+1})` that holds `x` — `B_{s−3}` to
/// `B_s` — with their first two derivatives, `out[d][r]` the `d`-th derivative of `B_{s−3+r}` (Piegl &
/// Tiller, *The NURBS Book*, algorithm A2.3), on the [`extended`] knots, so that the functions of the
/// first and last intervals come out too (the caller keeps those it has).
///
/// Unrolled for degree 3 with the same operations in the same order as the general algorithm
/// ([`cubic_span_general`], the tests' reference), so the same values to the bit.
fn cubic_span(extended: &[f64], s: usize, x: f64) -> [[f64; 4]; 3] {
    // t_{s−2} ..= t_{s+3}.
    let t = &extended[s + 1..s + 7];
    let (left1, left2, left3) = (x - t[2], x - t[1], x - t[0]);
    let (right1, right2, right3) = (t[3] - x, t[4] - x, t[5] - x);
    // The functions of degree 1, 2 and 3 (`n_rj` for `ndu[r][j]`) and the knot differences (`n_jr`,
    // `j > r`).
    let n10 = right1 + left1;
    let temp = 1.0 / n10;
    let n01 = 0.0 + right1 * temp;
    let n11 = left1 * temp;
    let n20 = right1 + left2;
    let temp = n01 / n20;
    let n02 = 0.0 + right1 * temp;
    let saved = left2 * temp;
    let n21 = right2 + left1;
    let temp = n11 / n21;
    let n12 = saved + right2 * temp;
    let n22 = left1 * temp;
    let n30 = right1 + left3;
    let temp = n02 / n30;
    let n03 = 0.0 + right1 * temp;
    let saved = left3 * temp;
    let n31 = right2 + left2;
    let temp = n12 / n31;
    let n13 = saved + right2 * temp;
    let saved = left2 * temp;
    let n32 = right3 + left1;
    let temp = n22 / n32;
    let n23 = saved + right3 * temp;
    let n33 = left1 * temp;
    // First and second derivatives, function by function (`a1` and `a2` the coefficients of the first
    // and second differences).
    let a1_1 = -1.0 / n30;
    let first0 = 0.0 + a1_1 * n02;
    let a2_2 = -a1_1 / n20;
    let second0 = 0.0 + a2_2 * n01;

    let (a1_0, a1_1) = (1.0 / n30, -1.0 / n31);
    let first1 = a1_0 * n02 + a1_1 * n12;
    let a2_1 = (a1_1 - a1_0) / n20;
    let a2_2 = -a1_1 / n21;
    let second1 = (0.0 + a2_1 * n01) + a2_2 * n11;

    let (a1_0, a1_1) = (1.0 / n31, -1.0 / n32);
    let first2 = a1_0 * n12 + a1_1 * n22;
    let a2_0 = a1_0 / n20;
    let a2_1 = (a1_1 - a1_0) / n21;
    let second2 = a2_0 * n01 + a2_1 * n11;

    let a1_0 = 1.0 / n32;
    let first3 = a1_0 * n22;
    let a2_0 = a1_0 / n21;
    let second3 = a2_0 * n11;
    [
        [n03, n13, n23, n33],
        [first0 * 3.0, first1 * 3.0, first2 * 3.0, first3 * 3.0],
        [second0 * 6.0, second1 * 6.0, second2 * 6.0, second3 * 6.0],
    ]
}

/// [`cubic_span`] as the general algorithm A2.3 for degree 3 (the tests' reference).
#[cfg(test)]
fn cubic_span_general(extended: &[f64], s: usize, x: f64) -> [[f64; 4]; 3] {
    const P: usize = 3;
    let knot = |i: isize| -> f64 { extended[(i + 3) as usize] };
    let s = s as isize;
    let mut ndu = [[0.0_f64; 4]; 4];
    let (mut left, mut right) = ([0.0_f64; 4], [0.0_f64; 4]);
    ndu[0][0] = 1.0;
    for j in 1..=P {
        left[j] = x - knot(s + 1 - j as isize);
        right[j] = knot(s + j as isize) - x;
        let mut saved = 0.0;
        for r in 0..j {
            ndu[j][r] = right[r + 1] + left[j - r];
            let temp = ndu[r][j - 1] / ndu[j][r];
            ndu[r][j] = saved + right[r + 1] * temp;
            saved = left[j - r] * temp;
        }
        ndu[j][j] = saved;
    }
    let mut ders = [[0.0_f64; 4]; 3];
    for j in 0..=P {
        ders[0][j] = ndu[j][P];
    }
    for r in 0..=P as isize {
        let mut a = [[0.0_f64; 4]; 2];
        let (mut s1, mut s2) = (0usize, 1usize);
        a[0][0] = 1.0;
        for k in 1..=2isize {
            let mut d = 0.0;
            let rk = r - k;
            let pk = P as isize - k;
            if r >= k {
                a[s2][0] = a[s1][0] / ndu[(pk + 1) as usize][rk as usize];
                d = a[s2][0] * ndu[rk as usize][pk as usize];
            }
            let j1 = if rk >= -1 { 1 } else { -rk };
            let j2 = if r - 1 <= pk { k - 1 } else { P as isize - r };
            for j in j1..=j2 {
                let (ju, rkj) = (j as usize, (rk + j) as usize);
                a[s2][ju] = (a[s1][ju] - a[s1][ju - 1]) / ndu[(pk + 1) as usize][rkj];
                d += a[s2][ju] * ndu[rkj][pk as usize];
            }
            if r <= pk {
                let ku = k as usize;
                a[s2][ku] = -a[s1][ku - 1] / ndu[(pk + 1) as usize][r as usize];
                d += a[s2][ku] * ndu[r as usize][pk as usize];
            }
            ders[k as usize][r as usize] = d;
            std::mem::swap(&mut s1, &mut s2);
        }
    }
    let mut factor = P as f64;
    for (k, row) in ders.iter_mut().enumerate().skip(1) {
        for v in row.iter_mut() {
            *v *= factor;
        }
        factor *= (P - k) as f64;
    }
    ders
}

/// `B_j`, `B_j'`, `B_j''` of the cubic `B_j` at `x`.
#[cfg(test)]
fn cubic(knots: &[f64], j: usize, x: f64) -> [f64; 3] {
    [
        basis(knots, j, 3, x),
        basis_derivative(knots, j, 3, x, 1),
        basis_derivative(knots, j, 3, x, 2),
    ]
}

impl Correction {
    /// No correction.
    pub fn none() -> Correction {
        Correction::default()
    }

    /// The spline as one polynomial per knot interval, on the intervals where it is not zero (the
    /// supports of its non-zero coefficients).
    fn from_spline(spline: &Spline) -> Correction {
        let nonzero = |c: &&f64| **c != 0.0;
        let (Some(first), Some(last)) = (
            spline.coefficients.iter().position(|c| nonzero(&c)),
            spline.coefficients.iter().rposition(|c| nonzero(&c)),
        ) else {
            return Correction::none();
        };
        let knots = &spline.knots[first..=last + 4];
        let extended = extended(&spline.knots);
        let at = |k: f64| {
            let mut out = [0.0; 3];
            spline.add_to(&extended, k, &mut out);
            out
        };
        let pieces = knots
            .windows(2)
            .map(|t| {
                let h = t[1] - t[0];
                let [d0, d1, d2] = at(t[0]);
                // δ'' is linear on the interval: its value midway gives the third derivative.
                let d3 = 2.0 * (at(t[0] + 0.5 * h)[2] - d2) / h;
                [d0, d1, 0.5 * d2, d3 / 6.0]
            })
            .collect();
        Correction {
            knots: knots.to_vec(),
            pieces,
        }
    }

    /// Whether it is zero everywhere.
    pub fn is_zero(&self) -> bool {
        self.pieces.iter().all(|p| p.iter().all(|&c| c == 0.0))
    }

    /// The range `[t₀, t_m]` outside which it is zero (`None` without knots).
    pub fn support(&self) -> Option<(f64, f64)> {
        Some((*self.knots.first()?, *self.knots.last()?))
    }

    /// `δ`, `δ'`, `δ''` at `k`.
    #[inline]
    pub fn eval(&self, k: f64) -> [f64; 3] {
        let Some(&last) = self.knots.last() else {
            return [0.0; 3];
        };
        if !(k >= self.knots[0] && k < last) {
            return [0.0; 3];
        }
        let i = self.knots.partition_point(|&t| t <= k) - 1;
        self.piece_at(i, k)
    }

    /// `δ`, `δ'`, `δ''` at `k` on the polynomial of knot interval `i`.
    #[inline]
    fn piece_at(&self, i: usize, k: f64) -> [f64; 3] {
        let [a0, a1, a2, a3] = self.pieces[i];
        let x = k - self.knots[i];
        [
            a0 + x * (a1 + x * (a2 + x * a3)),
            a1 + x * (2.0 * a2 + x * 3.0 * a3),
            2.0 * a2 + x * 6.0 * a3,
        ]
    }

    /// A reader of the correction at increasing points: [`Correction::eval`] with the knot interval found
    /// by walking on from the previous point's instead of by a search.
    pub fn reader(&self) -> CorrectionReader<'_> {
        CorrectionReader {
            correction: self,
            interval: 0,
        }
    }
}

/// See [`Correction::reader`].
#[derive(Debug, Clone)]
pub struct CorrectionReader<'a> {
    correction: &'a Correction,
    interval: usize,
}

impl CorrectionReader<'_> {
    /// `δ`, `δ'`, `δ''` at `k`, the same values as [`Correction::eval`]; fastest when `k` does not
    /// decrease between calls (a point to the left of the previous one costs a search).
    #[inline]
    pub fn eval(&mut self, k: f64) -> [f64; 3] {
        let knots = &self.correction.knots;
        let Some(&last) = knots.last() else {
            return [0.0; 3];
        };
        if !(k >= knots[0] && k < last) {
            return [0.0; 3];
        }
        let mut i = self.interval;
        if k < knots[i] {
            i = knots.partition_point(|&t| t <= k) - 1;
        }
        // k < t_m: the walk stops at the last interval at the latest.
        while knots[i + 1] <= k {
            i += 1;
        }
        self.interval = i;
        self.correction.piece_at(i, k)
    }
}

/// An SVI slice with its correction: an expiry's own smile (the surface reads the running maximum of
/// the own smiles in T, [`crate::envelope::SurfaceSmile`]).
#[derive(Debug, Clone, Copy)]
pub struct Smile<'a> {
    /// The SVI part.
    pub svi: &'a SviRaw,
    /// The correction.
    pub correction: &'a Correction,
}

impl<'a> Smile<'a> {
    /// A reader of the smile at increasing points (see [`Correction::reader`]).
    pub fn reader(self) -> SmileReader<'a> {
        SmileReader {
            svi: self.svi,
            correction: self.correction.reader(),
        }
    }

    /// `w(k)`.
    pub fn total_variance(&self, k: f64) -> f64 {
        self.svi.total_variance(k) + self.correction.eval(k)[0]
    }

    /// `w`, `w'`, `w''` at `k`.
    pub fn derivatives(&self, k: f64) -> SliceDerivatives {
        let d = self.svi.derivatives(k);
        let [c0, c1, c2] = self.correction.eval(k);
        SliceDerivatives {
            w: d.w + c0,
            dw: d.dw + c1,
            d2w: d.d2w + c2,
        }
    }

    /// Durrleman's `g(k)`.
    pub fn durrleman_g(&self, k: f64) -> f64 {
        durrleman_g(k, self.derivatives(k))
    }

    /// Implied volatility `√(w(k)/T)`.
    pub fn vol(&self, k: f64, expiry_years: f64) -> f64 {
        (self.total_variance(k).max(0.0) / expiry_years).sqrt()
    }

    /// The at-the-money skew `dσ/dk` at `k = 0`.
    pub fn atm_skew(&self, expiry_years: f64) -> f64 {
        let d = self.derivatives(0.0);
        d.dw / (2.0 * (d.w.max(f64::MIN_POSITIVE) * expiry_years).sqrt())
    }
}

/// See [`Smile::reader`].
#[derive(Debug, Clone)]
pub struct SmileReader<'a> {
    svi: &'a SviRaw,
    correction: CorrectionReader<'a>,
}

impl SmileReader<'_> {
    /// `w(k)`, the same value as [`Smile::total_variance`].
    #[inline]
    pub fn total_variance(&mut self, k: f64) -> f64 {
        self.svi.total_variance(k) + self.correction.eval(k)[0]
    }

    /// `w`, `w'`, `w''` at `k`, the same values as [`Smile::derivatives`].
    #[inline]
    pub fn derivatives(&mut self, k: f64) -> SliceDerivatives {
        let d = self.svi.derivatives(k);
        let [c0, c1, c2] = self.correction.eval(k);
        SliceDerivatives {
            w: d.w + c0,
            dw: d.dw + c1,
            d2w: d.d2w + c2,
        }
    }
}

/// What the correction aims the slice's total variance into at `k`: `[lo, hi]`, with `weight` per unit of
/// squared distance outside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// `k = ln(K/F)`.
    pub k: f64,
    /// Lower edge (total variance; `−∞`: none).
    pub lo: f64,
    /// Upper edge (total variance).
    pub hi: f64,
    /// Weight.
    pub weight: f64,
    /// The band before it was shrunk, `(lo, hi)`: a slice inside every target's band needs no correction.
    pub band: (f64, f64),
}

impl Target {
    fn outside(&self, w: f64) -> f64 {
        if w < self.lo {
            w - self.lo
        } else if w > self.hi {
            w - self.hi
        } else {
            0.0
        }
    }
}

/// The share of a quote's implied-volatility band kept clear on each side when aiming into it, and the
/// most kept clear (vol, fraction): the rounding of published IVs and a few basis points of forward do not
/// move a quote aimed inside back out.
pub const BAND_SHRINK: f64 = 0.2;
/// See [`BAND_SHRINK`].
pub const BAND_SHRINK_MAX: f64 = 0.001;

/// The targets of a slice's own fit points: one per distinct strike, the band of its call and put
/// intersected (or, when they do not meet, the band of the heavier), then shrunk by [`BAND_SHRINK`].
pub fn own_targets(points: &FitPoints, expiry_years: f64) -> Vec<Target> {
    let t = expiry_years;
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points.k[a].total_cmp(&points.k[b]));
    // Per distinct strike: (k, bid IV, ask IV, weight, heaviest single weight).
    let mut bands: Vec<(f64, f64, f64, f64, f64)> = Vec::new();
    for i in order {
        let ((bid, ask), k, weight) = (points.band[i], points.k[i], points.weight[i]);
        if !(bid.is_finite() && ask.is_finite() && ask >= bid && bid > 0.0) {
            continue;
        }
        match bands.last_mut() {
            Some(last) if (last.0 - k).abs() < 1e-12 => {
                let (l, h) = (last.1.max(bid), last.2.min(ask));
                if l <= h {
                    *last = (k, l, h, last.3 + weight, last.4.max(weight));
                } else if weight > last.4 {
                    *last = (k, bid, ask, weight, weight);
                }
            }
            _ => bands.push((k, bid, ask, weight, weight)),
        }
    }
    bands
        .into_iter()
        .map(|(k, bid, ask, weight, _)| {
            let clear = (BAND_SHRINK * (ask - bid)).min(BAND_SHRINK_MAX);
            Target {
                k,
                lo: (bid + clear).powi(2) * t,
                hi: (ask - clear).powi(2) * t,
                weight,
                band: (bid * bid * t, ask * ask * t),
            }
        })
        .collect()
}

/// The targets a slice takes from a later expiry's own targets: at each, the slice should stay below the
/// upper edge of the later expiry's band, so that the later slice can reach it without calendar
/// arbitrage.
pub fn ceiling_targets(later: &[Target]) -> impl Iterator<Item = Target> + '_ {
    later.iter().map(|t| Target {
        lo: f64::NEG_INFINITY,
        band: (f64::NEG_INFINITY, t.band.1),
        ..*t
    })
}

/// The smallest `g` a correction step may leave where the slice had more, and the calendar clearance it
/// keeps from its neighbours (total variance): the same margins as the repairs.
const G_MARGIN: f64 = 1e-3;
const CALENDAR_CLEARANCE: f64 = 1e-7;
/// The calendar clearance per unit of total variance: two smiles that clear each other at the check
/// points by this much do not cross between them.
const CALENDAR_CLEARANCE_RELATIVE: f64 = 1e-4;
/// Check points per knot interval, at least and at most.
const CHECKS_PER_INTERVAL: usize = 4;
const CHECKS_PER_INTERVAL_MAX: usize = 24;
/// The calendar margin of the final verification, per unit of total variance (the repairs' own).
const VERIFY_MARGIN_RELATIVE: f64 = 1e-5;
/// Halvings of the whole correction tried when the final verification fails.
const VERIFY_HALVINGS: usize = 8;
/// Rounds of reweighting, at most.
const ROUNDS: usize = 3;
/// The distance outside (as a share of the band width) at which a target's weight halves between rounds.
const REWEIGHT_WIDTH: f64 = 0.25;
/// The weight of further targets relative to their own (a slice's own quotes come first).
const EXTRA_WEIGHT: f64 = 0.1;
/// A round stops when a sweep lowers the objective by less than this share.
const SWEEP_PROGRESS: f64 = 0.01;
/// Distance outside a band (total variance) below which a target counts as met.
const OUTSIDE_TOLERANCE: f64 = 1e-10;
/// Sweeps over the coefficients per round, at most.
const SWEEPS: usize = 12;
/// Step halvings tried when a step breaks a condition.
const HALVINGS: usize = 4;

/// One slice's correction problem.
pub struct CorrectionInput<'a> {
    /// The slice's SVI.
    pub svi: &'a SviRaw,
    /// Its own targets ([`own_targets`]): their strikes place the knots.
    pub own: &'a [Target],
    /// Further targets (e.g. [`ceiling_targets`]) inside the knots' range.
    pub extra: &'a [Target],
    /// The dense grid of the surface (checked where the correction lives, with points between the knots).
    pub grid: &'a [f64],
    /// The total variance the slice must stay above (the previous expiry's own smile).
    pub floor: Option<Bound<'a>>,
    /// The total variance the slice must stay below (the next expiry's smile).
    pub ceiling: Option<Bound<'a>>,
}

/// A floor or ceiling of a slice's total variance: a neighbouring expiry's smile, or any function of `k`.
#[derive(Clone, Copy)]
pub enum Bound<'a> {
    /// A smile, read at increasing points without a search per point.
    Smile(Smile<'a>),
    /// Any function of `k`.
    Function(&'a dyn Fn(f64) -> f64),
}

impl<'a> Bound<'a> {
    /// A reader of the bound at increasing points.
    fn reader(self) -> BoundReader<'a> {
        match self {
            Bound::Smile(s) => BoundReader::Smile(s.reader()),
            Bound::Function(f) => BoundReader::Function(f),
        }
    }
}

/// See [`Bound::reader`].
enum BoundReader<'a> {
    Smile(SmileReader<'a>),
    Function(&'a dyn Fn(f64) -> f64),
}

impl BoundReader<'_> {
    /// The total variance at `k`.
    #[inline]
    fn at(&mut self, k: f64) -> f64 {
        match self {
            BoundReader::Smile(s) => s.total_variance(k),
            BoundReader::Function(f) => f(k),
        }
    }
}

/// Fits the correction of one slice (none when every target is already met or the slice has fewer than
/// four distinct strikes).
pub fn fit_correction(input: &CorrectionInput<'_>) -> Correction {
    fit_correction_with(input, &mut CorrectionBases::default())
}

/// The B-spline values of a slice's last correction fit at its check points and targets, with what they
/// were computed from (the knots, the dense grid's extent and the targets' `k`, as bits). They depend on
/// no price: after a quote's price moves (its strike, and so the knots, stay) the next fit reads them
/// instead of computing them again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CorrectionBases {
    key: Vec<u64>,
    functions: Option<Functions>,
}

/// [`fit_correction`], reusing `bases` when they were computed from the same knots, grid and targets' `k`
/// (and keeping this fit's there): the same correction, bit for bit.
pub fn fit_correction_with(input: &CorrectionInput<'_>, bases: &mut CorrectionBases) -> Correction {
    let svi = input.svi;
    let own = input.own;
    if own.len() < 4 {
        return Correction::none();
    }
    // Only a slice that leaves a quote outside its band (not merely near its edge) is corrected.
    let missed = |targets: &[Target]| {
        targets.iter().any(|t| {
            let w = svi.total_variance(t.k);
            w < t.band.0 || w > t.band.1
        })
    };
    if !missed(own) && !missed(input.extra) {
        return Correction::none();
    }
    let knots = place_knots(input);
    let (lo, hi) = (knots[0], knots[knots.len() - 1]);
    let checks = Checks::new(&knots, input);
    let targets: Vec<Target> = own
        .iter()
        .copied()
        .chain(
            input
                .extra
                .iter()
                .filter(|t| t.k > lo && t.k < hi)
                .map(|t| Target {
                    weight: t.weight * EXTRA_WEIGHT,
                    ..*t
                }),
        )
        .collect();
    let grid_extent = [
        input.grid.len() as u64,
        input.grid.first().map_or(0, |k| k.to_bits()),
        input.grid.last().map_or(0, |k| k.to_bits()),
    ];
    let key: Vec<u64> = [knots.len() as u64]
        .into_iter()
        .chain(knots.iter().map(|k| k.to_bits()))
        .chain(grid_extent)
        .chain(targets.iter().map(|t| t.k.to_bits()))
        .collect();
    if bases.functions.is_none() || bases.key != key {
        bases.functions = Some(Functions::new(&knots, &checks, &targets));
        bases.key = key;
    }
    let functions = bases.functions.as_ref().expect("set above");
    let coefficients = descend(svi, &checks, functions, targets);
    if coefficients.iter().all(|&c| c == 0.0) {
        return Correction::none();
    }
    verified(input, knots, &checks, coefficients)
}

/// The knots of a slice's correction: at the distinct strikes of its targets (the further targets beyond
/// the own quotes extend the range), two more on each side at the end spacing.
fn place_knots(input: &CorrectionInput<'_>) -> Vec<f64> {
    let own = input.own;
    let (own_lo, own_hi) = (own[0].k, own[own.len() - 1].k);
    let mut ks: Vec<f64> = own.iter().map(|t| t.k).collect();
    // Beyond the own range, knots at least a mean own spacing apart.
    let gap = (own_hi - own_lo) / (own.len() - 1) as f64;
    let mut outer: Vec<f64> = input
        .extra
        .iter()
        .map(|t| t.k)
        .filter(|&k| k < own_lo - 0.5 * gap || k > own_hi + 0.5 * gap)
        .collect();
    outer.sort_by(f64::total_cmp);
    let mut placed = own_lo;
    for &k in outer.iter().filter(|&&k| k < own_lo).rev() {
        if placed - k >= gap {
            ks.push(k);
            placed = k;
        }
    }
    let mut placed = own_hi;
    for &k in outer.iter().filter(|&&k| k > own_hi) {
        if k - placed >= gap {
            ks.push(k);
            placed = k;
        }
    }
    ks.sort_by(f64::total_cmp);
    let n = ks.len();
    let (hl, hr) = (ks[1] - ks[0], ks[n - 1] - ks[n - 2]);
    // The outer knots reach the ends of the grid when it is wider: a wing the slice only extrapolates can
    // then give way to a neighbour's quotes without a dip.
    let grid_lo = input.grid.first().copied().unwrap_or(f64::INFINITY);
    let grid_hi = input.grid.last().copied().unwrap_or(f64::NEG_INFINITY);
    let (first, last) = (ks[0] - 2.0 * hl, ks[n - 1] + 2.0 * hr);
    let (first, last) = (first.min(grid_lo), last.max(grid_hi));
    let mut knots = Vec::with_capacity(n + 4);
    knots.extend([first, 0.5 * (first + ks[0])]);
    knots.extend(&ks);
    knots.extend([0.5 * (last + ks[n - 1]), last]);
    knots
}

/// The points where each step of the descent is checked: evenly spaced in every knot interval, at least
/// `CHECKS_PER_INTERVAL` and no farther apart than the dense grid's mean step, up to
/// `CHECKS_PER_INTERVAL_MAX`; with the slice's SVI, floor and ceiling at each.
struct Checks {
    /// `k`, increasing.
    k: Vec<f64>,
    /// The first point of each knot interval, then the number of points.
    start: Vec<usize>,
    /// The SVI's `w`, `w'`, `w''`.
    base: Vec<SliceDerivatives>,
    /// The floor's total variance (`−∞` without a floor).
    floor: Vec<f64>,
    /// The ceiling's total variance (`+∞` without a ceiling).
    ceiling: Vec<f64>,
}

impl Checks {
    fn new(knots: &[f64], input: &CorrectionInput<'_>) -> Checks {
        let step = match input.grid {
            [first, .., last] => (last - first) / (input.grid.len() - 1) as f64,
            _ => f64::INFINITY,
        };
        let mut k: Vec<f64> = Vec::new();
        let mut start = Vec::with_capacity(knots.len());
        for w in knots.windows(2) {
            start.push(k.len());
            let count = ((w[1] - w[0]) / step)
                .ceil()
                .clamp(CHECKS_PER_INTERVAL as f64, CHECKS_PER_INTERVAL_MAX as f64)
                as usize;
            k.extend((0..count).map(|i| w[0] + (w[1] - w[0]) * i as f64 / count as f64));
        }
        start.push(k.len());
        Checks {
            base: k.iter().map(|&k| input.svi.derivatives(k)).collect(),
            floor: bound_at(input.floor, &k, f64::NEG_INFINITY),
            ceiling: bound_at(input.ceiling, &k, f64::INFINITY),
            k,
            start,
        }
    }
}

/// A bound at the increasing points `k` (`missing` everywhere without one).
fn bound_at(bound: Option<Bound<'_>>, k: &[f64], missing: f64) -> Vec<f64> {
    match bound {
        Some(bound) => {
            let mut reader = bound.reader();
            k.iter().map(|&k| reader.at(k)).collect()
        }
        None => vec![missing; k.len()],
    }
}

/// The B-splines of the knots where they are not zero: function `j` lives on the knot intervals
/// `j ..= j + 3`, a contiguous run of check points from the first point of interval `j`.
#[derive(Debug, Clone, PartialEq)]
struct Functions {
    /// The first check point of each function.
    first: Vec<usize>,
    /// Where each function's values start in `values`, then `values.len()`.
    offset: Vec<usize>,
    /// `[B_j, B_j', B_j'']` at the function's check points, function after function.
    values: Vec<[f64; 3]>,
    /// Where each function's targets start in `targets`, then `targets.len()`.
    target_offset: Vec<usize>,
    /// `(i, B_j(k_i))` for the targets `i` where the function is positive, function after function.
    targets: Vec<(usize, f64)>,
}

impl Functions {
    fn new(knots: &[f64], checks: &Checks, targets: &[Target]) -> Functions {
        let extended = extended(knots);
        let count = knots.len() - 4;
        let first = checks.start[..count].to_vec();
        let mut offset = Vec::with_capacity(count + 1);
        offset.push(0);
        for j in 0..count {
            offset.push(offset[j] + checks.start[j + 4] - checks.start[j]);
        }
        let of = |s: usize, r: usize| (s + r).checked_sub(3).filter(|&j| j < count);
        let mut values = vec![[0.0; 3]; offset[count]];
        for s in 0..knots.len() - 1 {
            for p in checks.start[s]..checks.start[s + 1] {
                let k = checks.k[p];
                debug_assert_eq!(knots.partition_point(|&t| t <= k) - 1, s);
                let [v, d1, d2] = cubic_span(&extended, s, k);
                for r in 0..4 {
                    if let Some(j) = of(s, r) {
                        values[offset[j] + p - first[j]] = [v[r], d1[r], d2[r]];
                    }
                }
            }
        }
        // Each function's targets in the targets' order (the order of the step's sums).
        let mut entries: Vec<(usize, usize, f64)> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let s = knots.partition_point(|&u| u <= t.k) - 1;
            let [v, _, _] = cubic_span(&extended, s, t.k);
            for (r, &b) in v.iter().enumerate() {
                if let Some(j) = of(s, r).filter(|_| b > 0.0) {
                    entries.push((j, i, b));
                }
            }
        }
        // Grouped by function, each group in the targets' order: a counting sort (stable, like
        // `sort_by_key`, without its comparisons).
        let mut target_offset = vec![0; count + 1];
        for e in &entries {
            target_offset[e.0 + 1] += 1;
        }
        for j in 0..count {
            target_offset[j + 1] += target_offset[j];
        }
        let mut cursor = target_offset[..count].to_vec();
        let mut grouped = vec![(0, 0.0); entries.len()];
        for &(j, i, b) in &entries {
            grouped[cursor[j]] = (i, b);
            cursor[j] += 1;
        }
        Functions {
            first,
            offset,
            values,
            target_offset,
            targets: grouped,
        }
    }

    fn len(&self) -> usize {
        self.first.len()
    }

    /// Function `j`.
    fn get(&self, j: usize) -> Function<'_> {
        Function {
            first: self.first[j],
            values: &self.values[self.offset[j]..self.offset[j + 1]],
            targets: &self.targets[self.target_offset[j]..self.target_offset[j + 1]],
        }
    }
}

/// One function of [`Functions`].
struct Function<'a> {
    /// Its first check point.
    first: usize,
    /// `[B, B', B'']` at its check points.
    values: &'a [[f64; 3]],
    /// `(i, B(k_i))` for the targets `i` where it is positive.
    targets: &'a [(usize, f64)],
}

/// The coordinate descent: the coefficients of the functions, one step at a time, each checked at the
/// check points; `targets` reweighted between rounds.
fn descend(
    svi: &SviRaw,
    checks: &Checks,
    functions: &Functions,
    mut targets: Vec<Target>,
) -> Vec<f64> {
    let (check, floor, ceiling) = (&checks.k, &checks.floor, &checks.ceiling);
    let clearance: Vec<f64> = checks
        .base
        .iter()
        .map(|d| CALENDAR_CLEARANCE + CALENDAR_CLEARANCE_RELATIVE * d.w.abs())
        .collect();
    let mut current = checks.base.clone();
    let mut g: Vec<f64> = check
        .iter()
        .zip(&current)
        .map(|(&k, &d)| durrleman_g(k, d))
        .collect();
    let initial: Vec<f64> = targets.iter().map(|t| t.weight).collect();
    let mut target_w: Vec<f64> = targets.iter().map(|t| svi.total_variance(t.k)).collect();
    let scale: f64 = initial.iter().sum::<f64>() / initial.len() as f64;
    let mu = 1e-8 * scale;
    let mut coefficients = vec![0.0; functions.len()];
    let mut changed = vec![0.0_f64; 0];
    let objective = |targets: &[Target], target_w: &[f64]| -> f64 {
        targets
            .iter()
            .zip(target_w)
            .map(|(t, &w)| t.weight * t.outside(w).powi(2))
            .sum()
    };
    let mut blocked = vec![false; functions.len()];
    let mut breaks = Vec::new();
    for round in 0..ROUNDS {
        blocked.fill(false);
        for _ in 0..SWEEPS {
            let before = objective(&targets, &target_w);
            if before == 0.0 {
                break;
            }
            for j in 0..functions.len() {
                let Function {
                    first,
                    values,
                    targets: of,
                } = functions.get(j);
                let c = coefficients[j];
                let active = of
                    .iter()
                    .any(|&(i, _)| targets[i].outside(target_w[i]).abs() > OUTSIDE_TOLERANCE);
                if !active || blocked[j] {
                    continue;
                }
                let step = best_step(&targets, &target_w, of, c, mu, &mut breaks);
                if step == 0.0 || !step.is_finite() {
                    continue;
                }
                let mut step = step;
                blocked[j] = true;
                for _ in 0..HALVINGS {
                    changed.clear();
                    let mut ok = true;
                    for (p, v) in values.iter().enumerate() {
                        let i = first + p;
                        let d = SliceDerivatives {
                            w: current[i].w + step * v[0],
                            dw: current[i].dw + step * v[1],
                            d2w: current[i].d2w + step * v[2],
                        };
                        let gi = durrleman_g(check[i], d);
                        let was = current[i].w;
                        // NaN fails every condition.
                        let butterfly_ok = gi >= g[i].min(G_MARGIN);
                        if !butterfly_ok
                            || d.w - floor[i] < (was - floor[i]).min(clearance[i])
                            || ceiling[i] - d.w < (ceiling[i] - was).min(clearance[i])
                        {
                            ok = false;
                            break;
                        }
                        changed.push(gi);
                    }
                    if ok {
                        for (p, v) in values.iter().enumerate() {
                            let i = first + p;
                            current[i].w += step * v[0];
                            current[i].dw += step * v[1];
                            current[i].d2w += step * v[2];
                            g[i] = changed[p];
                        }
                        for &(i, b) in of {
                            target_w[i] += step * b;
                        }
                        coefficients[j] += step;
                        blocked[j] = false;
                        break;
                    }
                    step *= 0.5;
                }
            }
            let after = objective(&targets, &target_w);
            if after >= before * (1.0 - SWEEP_PROGRESS) {
                break;
            }
        }
        // Targets still outside pull less in the next round, the farther out the less (Cauchy weights):
        // a quote that cannot be reached stops pulling its neighbours out of their bands.
        if round + 1 == ROUNDS {
            break;
        }
        let mut reweighted = false;
        for (i, t) in targets.iter_mut().enumerate() {
            let out = t.outside(target_w[i]);
            let width = if t.lo.is_finite() {
                REWEIGHT_WIDTH * (t.hi - t.lo)
            } else {
                0.04 * REWEIGHT_WIDTH * t.hi
            }
            .max(1e-9);
            let weight = initial[i] / (1.0 + (out / width).powi(2));
            reweighted |= weight < 0.5 * t.weight;
            t.weight = weight;
        }
        if !reweighted {
            break;
        }
    }
    coefficients
}

/// The correction of `coefficients` (not all zero) on `knots`, verified: the steps were checked at the
/// check points; the result is verified again on a grid twice as fine (against the same conditions, with
/// no margin, where the SVI met them), and scaled back by halves until it passes. The dense grid is
/// verified too: the surface's own checks (`g_min`, calendar violations) run on it. Only where the
/// correction is not zero: the supports of its non-zero coefficients.
fn verified(
    input: &CorrectionInput<'_>,
    knots: Vec<f64>,
    checks: &Checks,
    coefficients: Vec<f64>,
) -> Correction {
    let (Some(first), Some(last)) = (
        coefficients.iter().position(|&c| c != 0.0),
        coefficients.iter().rposition(|&c| c != 0.0),
    ) else {
        return Correction::none();
    };
    let (lo, hi) = (knots[first], knots[last + 4]);
    let inside = |k: f64| k >= lo && k < hi;
    let mut verify: Vec<(f64, SliceDerivatives, f64, f64)> = Vec::new();
    let mut admit = |k: f64, d: SliceDerivatives, f: f64, c: f64| {
        if durrleman_g(k, d) >= 0.0 && d.w >= f && d.w <= c {
            // The floor and ceiling moved in by the repairs' calendar margin where the SVI clears them
            // by more: two smiles that clear at these points do not cross between them.
            let margin = |v: f64| CALENDAR_CLEARANCE + VERIFY_MARGIN_RELATIVE * v.abs();
            let f = f + (d.w - f).min(margin(f));
            let c = c - (c - d.w).min(margin(c));
            verify.push((k, d, f, c));
        }
    };
    // The check points' SVI, floor and ceiling are those computed for the steps; the midpoints and the
    // dense grid's points are evaluated here. (The order does not matter: every point must pass.)
    for i in 0..checks.k.len().saturating_sub(1) {
        if inside(checks.k[i]) {
            admit(
                checks.k[i],
                checks.base[i],
                checks.floor[i],
                checks.ceiling[i],
            );
        }
    }
    let midpoints = checks.k.windows(2).map(|w| 0.5 * (w[0] + w[1]));
    let grid = input.grid.iter().copied();
    for points in [
        &mut midpoints.filter(|&k| inside(k)) as &mut dyn Iterator<Item = f64>,
        &mut grid.filter(|&k| inside(k)),
    ] {
        let mut floor = input.floor.map(|s| s.reader());
        let mut ceiling = input.ceiling.map(|s| s.reader());
        for k in points {
            admit(
                k,
                input.svi.derivatives(k),
                floor.as_mut().map_or(f64::NEG_INFINITY, |f| f.at(k)),
                ceiling.as_mut().map_or(f64::INFINITY, |c| c.at(k)),
            );
        }
    }
    // Halving every coefficient halves the correction exactly (a power of two), so its values at the
    // verification points are computed once.
    let full = Correction::from_spline(&Spline {
        knots: knots.clone(),
        coefficients: coefficients.clone(),
    });
    let mut reader = full.reader();
    let deltas: Vec<[f64; 3]> = verify.iter().map(|v| reader.eval(v.0)).collect();
    let mut scale = 1.0;
    for _ in 0..VERIFY_HALVINGS {
        let clean = verify.iter().zip(&deltas).all(|(&(k, d, f, c), delta)| {
            let d = SliceDerivatives {
                w: d.w + scale * delta[0],
                dw: d.dw + scale * delta[1],
                d2w: d.d2w + scale * delta[2],
            };
            durrleman_g(k, d) >= 0.0 && d.w >= f && d.w <= c
        });
        if clean {
            return if scale == 1.0 {
                full
            } else {
                Correction::from_spline(&Spline {
                    knots,
                    coefficients: coefficients.iter().map(|c| c * scale).collect(),
                })
            };
        }
        scale *= 0.5;
    }
    Correction::none()
}

/// The step `Δ` of one coefficient `c` minimising `Σ weightᵢ·outsideᵢ(wᵢ + bᵢΔ)² + μ(c + Δ)²` over the
/// function's targets `(i, bᵢ)`: the root of a non-decreasing piecewise-linear derivative, found between
/// its breakpoints.
fn best_step(
    targets: &[Target],
    target_w: &[f64],
    of: &[(usize, f64)],
    c: f64,
    mu: f64,
    breaks: &mut Vec<f64>,
) -> f64 {
    let slope = |d: f64| -> f64 {
        let mut s = mu * (c + d);
        for &(i, b) in of {
            s += targets[i].weight * b * targets[i].outside(target_w[i] + b * d);
        }
        s
    };
    breaks.clear();
    breaks.push(-c);
    for &(i, b) in of {
        if b > 0.0 {
            for edge in [targets[i].lo, targets[i].hi] {
                if edge.is_finite() {
                    breaks.push((edge - target_w[i]) / b);
                }
            }
        }
    }
    breaks.sort_by(f64::total_cmp);
    let linear_root = |d0: f64, s0: f64, d1: f64, s1: f64| {
        if s1 == s0 {
            d0
        } else {
            d0 - s0 * (d1 - d0) / (s1 - s0)
        }
    };
    let first = slope(breaks[0]);
    if first >= 0.0 {
        // Left of every breakpoint: the derivative is linear there with the slope at breaks[0] − 1.
        let d1 = breaks[0] - 1.0;
        return linear_root(breaks[0], first, d1, slope(d1));
    }
    // The derivative is linear between consecutive breakpoints: find where it crosses zero, evaluating it
    // at the breakpoints up to there only.
    let mut before = first;
    for w in 0..breaks.len() - 1 {
        let after = slope(breaks[w + 1]);
        if before < 0.0 && after >= 0.0 {
            return linear_root(breaks[w], before, breaks[w + 1], after);
        }
        before = after;
    }
    let last = breaks.len() - 1;
    let d1 = breaks[last] + 1.0;
    linear_root(breaks[last], before, d1, slope(d1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knots() -> Vec<f64> {
        vec![-0.9, -0.5, -0.35, -0.1, 0.0, 0.12, 0.3, 0.55, 0.6, 1.0]
    }

    #[test]
    fn cubic_b_splines_sum_to_one_inside_the_knots_and_vanish_outside() {
        let t = knots();
        let count = t.len() - 4;
        // Where four functions overlap (t₃ ≤ x < t_{m−3}) they sum to 1 (partition of unity, de Boor).
        for i in 0..=40 {
            let x = t[3] + (t[t.len() - 4] - t[3]) * f64::from(i) / 41.0;
            let s: f64 = (0..count).map(|j| basis(&t, j, 3, x)).sum();
            assert!((s - 1.0).abs() < 1e-14, "{x}: {s}");
            let d: f64 = (0..count).map(|j| cubic(&t, j, x)[1]).sum();
            assert!(d.abs() < 1e-12, "{x}: {d}");
        }
        for x in [-2.0, -0.9 - 1e-12, 1.0, 3.0] {
            assert!((0..count).all(|j| cubic(&t, j, x) == [0.0; 3]), "{x}");
        }
    }

    fn spline() -> Spline {
        Spline {
            knots: knots(),
            coefficients: vec![0.01, -0.02, 0.015, 0.03, -0.01, 0.005],
        }
    }

    #[test]
    fn the_span_algorithm_and_the_polynomials_agree_with_cox_de_boor() {
        let (s, t) = (spline(), knots());
        let c = Correction::from_spline(&s);
        for i in 0..=200 {
            let x = -1.0 + 2.1 * f64::from(i) / 200.0;
            // Reference: the recursion, function by function.
            let mut want = [0.0; 3];
            for (j, &cj) in s.coefficients.iter().enumerate() {
                let b = cubic(&t, j, x);
                for d in 0..3 {
                    want[d] += cj * b[d];
                }
            }
            let mut span = [0.0; 3];
            s.add_to(&extended(&t), x, &mut span);
            let poly = c.eval(x);
            for d in 0..3 {
                let scale = [1.0, 10.0, 100.0][d];
                assert!(
                    (span[d] - want[d]).abs() < 1e-13 * scale,
                    "{x} d{d}: {span:?} {want:?}"
                );
                assert!(
                    (poly[d] - want[d]).abs() < 1e-11 * scale,
                    "{x} d{d}: {poly:?} {want:?}"
                );
            }
        }
    }

    #[test]
    fn the_unrolled_span_gives_the_general_algorithms_values_bit_for_bit() {
        let t = knots();
        let extended = extended(&t);
        for s in 0..t.len() - 1 {
            for i in 0..=50 {
                // Both ends of the interval, and points between.
                let x = t[s] + (t[s + 1] - t[s]) * f64::from(i) / 50.0;
                let (fast, general) = (
                    cubic_span(&extended, s, x),
                    cubic_span_general(&extended, s, x),
                );
                for d in 0..3 {
                    for r in 0..4 {
                        assert_eq!(
                            fast[d][r].to_bits(),
                            general[d][r].to_bits(),
                            "{s} {x} {d} {r}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_reader_gives_the_values_of_eval_bit_for_bit() {
        let c = Correction::from_spline(&spline());
        let mut reader = c.reader();
        // Increasing points through every interval and beyond both ends, then one step back.
        let points = (0..=300).map(|i| -1.2 + 2.5 * f64::from(i) / 300.0);
        for k in points.chain(knots()).chain([0.05, -0.95, 0.3]) {
            assert_eq!(reader.eval(k), c.eval(k), "{k}");
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        let c = Correction::from_spline(&spline());
        let h = 1e-5;
        for i in 1..60 {
            let x = -0.9 + 1.9 * f64::from(i) / 60.0;
            let [_, d1, d2] = c.eval(x);
            let (m, p, z) = (c.eval(x - h)[0], c.eval(x + h)[0], c.eval(x)[0]);
            assert!((d1 - (p - m) / (2.0 * h)).abs() < 1e-7, "{x}");
            assert!((d2 - (p - 2.0 * z + m) / (h * h)).abs() < 1e-3, "{x}");
        }
        // A cubic spline with knots of multiplicity one is C²: δ'' is continuous across a knot.
        for &k in &knots()[1..9] {
            let (a, b) = (c.eval(k - 1e-10)[2], c.eval(k + 1e-10)[2]);
            assert!((a - b).abs() < 1e-6, "{k}: {a} {b}");
        }
        // And it vanishes at and beyond the ends.
        assert_eq!(c.eval(-0.9), [0.0; 3]);
        assert_eq!(c.eval(1.0), [0.0; 3]);
    }

    #[test]
    fn the_step_minimises_the_piecewise_quadratic() {
        let targets = [
            Target {
                k: 0.0,
                lo: 0.10,
                hi: 0.11,
                weight: 2.0,
                band: (0.10, 0.11),
            },
            Target {
                k: 0.1,
                lo: 0.08,
                hi: 0.09,
                weight: 1.0,
                band: (0.08, 0.09),
            },
        ];
        let w = [0.13, 0.07];
        let of = [(0, 0.6), (1, 0.3)];
        let step = best_step(&targets, &w, &of, 0.0, 1e-9, &mut Vec::new());
        let f = |d: f64| {
            of.iter()
                .map(|&(i, b)| targets[i].weight * targets[i].outside(w[i] + b * d).powi(2))
                .sum::<f64>()
                + 1e-9 * d * d
        };
        // Against a fine scan.
        let best = (-20_000..=20_000)
            .map(|i| f64::from(i) * 1e-5)
            .min_by(|a, b| f(*a).total_cmp(&f(*b)))
            .unwrap();
        assert!((step - best).abs() < 2e-5, "{step} {best}");
        assert!(f(step) <= f(best) + 1e-15);
    }
}
