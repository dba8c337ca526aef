//! Quasi-explicit calibration of one raw SVI slice (De Marco & Martini / Zeliade, "Quasi-explicit
//! calibration of Gatheral's SVI model", Zeliade white paper, 2009).
//!
//! With `y = (k − m)/σ` the slice is `w = a + d·y + c·√(y² + 1)` where `d = ρbσ`, `c = bσ`: for fixed `(m, σ)`
//! it is linear in `(a, d, c)`. The inner problem — weighted least squares in `(a, d, c)` over a polytope —
//! is solved exactly by enumerating active sets of its KKT conditions (three unknowns, seven constraints);
//! the outer problem in `(m, σ)` is two-dimensional and solved by a bounded Nelder–Mead with a fixed budget
//! of evaluations from several starts. Neither stage can diverge: the inner one is a finite enumeration, the
//! outer one is clamped to a box and stops after a fixed number of evaluations.
//!
//! The polytope is the arbitrage-aware domain of the paper (§2, with Lee's slope 2 in place of 4):
//! `|d| ≤ c` (`|ρ| ≤ 1`), `c + |d| ≤ 2σ` (wing slopes `b(1 ± ρ) ≤ 2`, Lee 2004), `a ≤ max wᵢ`, and chords
//! under the concave `√(1 − u²)` that imply a non-negative minimum `a + √(c² − d²)` (see [`constraints`]). The calendar
//! condition against the neighbouring slices is linear in `(a, d, c)` too, `w_prev(kⱼ) ≤ w(kⱼ) ≤ w_next(kⱼ)`
//! at grid points, and joins the inner problem as a stiff quadratic penalty solved exactly by semi-smooth
//! Newton on the violated points (what is left of a violation is repaired on the dense grid afterwards);
//! Durrleman's butterfly condition is not linear and enters the outer objective as a penalty on a grid.

use crate::svi::{SviRaw, LEE_SLOPE_MAX};

/// One slice's data for the fit: log-moneyness, target total variance, and least-squares weight per point.
#[derive(Debug, Clone, Copy)]
pub struct FitData<'a> {
    /// `k = ln(K/F)` of each quote.
    pub k: &'a [f64],
    /// Target total variance of each quote (years × vol²).
    pub w: &'a [f64],
    /// Weight of each squared total-variance residual (> 0).
    pub weight: &'a [f64],
    /// The weighted sum of squared residuals is divided by this (> 0) to make the objective a mean
    /// (the slice builder passes `Σ νᵢ`, so the objective is a mean squared residual in half-spreads).
    pub normaliser: f64,
}

/// Penalties, constraints and limits of the outer objective.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions<'a> {
    /// Points where Durrleman's `g` is checked during the fit (a coarse grid over the quoted range).
    pub butterfly_grid: &'a [f64],
    /// Weight of `Σ min(g, 0)²` against the mean weighted squared residual.
    pub butterfly_penalty: f64,
    /// Calendar bounds: the slice should stay above a floor (the previous, shorter slice) and below a
    /// ceiling (the next, longer one) at grid points, as a stiff penalty of the inner least squares.
    pub calendar: Option<CalendarBounds<'a>>,
    /// Objective evaluations allowed per Nelder–Mead start.
    pub evaluations_per_start: usize,
}

/// Calendar bounds of a fit at grid points `k` (at most 64).
#[derive(Debug, Clone, Copy)]
pub struct CalendarBounds<'a> {
    /// The grid points.
    pub k: &'a [f64],
    /// Total variance the slice should reach at each point (the previous slice's), if any.
    pub floor: Option<&'a [f64]>,
    /// Total variance the slice should not exceed at each point (the next slice's), if any.
    pub ceiling: Option<&'a [f64]>,
}

/// The outcome of a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitResult {
    /// The fitted slice.
    pub params: SviRaw,
    /// The outer objective at the optimum: mean weighted squared residual plus penalties.
    pub objective: f64,
    /// Objective evaluations used (each one inner exact solve).
    pub evaluations: usize,
}

/// Weighted sums of one `(m, σ)` evaluation: the normal equations of the inner least squares.
#[derive(Debug, Clone, Copy, Default)]
struct Normal {
    h: [[f64; 3]; 3],
    g: [f64; 3],
    ww: f64,
}

/// Lanes of the normal-equation sums: four independent partial sums per quantity let the compiler keep
/// them in SIMD registers (floating-point sums are not reassociated otherwise).
const LANES: usize = 4;

// Indexed loops over the lanes and the small matrices read as the formulas do.
#[allow(clippy::needless_range_loop)]
fn normal_equations(data: &FitData<'_>, m: f64, sigma: f64) -> Normal {
    let inv_sigma = 1.0 / sigma;
    // acc[q][lane]: 1, y, z, yy, yz, zz, w, yw, zw, ww.
    let mut acc = [[0.0_f64; LANES]; 10];
    let n = data.k.len();
    let whole = n - n % LANES;
    let (k, w, o) = (&data.k[..n], &data.w[..n], &data.weight[..n]);
    let mut i = 0;
    while i < whole {
        for lane in 0..LANES {
            let j = i + lane;
            let y = (k[j] - m) * inv_sigma;
            let z = (y * y + 1.0).sqrt();
            let (oj, wj) = (o[j], w[j]);
            let (oy, oz, ow) = (oj * y, oj * z, oj * wj);
            acc[0][lane] += oj;
            acc[1][lane] += oy;
            acc[2][lane] += oz;
            acc[3][lane] += oy * y;
            acc[4][lane] += oy * z;
            acc[5][lane] += oz * z;
            acc[6][lane] += ow;
            acc[7][lane] += oy * wj;
            acc[8][lane] += oz * wj;
            acc[9][lane] += ow * wj;
        }
        i += LANES;
    }
    for j in whole..n {
        let y = (k[j] - m) * inv_sigma;
        let z = (y * y + 1.0).sqrt();
        let (oj, wj) = (o[j], w[j]);
        let (oy, oz, ow) = (oj * y, oj * z, oj * wj);
        let lane = j - whole;
        acc[0][lane] += oj;
        acc[1][lane] += oy;
        acc[2][lane] += oz;
        acc[3][lane] += oy * y;
        acc[4][lane] += oy * z;
        acc[5][lane] += oz * z;
        acc[6][lane] += ow;
        acc[7][lane] += oy * wj;
        acc[8][lane] += oz * wj;
        acc[9][lane] += ow * wj;
    }
    let sum = |q: usize| (acc[q][0] + acc[q][1]) + (acc[q][2] + acc[q][3]);
    let (s1, sy, sz, syy, syz, szz) = (sum(0), sum(1), sum(2), sum(3), sum(4), sum(5));
    Normal {
        h: [[s1, sy, sz], [sy, syy, syz], [sz, syz, szz]],
        g: [sum(6), sum(7), sum(8)],
        ww: sum(9),
    }
}

/// Number of domain constraints.
const CONSTRAINTS: usize = 13;

/// Nodes `u = |d|/c = |ρ|` of the chords under `√(1 − u²)` that bound the minimum total variance.
const CHORD_NODES: [f64; 5] = [0.0, 0.6, 0.85, 0.97, 1.0];

/// The domain constraints `A·x ≤ b` on `x = (a, d, c)`, for a given `σ` and `a_max`:
/// `|d| ≤ c` (`|ρ| ≤ 1`), `c ± d ≤ 2σ` (Lee's wing slopes), `a ≤ a_max`, and
/// `a + c·(αᵢ − βᵢ·|d|/c) ≥ 0` for the four chords `αᵢ − βᵢ·u` of `√(1 − u²)` between [`CHORD_NODES`]:
/// since the function is concave its chords lie under it, so these imply
/// `min w = a + √(c² − d²) = a + c·√(1 − u²) ≥ 0` (raw SVI's minimum, Gatheral & Jacquier 2014, §3), while
/// cutting off only slices whose minimum variance is close to zero (the gap is below 0.1·c).
fn constraints(sigma: f64, a_max: f64) -> ([[f64; 3]; CONSTRAINTS], [f64; CONSTRAINTS]) {
    let s = LEE_SLOPE_MAX * sigma;
    let mut rows = [[0.0; 3]; CONSTRAINTS];
    let mut bounds = [0.0; CONSTRAINTS];
    rows[0] = [0.0, 1.0, -1.0]; // d ≤ c
    rows[1] = [0.0, -1.0, -1.0]; // −d ≤ c
    rows[2] = [0.0, 1.0, 1.0]; // c + d ≤ 2σ
    bounds[2] = s;
    rows[3] = [0.0, -1.0, 1.0]; // c − d ≤ 2σ
    bounds[3] = s;
    rows[4] = [1.0, 0.0, 0.0]; // a ≤ a_max
    bounds[4] = a_max;
    for piece in 0..4 {
        let (u0, u1) = (CHORD_NODES[piece], CHORD_NODES[piece + 1]);
        let (f0, f1) = ((1.0 - u0 * u0).sqrt(), (1.0 - u1 * u1).sqrt());
        let beta = (f0 - f1) / (u1 - u0);
        let alpha = f0 + beta * u0;
        // a + α·c − β·|d| ≥ 0, for d and −d.
        rows[5 + 2 * piece] = [-1.0, beta, -alpha];
        rows[6 + 2 * piece] = [-1.0, -beta, -alpha];
    }
    (rows, bounds)
}

/// Solves the square system `m·x = rhs` of size `n ≤ 6` in place by Gaussian elimination with partial
/// pivoting; `None` when a pivot is below `tiny` (a degenerate active set).
#[allow(clippy::needless_range_loop)]
fn solve_small(m: &mut [[f64; 6]; 6], rhs: &mut [f64; 6], n: usize, tiny: f64) -> Option<()> {
    for col in 0..n {
        let mut pivot = col;
        for row in col + 1..n {
            if m[row][col].abs() > m[pivot][col].abs() {
                pivot = row;
            }
        }
        if m[pivot][col].abs() <= tiny {
            return None;
        }
        m.swap(col, pivot);
        rhs.swap(col, pivot);
        for row in col + 1..n {
            let f = m[row][col] / m[col][col];
            if f != 0.0 {
                for j in col..n {
                    m[row][j] -= f * m[col][j];
                }
                rhs[row] -= f * rhs[col];
            }
        }
    }
    for col in (0..n).rev() {
        let mut s = rhs[col];
        for j in col + 1..n {
            s -= m[col][j] * rhs[j];
        }
        rhs[col] = s / m[col][col];
    }
    Some(())
}

/// Every active set of at most three of the domain constraints, by size: 1 + 13 + 78 + 286 = 378.
const ACTIVE_SETS: [(u8, [u8; 3]); 378] = active_sets();

const fn active_sets() -> [(u8, [u8; 3]); 378] {
    let mut out = [(0u8, [0u8; 3]); 378];
    let mut n = 1;
    let mut i = 0;
    while i < CONSTRAINTS {
        out[n] = (1, [i as u8, 0, 0]);
        n += 1;
        i += 1;
    }
    let mut i = 0;
    while i < CONSTRAINTS {
        let mut j = i + 1;
        while j < CONSTRAINTS {
            out[n] = (2, [i as u8, j as u8, 0]);
            n += 1;
            j += 1;
        }
        i += 1;
    }
    let mut i = 0;
    while i < CONSTRAINTS {
        let mut j = i + 1;
        while j < CONSTRAINTS {
            let mut l = j + 1;
            while l < CONSTRAINTS {
                out[n] = (3, [i as u8, j as u8, l as u8]);
                n += 1;
                l += 1;
            }
            j += 1;
        }
        i += 1;
    }
    out
}

/// The minimiser of `xᵀHx − 2gᵀx` on `{x : rowsᵢ·x = rhsᵢ}` (at most three rows) and the rows'
/// multipliers `μ` of the problem scaled by `3/tr(H)` (`H̃x + Σ μᵢ·rowsᵢ = g̃`); `None` when the system is
/// degenerate. The scaling makes the saddle-point system's pivots of order one whatever the weights (its
/// lower block is `A·H⁻¹·Aᵀ`, which a pivot threshold relative to `H` would wrongly call singular).
#[allow(clippy::needless_range_loop)]
fn kkt_point(normal: &Normal, rows: &[[f64; 3]], rhs: &[f64]) -> Option<([f64; 3], [f64; 3])> {
    let p = rows.len();
    debug_assert!(p <= 3 && rhs.len() == p);
    let trace = normal.h[0][0] + normal.h[1][1] + normal.h[2][2];
    if !(trace > 0.0 && trace.is_finite()) {
        return None;
    }
    let scale = 3.0 / trace;
    let n = 3 + p;
    let mut m = [[0.0; 6]; 6];
    let mut v = [0.0; 6];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = normal.h[i][j] * scale;
        }
        // A relative ridge of 1e-12 keeps the objective strictly convex.
        m[i][i] += 1e-12;
        v[i] = normal.g[i] * scale;
    }
    for (q, row) in rows.iter().enumerate() {
        for j in 0..3 {
            m[3 + q][j] = row[j];
            m[j][3 + q] = row[j];
        }
        v[3 + q] = rhs[q];
    }
    solve_small(&mut m, &mut v, n, 1e-14)?;
    let mut mu = [0.0; 3];
    mu[..p].copy_from_slice(&v[3..n]);
    Some(([v[0], v[1], v[2]], mu))
}

/// Multipliers below this (in the scaled problem of [`kkt_point`]) count as negative.
const MULTIPLIER_TOLERANCE: f64 = -1e-10;

/// The exact minimiser of `xᵀHx − 2gᵀx` over the domain constraints by enumeration of active sets:
/// a set whose KKT point is primal feasible with non-negative multipliers gives the optimum (the objective
/// is strictly convex after a relative ridge of 1e-12, so the optimum is unique).
///
/// `hint` is the index in [`ACTIVE_SETS`] of the set that was optimal at the previous call; it is tried
/// first (neighbouring `(m, σ)` of a Nelder–Mead search nearly always share it), then the unconstrained
/// point, then only the sets that contain a constraint the unconstrained point violates (at least one of
/// them is active at the optimum: on the segment from the optimum to the unconstrained minimiser the
/// objective decreases, so some active constraint must be violated at its end). `hint` is updated.
fn solve_domain(normal: &Normal, sigma: f64, a_max: f64, hint: &mut usize) -> [f64; 3] {
    let (a_rows, b) = constraints(sigma, a_max);
    let tol = 1e-12 * (1.0 + a_max.abs() + sigma);
    let try_set = |index: usize| -> Option<[f64; 3]> {
        let (size, set) = ACTIVE_SETS[index];
        let p = size as usize;
        let mut rows = [[0.0; 3]; 3];
        let mut rhs = [0.0; 3];
        for (q, &c) in set[..p].iter().enumerate() {
            rows[q] = a_rows[c as usize];
            rhs[q] = b[c as usize];
        }
        let (x, mu) = kkt_point(normal, &rows[..p], &rhs[..p])?;
        if mu[..p].iter().any(|&m| m < MULTIPLIER_TOLERANCE) {
            return None;
        }
        a_rows
            .iter()
            .zip(b.iter())
            .all(|(row, &bound)| dot(row, &x) <= bound + tol)
            .then_some(x)
    };
    if *hint != 0 {
        if let Some(x) = try_set(*hint) {
            return x;
        }
    }
    // The unconstrained point, and which constraints it violates.
    let mut violated = 0u16;
    if let Some((x, _)) = kkt_point(normal, &[], &[]) {
        for (c, (row, &bound)) in a_rows.iter().zip(b.iter()).enumerate() {
            if dot(row, &x) > bound + tol {
                violated |= 1 << c;
            }
        }
        if violated == 0 {
            *hint = 0;
            return x;
        }
    } else {
        violated = (1 << CONSTRAINTS) - 1;
    }
    for (index, &(size, set)) in ACTIVE_SETS.iter().enumerate().skip(1) {
        if index == *hint
            || !set[..size as usize]
                .iter()
                .any(|&c| violated & (1 << c) != 0)
        {
            continue;
        }
        if let Some(x) = try_set(index) {
            *hint = index;
            return x;
        }
    }
    // Not reached in exact arithmetic (the polytope is never empty: a ∈ [0, a_max], d = c = 0 is in it, and a
    // strictly convex problem has KKT multipliers on at most three independent active constraints); rounding
    // at a degenerate vertex could make every set miss the tolerances: then the best flat slice, feasible.
    *hint = 0;
    let a = if normal.h[0][0] > 0.0 {
        (normal.g[0] / normal.h[0][0]).clamp(0.0, a_max)
    } else {
        0.5 * a_max
    };
    [a, 0.0, 0.0]
}

#[inline]
fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Durrleman's `g` is penalised below this value in the fit.
const BUTTERFLY_MARGIN: f64 = 1e-3;
/// Most semi-smooth Newton iterations of the calendar floor (each one solve over the domain).
const FLOOR_ITERATIONS: usize = 16;
/// Iterations of the plain method before the set of penalised points may only grow.
const FLOOR_ITERATIONS_FREE: usize = 3;
/// Weight of a squared floor violation per point, relative to the total data weight `Σ ωᵢ`.
const FLOOR_WEIGHT: f64 = 100.0;

/// The minimiser over the domain of the data objective plus the calendar penalty
/// `μ·Σⱼ (max(fⱼ − wⱼ(x), 0)² + max(wⱼ(x) − cⱼ, 0)²)` with `wⱼ(x) = a + d·yⱼ + c·zⱼ`, floors `fⱼ`, ceilings
/// `cⱼ` and `μ` = [`FLOOR_WEIGHT`]`·Σ ωᵢ`, by semi-smooth Newton on the set of violated points
/// (Hintermüller, Ito & Kunisch, SIAM J. Optim. 13(3), 2003: the primal–dual active set method): the
/// violated points' penalty terms are added to the normal equations, the domain problem is solved exactly,
/// and the set is updated until it stops changing (after [`FLOOR_ITERATIONS_FREE`] steps it may only grow,
/// which rules out cycling; at most [`FLOOR_ITERATIONS`] steps). Returns the point and the normal equations
/// it minimises (data plus the final penalty terms), whose objective is the data misfit plus the penalty.
fn solve_with_bounds(
    normal: &Normal,
    sigma: f64,
    a_max: f64,
    hint: &mut usize,
    x_domain: [f64; 3],
    rows: &[[f64; 3]],
    bounds: &[(f64, f64)],
) -> ([f64; 3], Normal) {
    let mu = FLOOR_WEIGHT * normal.h[0][0];
    let mut x = x_domain;
    let (mut below, mut above): (u64, u64) = (0, 0);
    let mut penalised = *normal;
    debug_assert!(bounds.len() <= 64);
    for iteration in 0..FLOOR_ITERATIONS {
        let (mut next_below, mut next_above): (u64, u64) = (0, 0);
        for (j, (r, &(lo, hi))) in rows.iter().zip(bounds).enumerate() {
            let w = dot(r, &x);
            if w < lo {
                next_below |= 1 << j;
            } else if w > hi {
                next_above |= 1 << j;
            }
        }
        // Plain semi-smooth Newton for the first steps; then the sets only grow, so that a point that
        // flips in and out cannot make it cycle (it then ends within as many steps as there are points).
        if iteration >= FLOOR_ITERATIONS_FREE {
            next_below |= below & !next_above;
            next_above |= above & !next_below;
        }
        if next_below == below && next_above == above {
            break;
        }
        (below, above) = (next_below, next_above);
        penalised = *normal;
        // The penalised points in increasing order, by their bits.
        let mut penalised_points = below | above;
        while penalised_points != 0 {
            let j = penalised_points.trailing_zeros() as usize;
            penalised_points &= penalised_points - 1;
            let (r, (lo, hi)) = (&rows[j], bounds[j]);
            let target = if below & (1 << j) != 0 { lo } else { hi };
            for p in 0..3 {
                for q in 0..3 {
                    penalised.h[p][q] += mu * r[p] * r[q];
                }
                penalised.g[p] += mu * target * r[p];
            }
            penalised.ww += mu * target * target;
        }
        x = solve_domain(&penalised, sigma, a_max, hint);
    }
    (x, penalised)
}

fn objective_at(normal: &Normal, x: &[f64; 3]) -> f64 {
    let h = &normal.h;
    let mut quad = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            quad += x[i] * h[i][j] * x[j];
        }
    }
    (quad - 2.0 * (normal.g[0] * x[0] + normal.g[1] * x[1] + normal.g[2] * x[2]) + normal.ww)
        .max(0.0)
}

fn to_raw(x: [f64; 3], m: f64, sigma: f64) -> SviRaw {
    let (a, d, c) = (x[0], x[1], x[2]);
    let c = c.max(0.0);
    let rho = if c > 0.0 {
        (d / c).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    SviRaw {
        a,
        b: c / sigma,
        rho,
        m,
        sigma,
    }
}

/// The box of the outer search: `m ∈ [lo, hi]`, `ln σ ∈ [lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OuterBox {
    /// Bounds of `m`.
    pub m: (f64, f64),
    /// Bounds of `ln σ`.
    pub ln_sigma: (f64, f64),
}

/// A calibrator for one slice's data: weighted sums prepared, the outer objective ready to evaluate.
pub struct SliceFit<'a> {
    data: FitData<'a>,
    options: FitOptions<'a>,
    a_max: f64,
    normaliser: f64,
    evaluations: usize,
    rows: Vec<[f64; 3]>,
    bounds: Vec<(f64, f64)>,
    hint: usize,
}

impl<'a> SliceFit<'a> {
    /// Prepares the fit. `data` must have at least one point with positive weight.
    pub fn new(data: FitData<'a>, options: FitOptions<'a>) -> SliceFit<'a> {
        debug_assert!(data.k.len() == data.w.len() && data.w.len() == data.weight.len());
        // a ≤ max wᵢ, and at least the highest calendar floor (so that a flat slice can meet it).
        let floor_top = options
            .calendar
            .and_then(|c| c.floor)
            .map_or(0.0, |w| w.iter().fold(0.0_f64, |m, &w| m.max(w)));
        // The bounds per grid point, −∞ / +∞ where a side is absent.
        let bounds: Vec<(f64, f64)> = options.calendar.map_or_else(Vec::new, |c| {
            (0..c.k.len())
                .map(|j| {
                    (
                        c.floor.map_or(f64::NEG_INFINITY, |f| f[j]),
                        c.ceiling.map_or(f64::INFINITY, |u| u[j]),
                    )
                })
                .collect()
        });
        let a_max = data.w.iter().fold(floor_top, |m, &w| m.max(w));
        SliceFit {
            data,
            options,
            a_max,
            normaliser: data.normaliser.max(f64::MIN_POSITIVE),
            evaluations: 0,
            rows: Vec::new(),
            bounds,
            hint: 0,
        }
    }

    /// Sets the evaluations allowed per start of the next [`SliceFit::fit`].
    pub fn set_evaluations_per_start(&mut self, evaluations: usize) {
        self.options.evaluations_per_start = evaluations;
    }

    /// The best slice for a fixed `(m, σ)` and its outer objective. When the least-squares part alone is
    /// at least `cutoff`, the penalties are not evaluated and that part is returned (a lower bound above
    /// the cutoff is all Nelder–Mead needs to reject a point).
    pub fn inner(&mut self, m: f64, sigma: f64, cutoff: f64) -> (SviRaw, f64) {
        self.evaluations += 1;
        let normal = normal_equations(&self.data, m, sigma);
        let mut x = solve_domain(&normal, sigma, self.a_max, &mut self.hint);
        let mut fitted = normal;
        if let Some(calendar) = self.options.calendar {
            let inv_sigma = 1.0 / sigma;
            self.rows.clear();
            let mut violated = false;
            for (&k, &(lo, hi)) in calendar.k.iter().zip(&self.bounds) {
                let y = (k - m) * inv_sigma;
                let r = [1.0, y, (y * y + 1.0).sqrt()];
                let w = dot(&r, &x);
                violated |= w < lo || w > hi;
                self.rows.push(r);
            }
            if violated {
                (x, fitted) = solve_with_bounds(
                    &normal,
                    sigma,
                    self.a_max,
                    &mut self.hint,
                    x,
                    &self.rows,
                    &self.bounds,
                );
            }
        }
        let params = to_raw(x, m, sigma);
        let mut objective = objective_at(&fitted, &x) / self.normaliser;
        if objective >= cutoff {
            return (params, objective);
        }
        if self.options.butterfly_penalty > 0.0 {
            let mut violation = 0.0;
            for &k in self.options.butterfly_grid {
                // A small margin keeps fits off the boundary, where points between the grid's would dip
                // below zero on the dense check.
                let g = params.durrleman_g(k) - BUTTERFLY_MARGIN;
                if g < 0.0 {
                    violation += g.max(-1e3) * g.max(-1e3);
                }
            }
            objective += self.options.butterfly_penalty * violation;
        }
        (params, objective)
    }

    /// Minimises the outer objective over `(m, ln σ)` in `bounds` from each of `starts` (each with its
    /// initial simplex step), keeping the best. Deterministic: same inputs, same result.
    pub fn fit(&mut self, starts: &[([f64; 2], [f64; 2])], bounds: OuterBox) -> FitResult {
        let mut best: Option<(SviRaw, f64)> = None;
        for &(start, step) in starts {
            let budget = self.options.evaluations_per_start;
            let (x, _) = nelder_mead(
                |p: [f64; 2], cutoff: f64| self.inner(p[0], p[1].exp(), cutoff).1,
                start,
                step,
                [bounds.m.0, bounds.ln_sigma.0],
                [bounds.m.1, bounds.ln_sigma.1],
                budget,
            );
            let (params, objective) = self.inner(x[0], x[1].exp(), f64::INFINITY);
            if best.is_none_or(|(_, f)| objective < f) {
                best = Some((params, objective));
            }
        }
        let (params, objective) = best.expect("at least one start is given");
        FitResult {
            params,
            objective,
            evaluations: self.evaluations,
        }
    }
}

/// Bounded Nelder–Mead in two dimensions (Nelder & Mead, Computer Journal 7, 1965; standard coefficients
/// 1, 2, ½, ½): every vertex is clamped into `[lo, hi]`, and the search stops after `max_evaluations` or
/// when the simplex has collapsed (values within 1e-12 relative and extent below 1e-7 of the box).
///
/// `f(x, cutoff)` may return any value `≥ cutoff` instead of the exact one when the exact one is at least
/// `cutoff`: every decision of the method only asks whether a value is below the cutoff it passes, and only
/// values below it are kept in the simplex, so the path is the same as with exact values.
pub fn nelder_mead(
    mut f: impl FnMut([f64; 2], f64) -> f64,
    start: [f64; 2],
    step: [f64; 2],
    lo: [f64; 2],
    hi: [f64; 2],
    max_evaluations: usize,
) -> ([f64; 2], f64) {
    let clamp = |p: [f64; 2]| [p[0].clamp(lo[0], hi[0]), p[1].clamp(lo[1], hi[1])];
    let start = clamp(start);
    let mut v = [
        start,
        clamp([start[0] + step[0], start[1]]),
        clamp([start[0], start[1] + step[1]]),
    ];
    // A step that the box clamps away would give a degenerate simplex: step the other way.
    if v[1] == start {
        v[1] = clamp([start[0] - step[0], start[1]]);
    }
    if v[2] == start {
        v[2] = clamp([start[0], start[1] - step[1]]);
    }
    let inf = f64::INFINITY;
    let mut fv = [f(v[0], inf), f(v[1], inf), f(v[2], inf)];
    let mut evaluations = 3;
    let extent_tol = [1e-7 * (hi[0] - lo[0]), 1e-7 * (hi[1] - lo[1])];
    while evaluations < max_evaluations {
        // Order: best, middle, worst.
        let mut idx = [0, 1, 2];
        idx.sort_by(|&i, &j| fv[i].total_cmp(&fv[j]));
        v = [v[idx[0]], v[idx[1]], v[idx[2]]];
        fv = [fv[idx[0]], fv[idx[1]], fv[idx[2]]];
        let spread = fv[2] - fv[0];
        let extent = [
            (v[1][0] - v[0][0]).abs().max((v[2][0] - v[0][0]).abs()),
            (v[1][1] - v[0][1]).abs().max((v[2][1] - v[0][1]).abs()),
        ];
        if spread <= 1e-12 * fv[0].abs().max(1e-300)
            && extent[0] <= extent_tol[0]
            && extent[1] <= extent_tol[1]
        {
            break;
        }
        let centroid = [0.5 * (v[0][0] + v[1][0]), 0.5 * (v[0][1] + v[1][1])];
        let along = |t: f64| {
            clamp([
                centroid[0] + t * (v[2][0] - centroid[0]),
                centroid[1] + t * (v[2][1] - centroid[1]),
            ])
        };
        let reflected = along(-1.0);
        let fr = f(reflected, fv[2]);
        evaluations += 1;
        if fr < fv[0] {
            let expanded = along(-2.0);
            let fe = f(expanded, fr);
            evaluations += 1;
            if fe < fr {
                v[2] = expanded;
                fv[2] = fe;
            } else {
                v[2] = reflected;
                fv[2] = fr;
            }
        } else if fr < fv[1] {
            v[2] = reflected;
            fv[2] = fr;
        } else {
            let cutoff = fv[2].min(fr);
            let (contracted, fc) = if fr < fv[2] {
                let p = along(-0.5);
                (p, f(p, cutoff))
            } else {
                let p = along(0.5);
                (p, f(p, cutoff))
            };
            evaluations += 1;
            if fc < fv[2].min(fr) {
                v[2] = contracted;
                fv[2] = fc;
            } else {
                // Shrink toward the best vertex.
                for i in 1..3 {
                    v[i] = clamp([
                        v[0][0] + 0.5 * (v[i][0] - v[0][0]),
                        v[0][1] + 0.5 * (v[i][1] - v[0][1]),
                    ]);
                    fv[i] = f(v[i], inf);
                }
                evaluations += 2;
            }
        }
    }
    let mut best = 0;
    for i in 1..3 {
        if fv[i] < fv[best] {
            best = i;
        }
    }
    (v[best], fv[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The minimiser over the polytope found independently: a fine grid over (a, d, c) in the feasible set
    /// followed by coordinate refinement. Slow, used only to check the active-set enumeration.
    fn brute_force(normal: &Normal, sigma: f64, a_max: f64) -> f64 {
        let (rows, b) = constraints(sigma, a_max);
        let feasible = |x: &[f64; 3]| {
            rows.iter()
                .zip(b.iter())
                .all(|(r, &bb)| r[0] * x[0] + r[1] * x[1] + r[2] * x[2] <= bb + 1e-15)
        };
        let mut best = (f64::INFINITY, [0.0; 3]);
        let n = 40;
        let c_max = LEE_SLOPE_MAX * sigma;
        for i in 0..=n {
            for j in 0..=n {
                for l in 0..=n {
                    let c = c_max * l as f64 / n as f64;
                    let d = -c_max + 2.0 * c_max * j as f64 / n as f64;
                    let a = -c_max + (a_max + c_max) * i as f64 / n as f64;
                    let x = [a, d, c];
                    if feasible(&x) {
                        let f = objective_at(normal, &x);
                        if f < best.0 {
                            best = (f, x);
                        }
                    }
                }
            }
        }
        // Pattern search refinement from the best grid point.
        let mut step = c_max.max(a_max) / n as f64;
        let mut x = best.1;
        let mut fx = best.0;
        while step > 1e-13 {
            let mut improved = false;
            for dim in 0..3 {
                for sgn in [-1.0, 1.0] {
                    let mut y = x;
                    y[dim] += sgn * step;
                    if feasible(&y) {
                        let fy = objective_at(normal, &y);
                        if fy < fx {
                            x = y;
                            fx = fy;
                            improved = true;
                        }
                    }
                }
            }
            // Diagonal moves along the constraint edges d = ±c.
            for (da, dd, dc) in [
                (0.0, 1.0, 1.0),
                (0.0, -1.0, -1.0),
                (0.0, 1.0, -1.0),
                (0.0, -1.0, 1.0),
                (-1.0, 1.0, 1.0),
                (1.0, -1.0, -1.0),
                (-1.0, -1.0, 1.0),
                (1.0, 1.0, -1.0),
            ] {
                let y = [x[0] + da * step, x[1] + dd * step, x[2] + dc * step];
                if feasible(&y) {
                    let fy = objective_at(normal, &y);
                    if fy < fx {
                        x = y;
                        fx = fy;
                        improved = true;
                    }
                }
            }
            if !improved {
                step *= 0.5;
            }
        }
        fx
    }

    #[test]
    fn active_set_enumeration_finds_the_polytope_minimum() {
        // Targets that push the unconstrained solution out of the domain in different directions.
        let k: Vec<f64> = (0..15).map(|i| -0.6 + 0.08 * i as f64).collect();
        let cases: Vec<Vec<f64>> = vec![
            k.iter().map(|k| 0.04 + 0.1 * k * k).collect(), // convex smile
            k.iter().map(|k| 0.04 - 0.05 * k * k).collect(), // concave: c → 0
            k.iter().map(|k| 0.02 + 3.0 * k.abs()).collect(), // steeper than Lee
            k.iter().map(|k| 0.05 - 0.08 * k).collect(),    // a line: |d| = c
        ];
        let weight = vec![1.0; k.len()];
        for (case, w) in cases.iter().enumerate() {
            for &(m, sigma) in &[(0.0, 0.1), (0.2, 0.05), (-0.3, 0.4)] {
                let data = FitData {
                    k: &k,
                    w,
                    weight: &weight,
                    normaliser: 1.0,
                };
                let normal = normal_equations(&data, m, sigma);
                let a_max = w.iter().fold(0.0_f64, |a, &b| a.max(b));
                let x = solve_domain(&normal, sigma, a_max, &mut 0);
                let f = objective_at(&normal, &x);
                // Again with a stale hint: the result must not depend on it.
                let again = solve_domain(&normal, sigma, a_max, &mut 37);
                assert!((objective_at(&normal, &again) - f).abs() <= 1e-12 * (1.0 + f));
                let reference = brute_force(&normal, sigma, a_max);
                assert!(
                    f <= reference * (1.0 + 1e-9) + 1e-14,
                    "case {case} m {m} σ {sigma}: enumeration {f} > reference {reference}"
                );
                assert!(
                    f >= reference * (1.0 - 1e-6) - 1e-12,
                    "case {case}: enumeration {f} below the feasible minimum {reference}"
                );
            }
        }
    }

    #[test]
    fn nelder_mead_finds_the_minimum_of_rosenbrock_in_a_box() {
        let (x, f) = nelder_mead(
            |p, _| (1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2),
            [-1.2, 1.0],
            [0.5, 0.5],
            [-2.0, -2.0],
            [2.0, 2.0],
            2000,
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4,
            "{x:?} {f}"
        );
        // And on the boundary when the minimum is outside the box.
        let (x, _) = nelder_mead(
            |p, _| (p[0] - 5.0).powi(2) + (p[1] + 0.5).powi(2),
            [0.0, 0.0],
            [0.3, 0.3],
            [-1.0, -1.0],
            [1.0, 1.0],
            500,
        );
        assert!(
            (x[0] - 1.0).abs() < 1e-6 && (x[1] + 0.5).abs() < 1e-4,
            "{x:?}"
        );
    }
}
