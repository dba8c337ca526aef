//! Margining one account from the cached per-instrument valuations and risk arrays: the `rtm2m` model of
//! `docs/margin.md` §5 (the arithmetic of `rtm2m_margin::engine::{prepare, rtm2m_requirements}`), laid out
//! for speed: no allocation per call, the scenario sum register-blocked over 16 scenarios at a time, and
//! first screened in f32 with the few scenarios near the minimum settled in f64 (`crate::screen`), this
//! module's f64 pass taking over where the screen does not apply.
//!
//! The result is a pure function of the account and of the valuations, computed in one fixed order (positions
//! by instrument id, then collateral by asset), so margining an account incrementally or from scratch, on any
//! thread, gives the same bits. Products and sums are never fused (no FMA), so the wide kernel and the
//! portable one agree to the bit as well.

use crate::event::Status;
use crate::screen::{
    worst_loss_reused, worst_loss_screened_memo, Rows, ScreenMemo, ScreenScratch, Window,
};
use crate::state::{AccountState, AssetState, Class, Computed, Figures, Instruments};
use rtm2m_margin::engine::Rtm2mParams;

/// The distinct (spot move, vol state) points each grid underlying takes over the scenario grid. A risk
/// array is `weight[s]·d[point(s)]` with `d` the unit's revaluation P&L at each point (`docs/margin.md` §5:
/// "each instrument is priced once per distinct (move, vol state) of its underlying"), so an account's P&L
/// per scenario is `weight[s]·Σ_u D_u[point_u(s)]` with `D_u = Σ size·d` over its positions on `u`: about
/// 87 points per underlying instead of 174 scenarios per instrument to sum.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PointLayout {
    /// Values kept per instrument (the most points of any underlying).
    pub width: usize,
    /// Points of each grid underlying.
    pub count: Vec<usize>,
    /// Per grid underlying, the point of each scenario.
    pub point: Vec<Vec<u32>>,
    /// The same as bytes, when every underlying has at most 256 points.
    pub point8: Option<Vec<Vec<u8>>>,
    /// Distance between two underlyings' point sums in the reduction's scratch: 256 with byte points (so
    /// a byte indexes them without a bounds check), `width` otherwise.
    pub acc_stride: usize,
    /// Per grid underlying, the first scenario of each point.
    pub first: Vec<Vec<u32>>,
    /// Dampening weight of each scenario.
    pub weight: Vec<f64>,
    /// Per grid underlying and point, the largest and the smallest weight of its scenarios: the least P&L
    /// of a point's scenarios is its value times the largest weight when it loses, the smallest otherwise
    /// (0 for a point no scenario takes; padded to `width` with 1).
    pub weight_hi: Vec<Vec<f64>>,
    pub weight_lo: Vec<Vec<f64>>,
    /// `weight`, `weight_hi` and `weight_lo` rounded to f32, for the screen (`crate::screen`); `weight32`
    /// is padded to whole windows of 8 scenarios with the last weight.
    pub weight32: Vec<f32>,
    pub weight_hi32: Vec<Vec<f32>>,
    pub weight_lo32: Vec<Vec<f32>>,
    /// Per grid underlying, the screen's windows of 8 scenarios' points (empty without byte points).
    pub windows: Vec<Vec<Window>>,
    /// Per grid underlying and point, its scenarios in increasing order.
    pub scenarios_of_point: Vec<Vec<Vec<u32>>>,
}

/// Points summed per register block: 8 vectors of 4 f64 (AVX2), 16 of 2 (SSE2).
const BLOCK: usize = 32;
/// Values per instrument are padded to a multiple of this (the smallest block).
const PAD: usize = 8;

impl PointLayout {
    pub fn of(grid: &rtm2m_margin::scenario::ScenarioGrid) -> PointLayout {
        PointLayout::from_parts(
            grid.local.iter().map(|l| l.points.len()).collect(),
            grid.local
                .iter()
                .map(|l| l.point_of_scenario.clone())
                .collect(),
            grid.scenarios.iter().map(|s| s.weight).collect(),
        )
    }

    /// The layout of grid underlyings with `count[g]` points each, scenario `s` taking point `point[g][s]`
    /// of underlying `g`, with dampening `weight[s]`.
    pub fn from_parts(count: Vec<usize>, point: Vec<Vec<u32>>, weight: Vec<f64>) -> PointLayout {
        let first = point
            .iter()
            .zip(&count)
            .map(|(of, &n)| {
                let mut f = vec![u32::MAX; n];
                for (s, &p) in of.iter().enumerate() {
                    if f[p as usize] == u32::MAX {
                        f[p as usize] = s as u32;
                    }
                }
                f
            })
            .collect();
        let mut weight_hi = Vec::new();
        let mut weight_lo = Vec::new();
        let mut scenarios_of_point = Vec::new();
        for (of, &n) in point.iter().zip(&count) {
            let (mut hi, mut lo) = (vec![f64::NEG_INFINITY; n], vec![f64::INFINITY; n]);
            let mut list: Vec<Vec<u32>> = vec![Vec::new(); n];
            for (s, &p) in of.iter().enumerate() {
                let p = p as usize;
                hi[p] = hi[p].max(weight[s]);
                lo[p] = lo[p].min(weight[s]);
                list[p].push(s as u32);
            }
            // A point no scenario takes weighs nothing.
            for ((h, l), taken) in hi.iter_mut().zip(lo.iter_mut()).zip(&list) {
                if taken.is_empty() {
                    (*h, *l) = (0.0, 0.0);
                }
            }
            weight_hi.push(hi);
            weight_lo.push(lo);
            scenarios_of_point.push(list);
        }
        let widest = count.iter().copied().max().unwrap_or(0);
        let width = widest.div_ceil(PAD) * PAD;
        for v in weight_hi.iter_mut().chain(weight_lo.iter_mut()) {
            v.resize(width, 1.0);
        }
        let point8 = count.iter().all(|&c| c <= 256).then(|| {
            point
                .iter()
                .map(|of| of.iter().map(|&p| p as u8).collect())
                .collect()
        });
        let to32 = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let mut weight32 = to32(&weight);
        if let Some(&last) = weight32.last() {
            weight32.resize(weight32.len().div_ceil(8) * 8, last);
        }
        PointLayout {
            windows: point8
                .iter()
                .flatten()
                .map(|p: &Vec<u8>| Window::of(p))
                .collect(),
            weight32,
            weight_hi32: weight_hi.iter().map(to32).collect(),
            weight_lo32: weight_lo.iter().map(to32).collect(),
            acc_stride: if point8.is_some() {
                width.max(256)
            } else {
                width
            },
            width,
            count,
            point8,
            point,
            first,
            weight,
            weight_hi,
            weight_lo,
            scenarios_of_point,
        }
    }

    /// The screen's bound of a unit row on grid underlying `g`: the largest `weight_hi[p]·|row[p]|`, what
    /// one unit adds at most to any scenario's |P&L| (`crate::screen`), rounded up; +∞ when a value is not
    /// finite or exceeds [`crate::screen::ROW_VALUE_MAX`] (such rows are not screened).
    pub fn row_bound(&self, g: usize, row: &[f64]) -> f64 {
        let mut bound = 0.0f64;
        for (&x, &h) in row.iter().zip(&self.weight_hi[g]) {
            if x.is_nan() || x.abs() > crate::screen::ROW_VALUE_MAX {
                return f64::INFINITY;
            }
            bound = bound.max(h * x.abs());
        }
        // The product rounded to nearest may be below the real one by half an ulp.
        bound * (1.0 + f64::EPSILON)
    }

    /// How far a unit row on grid underlying `g` moved from `old` to `new`, weighted as the scenarios weigh
    /// it: the largest `weight_hi[p]·|new[p] − old[p]|`, rounded up; +∞ when a value is not finite. Every
    /// scenario's P&L per unit moved by at most this (`crate::screen::ScreenMemo`).
    pub fn row_drift(&self, g: usize, old: &[f64], new: &[f64]) -> f64 {
        let mut drift = 0.0f64;
        for ((&a, &b), &h) in old.iter().zip(new).zip(&self.weight_hi[g]) {
            let d = h * (b - a).abs();
            if !d.is_finite() {
                return f64::INFINITY;
            }
            drift = drift.max(d);
        }
        // The difference and the product rounded to nearest may each be below the real ones by half an ulp.
        drift * (1.0 + 4.0 * f64::EPSILON)
    }

    /// Fills `out` (`width` values) with the per-point P&L of a unit on grid underlying `g` from its risk
    /// array (undoing the scenario's dampening weight).
    pub fn compress(&self, g: usize, array: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (p, &s) in self.first[g].iter().enumerate() {
            let s = s as usize;
            out[p] = array[s] / self.weight[s];
        }
    }
}

/// What margining reads besides the account.
pub(crate) struct MarketView<'a> {
    pub inst: &'a Instruments,
    pub assets: &'a [AssetState],
    /// Asset index of each grid underlying.
    pub grid_asset: &'a [u16],
    /// Spot instrument of each grid underlying (collateral in a grid underlying counts as spot).
    pub grid_spot: &'a [u32],
    pub points: &'a PointLayout,
    pub params: &'a Rtm2mParams,
}

/// Scratch space reused across accounts.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    terms: Vec<(usize, f64, u8)>,
    greeks: Vec<(f64, f64, f64)>,
    values: Vec<f64>,
    acc: Vec<f64>,
    pnl: Vec<f64>,
    screen: ScreenScratch,
}

/// A float the point sums are taken in: f64 for the exact pass, f32 for the screen.
pub(crate) trait Lane:
    Copy + Default + std::ops::AddAssign + std::ops::Mul<Output = Self>
{
    /// A position size in this type (rounded to nearest for f32).
    fn of(size: f64) -> Self;
}

impl Lane for f64 {
    #[inline(always)]
    fn of(size: f64) -> f64 {
        size
    }
}

impl Lane for f32 {
    #[inline(always)]
    fn of(size: f64) -> f32 {
        size as f32
    }
}

/// `out[j] = Σ_k size_k·row_k[start + j]` over the terms `(row, size, grid underlying)` on `g`, for the `N`
/// points of one register block starting at `start` (summed in term order from 0, as the reference does):
/// the sums stay in registers while the rows stream by.
#[inline(always)]
pub(crate) fn sum_block<T: Lane, const N: usize>(
    terms: &[(usize, f64, u8)],
    g: u8,
    points: &[T],
    width: usize,
    start: usize,
    out: &mut [T],
) {
    let mut acc = [T::default(); N];
    for &(row, size, tg) in terms {
        if tg != g {
            continue;
        }
        let off = row * width;
        let row: &[T; N] = points[off + start..off + start + N]
            .try_into()
            .expect("a block lies within its row");
        let size = T::of(size);
        for j in 0..N {
            acc[j] += size * row[j];
        }
    }
    out[start..start + N].copy_from_slice(&acc);
}

/// `out = Σ_k size_k·row_k` over the terms on grid underlying `g` (`out` and the rows are `width` long, a
/// multiple of [`PAD`]), in register blocks so the sums never leave the registers: blocks of `BLOCK`
/// points while more than `TAIL` remain, then the rest (at most `TAIL`, at most 96) in one block. The f64
/// pass uses blocks of 32 and a tail of 24; the f32 screen (`crate::screen`) blocks of 64 and a tail of 96.
#[inline(always)]
pub(crate) fn sum_rows<T: Lane, const BLOCK: usize, const TAIL: usize>(
    terms: &[(usize, f64, u8)],
    g: u8,
    points: &[T],
    width: usize,
    out: &mut [T],
) {
    debug_assert!(width.is_multiple_of(PAD) && out.len() == width);
    let mut start = 0;
    while width - start > TAIL {
        sum_block::<_, BLOCK>(terms, g, points, width, start, out);
        start += BLOCK;
    }
    // Arms beyond `TAIL` are constant-false and compiled out of each instance.
    match width - start {
        0 => {}
        8 => sum_block::<_, 8>(terms, g, points, width, start, out),
        16 => sum_block::<_, 16>(terms, g, points, width, start, out),
        24 => sum_block::<_, 24>(terms, g, points, width, start, out),
        32 if TAIL >= 32 => sum_block::<_, 32>(terms, g, points, width, start, out),
        40 if TAIL >= 40 => sum_block::<_, 40>(terms, g, points, width, start, out),
        48 if TAIL >= 48 => sum_block::<_, 48>(terms, g, points, width, start, out),
        56 if TAIL >= 56 => sum_block::<_, 56>(terms, g, points, width, start, out),
        64 if TAIL >= 64 => sum_block::<_, 64>(terms, g, points, width, start, out),
        72 if TAIL >= 72 => sum_block::<_, 72>(terms, g, points, width, start, out),
        80 if TAIL >= 80 => sum_block::<_, 80>(terms, g, points, width, start, out),
        88 if TAIL >= 88 => sum_block::<_, 88>(terms, g, points, width, start, out),
        96 if TAIL >= 96 => sum_block::<_, 96>(terms, g, points, width, start, out),
        r => unreachable!("width {width} leaves {r} points, not a multiple of {PAD}"),
    }
}

/// Largest loss over the scenarios (first scenario reaching it) of `weight[s]·Σ_u D_u[point_u(s)]`,
/// `D_u` accumulated over `terms` (row of the unit's points, size, grid underlying) in order from 0.
///
/// With one underlying the P&L of scenario `s` is `weight[s]·D[p]` for its point `p`: the least over a
/// point's scenarios is `D[p]` times its largest weight when `D[p] < 0` (rounding is monotone in the
/// weight), so the minimum is taken over the points, and the first scenario reaching it is looked up among
/// the scenarios of the points that reach it. The products are the ones the scenario-by-scenario form
/// computes, so the result is the same to the bit.
#[inline(always)]
fn worst_loss_points(
    terms: &[(usize, f64, u8)],
    points: &[f64],
    layout: &PointLayout,
    acc: &mut Vec<f64>,
    pnl: &mut Vec<f64>,
) -> (f64, Option<u32>) {
    let w = layout.width;
    let grids = layout.count.len();
    debug_assert!(grids <= 64, "grid underlyings are assets of a 64-bit mask");
    let mut held = 0u64;
    for &(_, _, g) in terms {
        held |= 1 << g;
    }
    // Each underlying's sums at a stride of `acc_stride` (≥ `w`, 256 when points are bytes); the values of
    // a held underlying's first `w` points are written below, nothing else is read.
    let stride = layout.acc_stride;
    if acc.len() < grids * stride {
        acc.resize(grids * stride, 0.0);
    }
    let mut bits = held;
    while bits != 0 {
        let g = bits.trailing_zeros() as usize;
        sum_rows::<_, BLOCK, 24>(
            terms,
            g as u8,
            points,
            w,
            &mut acc[g * stride..g * stride + w],
        );
        bits &= bits - 1;
    }
    let n = layout.weight.len();
    match held.count_ones() {
        0 => (0.0, None),
        1 => {
            let g = held.trailing_zeros() as usize;
            let a = &acc[g * stride..g * stride + w];
            // Weights padded to `w` (past `count` the sums are 0, so those points lose nothing). The least
            // P&L of each point goes to `pnl` and into vector lanes of the minimum in the same pass.
            let (hi, lo) = (&layout.weight_hi[g][..w], &layout.weight_lo[g][..w]);
            pnl.resize(w, 0.0);
            let mut lanes = [f64::INFINITY; PAD];
            for (((x, h), l), out) in a
                .chunks_exact(PAD)
                .zip(hi.chunks_exact(PAD))
                .zip(lo.chunks_exact(PAD))
                .zip(pnl.chunks_exact_mut(PAD))
            {
                for j in 0..PAD {
                    // x·hi when x < 0, x·lo otherwise: the smaller product, as rounding is monotone and
                    // hi ≥ lo ≥ 0 (a branch-free form of the same value).
                    let (vh, vl) = (x[j] * h[j], x[j] * l[j]);
                    let v = if vh < vl { vh } else { vl };
                    out[j] = v;
                    lanes[j] = if v < lanes[j] { v } else { lanes[j] };
                }
            }
            let min = min_of(&lanes);
            if min >= 0.0 {
                return (0.0, None);
            }
            let mut first = u32::MAX;
            for (k, chunk) in pnl[..w].chunks_exact(PAD).enumerate() {
                if !chunk.iter().fold(false, |any, &v| any | (v == min)) {
                    continue;
                }
                for (j, &v) in chunk.iter().enumerate() {
                    let p = k * PAD + j;
                    if v == min && p < layout.count[g] {
                        if let Some(&s) = layout.scenarios_of_point[g][p]
                            .iter()
                            .find(|&&s| layout.weight[s as usize] * a[p] == min)
                        {
                            first = first.min(s);
                        }
                    }
                }
            }
            debug_assert!(first != u32::MAX, "the minimum is reached by a scenario");
            (-min, Some(first))
        }
        2 => {
            // The P&L of each scenario, `weight[s]·(D_a[point_a(s)] + D_b[point_b(s)])`, in one pass, with
            // its minimum in vector lanes; then the first scenario reaching it.
            let ga = held.trailing_zeros() as usize;
            let gb = (held & (held - 1)).trailing_zeros() as usize;
            pnl.resize(n, 0.0);
            match &layout.point8 {
                // Points as bytes into sums read as 256-value arrays: no bounds check in the gather.
                Some(point8) => {
                    let sums = |g: usize| -> &[f64; 256] {
                        acc[g * stride..g * stride + 256]
                            .try_into()
                            .expect("byte points have a stride of 256")
                    };
                    let (da, db) = (sums(ga), sums(gb));
                    let (pa, pb) = (&point8[ga][..n], &point8[gb][..n]);
                    for (((x, &i), &j), &wt) in pnl.iter_mut().zip(pa).zip(pb).zip(&layout.weight) {
                        *x = wt * (da[i as usize] + db[j as usize]);
                    }
                }
                None => {
                    let (da, pa) = (&acc[ga * stride..ga * stride + w], &layout.point[ga][..n]);
                    let (db, pb) = (&acc[gb * stride..gb * stride + w], &layout.point[gb][..n]);
                    for (((x, &i), &j), &wt) in pnl.iter_mut().zip(pa).zip(pb).zip(&layout.weight) {
                        *x = wt * (da[i as usize] + db[j as usize]);
                    }
                }
            }
            let min = min_of(pnl);
            if min >= 0.0 {
                return (0.0, None);
            }
            let worst = pnl.iter().position(|&x| x == min).map(|s| s as u32);
            (-min, worst)
        }
        _ => {
            // P&L per scenario, `weight[s]·Σ_u D_u[point_u(s)]` summed in underlying order, into a vector
            // (no loop-carried dependency), then its minimum in vector lanes and the first scenario reaching
            // it: the same products as the scenario-by-scenario form, so the same bits.
            pnl.clear();
            pnl.resize(n, 0.0);
            let first = held.trailing_zeros() as usize;
            let (d, pt) = (
                &acc[first * stride..first * stride + w],
                &layout.point[first][..n],
            );
            for (x, &p) in pnl.iter_mut().zip(pt) {
                *x = d[p as usize];
            }
            let mut rest = held & (held - 1);
            while rest != 0 {
                let g = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let (d, pt) = (&acc[g * stride..g * stride + w], &layout.point[g][..n]);
                for (x, &p) in pnl.iter_mut().zip(pt) {
                    *x += d[p as usize];
                }
            }
            for (x, &wt) in pnl.iter_mut().zip(&layout.weight) {
                *x *= wt;
            }
            let min = min_of(pnl);
            if min >= 0.0 {
                return (0.0, None);
            }
            let worst = pnl.iter().position(|&x| x == min).map(|s| s as u32);
            (-min, worst)
        }
    }
}

/// The smallest of `values` (+∞ when empty), in vector lanes.
#[inline(always)]
fn min_of(values: &[f64]) -> f64 {
    let mut lanes = [f64::INFINITY; 8];
    let mut chunks = values.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            lanes[j] = if c[j] < lanes[j] { c[j] } else { lanes[j] };
        }
    }
    let mut min = f64::INFINITY;
    for &x in lanes.iter().chain(chunks.remainder()) {
        min = if x < min { x } else { min };
    }
    min
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn worst_loss_avx2(
    terms: &[(usize, f64, u8)],
    points: &[f64],
    layout: &PointLayout,
    acc: &mut Vec<f64>,
    pnl: &mut Vec<f64>,
) -> (f64, Option<u32>) {
    worst_loss_points(terms, points, layout, acc, pnl)
}

/// The scenario reduction, on the widest vectors this CPU has (same bits on every path).
pub(crate) fn worst_loss(
    terms: &[(usize, f64, u8)],
    points: &[f64],
    layout: &PointLayout,
    acc: &mut Vec<f64>,
    pnl: &mut Vec<f64>,
) -> (f64, Option<u32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked to support AVX2.
            return unsafe { worst_loss_avx2(terms, points, layout, acc, pnl) };
        }
    }
    worst_loss_points(terms, points, layout, acc, pnl)
}

/// The readable reference of [`worst_loss`]: each underlying's point sums, then the P&L vector, then its
/// minimum.
pub(crate) fn worst_loss_reference(
    terms: &[(usize, f64, u8)],
    points: &[f64],
    layout: &PointLayout,
) -> (f64, Option<u32>) {
    let w = layout.width;
    let grids = layout.count.len();
    let mut sums: Vec<Option<Vec<f64>>> = vec![None; grids];
    for &(row, size, g) in terms {
        let d = sums[g as usize].get_or_insert_with(|| vec![0.0; w]);
        for p in 0..w {
            d[p] += size * points[row * w + p];
        }
    }
    let pnl: Vec<f64> = (0..layout.weight.len())
        .map(|s| {
            let mut x = 0.0;
            for (g, d) in sums.iter().enumerate() {
                if let Some(d) = d {
                    x += d[layout.point[g][s] as usize];
                }
            }
            layout.weight[s] * x
        })
        .collect();
    let (mut loss, mut worst) = (0.0, None);
    for (s, &x) in pnl.iter().enumerate() {
        if -x > loss {
            loss = -x;
            worst = Some(s as u32);
        }
    }
    (loss, worst)
}

fn status_of(equity: f64, mm: f64, im: f64) -> Status {
    match rtm2m_margin::engine::status(equity, mm, im) {
        rtm2m_margin::engine::Status::Healthy => Status::Healthy,
        rtm2m_margin::engine::Status::MarginCall => Status::MarginCall,
        rtm2m_margin::engine::Status::Liquidatable => Status::Liquidatable,
        rtm2m_margin::engine::Status::Bankrupt => Status::Bankrupt,
    }
}

/// Naked short options of `positions` per grid underlying, in coins: Σ over (underlying, expiry, strike)
/// of max(0, −net size), calls and puts netted at a strike; underlyings in increasing order, those without
/// a naked short left out. A pure function of the positions, so it is kept with the account and recounted
/// only when they change.
pub(crate) fn naked_coins(
    positions: &[crate::state::Position],
    inst: &Instruments,
) -> smallvec::SmallVec<[(u8, f64); 2]> {
    let mut by_group: smallvec::SmallVec<[(u32, f64, u8); 16]> = positions
        .iter()
        .filter(|p| inst.class[p.inst as usize] == Class::Option)
        .map(|p| {
            let i = p.inst as usize;
            (inst.strike_group[i], p.size, inst.grid[i])
        })
        .collect();
    by_group.sort_by_key(|x| x.0);
    let mut per_grid: smallvec::SmallVec<[(u8, f64); 2]> = smallvec::SmallVec::new();
    let mut k = 0;
    while k < by_group.len() {
        let (group, mut net, g) = by_group[k];
        k += 1;
        while k < by_group.len() && by_group[k].0 == group {
            net += by_group[k].1;
            k += 1;
        }
        let short = (-net).max(0.0);
        if short > 0.0 {
            match per_grid.binary_search_by_key(&g, |x| x.0) {
                Ok(j) => per_grid[j].1 += short,
                Err(j) => per_grid.insert(j, (g, short)),
            }
        }
    }
    per_grid
}

/// Margins `a` (formulas of `docs/margin.md` §5 "Requirements"); `reference` selects the readable
/// scenario reduction instead of the blocked one (tests compare the two).
pub(crate) fn account_margin(
    a: &AccountState,
    m: &MarketView<'_>,
    s: &mut Scratch,
    reference: bool,
) -> Computed {
    let reduction = if reference {
        Reduction::Reference
    } else {
        Reduction::Screen
    };
    margin_with(a, m, s, reduction, &mut None)
}

/// [`account_margin`] at a tick: from the account's screen memo when it decides the scenarios, and with
/// the memo for its next tick (`crate::screen::ScreenMemo`; none when the margin is not priced).
pub(crate) fn account_margin_tick(
    a: &AccountState,
    m: &MarketView<'_>,
    s: &mut Scratch,
) -> (Computed, Option<ScreenMemo>) {
    let mut memo = None;
    let computed = margin_with(a, m, s, Reduction::Tick(a.screen.as_ref()), &mut memo);
    match computed {
        Computed::Priced(..) => (computed, memo),
        _ => (computed, None),
    }
}

/// How [`margin_with`] reduces the scenarios; every way gives the reference's bits.
#[derive(Debug, Clone, Copy)]
enum Reduction<'a> {
    /// The readable scenario-by-scenario reference.
    Reference,
    /// The f32 screen settled in f64 (the f64 pass where it does not apply).
    Screen,
    /// The account's memo from its last tick when it decides, the screen otherwise; a memo is made.
    Tick(Option<&'a ScreenMemo>),
}

/// [`account_margin`] with the reduction `reduction`; a tick's memo goes to `memo`.
fn margin_with(
    a: &AccountState,
    m: &MarketView<'_>,
    s: &mut Scratch,
    reduction: Reduction<'_>,
    memo: &mut Option<ScreenMemo>,
) -> Computed {
    let p = m.params;
    let inst = m.inst;
    s.terms.clear();
    s.greeks.clear();
    s.greeks.resize(m.grid_asset.len(), (0.0, 0.0, 0.0));
    s.values.clear();
    let mut equity = a.cash_usd + a.funding_usd;
    let (mut oracle_im, mut basis) = (0.0, 0.0);
    // One branch-free pass: options and spot carry no entry price (0), so `size·(price − entry)` is their
    // value and a future's or perpetual's unrealised P&L alike; the contingencies per unit were computed
    // with the valuations. The terms are written in one `extend` (one capacity check); an instrument not
    // valued (its figures are then unused) is looked up after the pass.
    let (vals, greeks) = (&inst.val[..], &mut s.greeks[..]);
    let mut valued = true;
    s.terms.extend(a.positions.iter().map(|pos| {
        let i = pos.inst as usize;
        let v = &vals[i];
        valued &= v.ok;
        let size = pos.size;
        equity += size * (v.price_usd - pos.entry_usd);
        oracle_im += size.abs() * v.oracle_im_usd_per_unit;
        basis += size.abs() * v.basis_usd_per_unit;
        let t = &mut greeks[v.grid as usize];
        t.0 += size * v.delta_coin;
        t.1 += size * v.gamma_per_usd;
        t.2 = v.index_usd;
        (i, size, v.grid)
    }));
    if !valued {
        let i = a
            .positions
            .iter()
            .map(|pos| pos.inst as usize)
            .find(|&i| !vals[i].ok)
            .expect("a position not valued");
        let why = inst.failure[i]
            .as_deref()
            .unwrap_or("no valuation yet (no index tick of its underlying since it was listed)");
        return Computed::Unpriced(format!("{}: {why}", inst.names[i]));
    }
    let mut total = 0.0;
    for &(asset, amount) in &a.collateral {
        let st = &m.assets[asset as usize];
        let Some(price) = st.price_usd else {
            return Computed::Unpriced(format!("collateral {}: no oracle price yet", st.name));
        };
        let value = amount * price;
        s.values.push(value);
        total += value;
    }
    let (mut haircut_mm, mut haircut_im, mut depeg_im) = (0.0, 0.0, 0.0);
    for (k, &(asset, amount)) in a.collateral.iter().enumerate() {
        let st = &m.assets[asset as usize];
        let value = s.values[k];
        equity += value;
        if let Some(g) = st.grid {
            let spot = m.grid_spot[g as usize] as usize;
            let v = &inst.val[spot];
            if !v.ok {
                return Computed::Unpriced(format!(
                    "collateral {}: {} has no valuation yet",
                    st.name, inst.names[spot]
                ));
            }
            s.terms.push((spot, amount, g));
            let t = &mut s.greeks[g as usize];
            t.0 += amount * v.delta_coin;
            t.1 += amount * v.gamma_per_usd;
            t.2 = v.index_usd;
        }
        // Grid underlyings carry their price risk in the scenarios: no vol term in their haircut.
        let ewma = if st.grid.is_some() || st.cfg.stablecoin {
            st.cfg.ewma_vol.filter(|_| st.cfg.stablecoin)
        } else {
            st.cfg.ewma_vol
        };
        let depth = st.cfg.depth_usd.unwrap_or(0.0);
        let h = p
            .haircut
            .haircut_mm(value, total, ewma, depth, st.cfg.stablecoin);
        haircut_mm += h * value;
        haircut_im += p.haircut.haircut_im(h) * value;
        if st.confidence < p.oracle_threshold {
            oracle_im += (1.0 - st.confidence.max(0.0)) * p.oracle_factor * value;
        }
        let price = st.price_usd.unwrap_or(0.0);
        if st.cfg.stablecoin && price < p.depeg_threshold {
            depeg_im += (p.depeg_threshold - price) * p.depeg_factor * amount;
        }
    }
    let rows = Rows {
        exact: &inst.arrays,
        single: &inst.arrays32,
        bound: &inst.bounds,
    };
    let reused = match reduction {
        Reduction::Tick(Some(last)) => {
            worst_loss_reused(&s.terms, &rows, &inst.drift, &inst.repriced, m.points, last)
        }
        _ => None,
    };
    let (loss, worst) = match (reduction, reused) {
        (Reduction::Reference, _) => worst_loss_reference(&s.terms, &inst.arrays, m.points),
        (_, Some((result, next))) => {
            *memo = Some(next);
            result
        }
        _ => {
            // The f32 screen, settled in f64 to the reference's bits; the f64 pass where it does not
            // apply.
            let repriced = matches!(reduction, Reduction::Tick(_)).then_some(&inst.repriced[..]);
            match worst_loss_screened_memo(&s.terms, &rows, m.points, repriced, &mut s.screen) {
                Some((result, made)) => {
                    *memo = made;
                    result
                }
                None => worst_loss(&s.terms, &inst.arrays, m.points, &mut s.acc, &mut s.pnl),
            }
        }
    };
    // Naked shorts per (underlying, expiry, strike), calls and puts netted at a strike (PMRM_2 matching),
    // kept per account as coins per underlying; `reference` recounts them from the positions.
    let recounted;
    let coins = if matches!(reduction, Reduction::Reference) {
        recounted = naked_coins(&a.positions, inst);
        &recounted
    } else {
        &a.naked_coins
    };
    let mut naked = 0.0;
    for &(g, c) in coins {
        naked += c * s.greeks[g as usize].2;
    }
    // Dynamic liquidation add-on: ½·k_γ·|Γ_u|·(h·S_u)² + k_δ·|Δ_u|·S_u per underlying.
    let mut addon = 0.0;
    for &(delta, gamma, index) in &s.greeks {
        let move_usd = p.liquidation_shock * index;
        addon += 0.5 * p.gamma_factor * gamma.abs() * move_usd * move_usd
            + p.delta_factor * delta.abs() * index;
    }
    let mm = p.mm_factor * loss + naked * p.naked_mm + addon + basis + haircut_mm;
    let im =
        p.im_factor * loss + naked * p.naked_im + addon + basis + haircut_im + oracle_im + depeg_im;
    if !(equity.is_finite() && mm.is_finite() && im.is_finite()) {
        return Computed::Unpriced(format!(
            "non-finite margin (equity {equity}, MM {mm}, IM {im})"
        ));
    }
    debug_assert!(mm >= 0.0 && im >= 0.0);
    Computed::Priced(
        Figures {
            equity_usd: equity,
            im_usd: im,
            mm_usd: mm,
            scenario_loss_usd: loss,
            worst_scenario: worst,
        },
        status_of(equity, mm, im),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout() -> PointLayout {
        // Two underlyings, 5 scenarios; the last is a dampened tail.
        PointLayout::from_parts(
            vec![3, 2],
            vec![vec![0, 1, 2, 0, 1], vec![0, 0, 1, 1, 0]],
            vec![1.0, 1.0, 1.0, 1.0, 0.25],
        )
    }

    /// Rows of `width` values from the listed leading values (the rest zero).
    pub(crate) fn rows(width: usize, leading: &[&[f64]]) -> Vec<f64> {
        let mut out = Vec::new();
        for r in leading {
            let mut row = vec![0.0; width];
            row[..r.len()].copy_from_slice(r);
            out.extend(row);
        }
        out
    }

    #[test]
    fn point_sums_equal_the_reference_to_the_bit_and_weight_the_tail() {
        let l = layout();
        assert_eq!(l.width, 8);
        // Unit 0 on underlying 0: −100, 50, 10 per point; unit 1 on underlying 1: 30, −40.
        let points = rows(l.width, &[&[-100.0, 50.0, 10.0], &[30.0, -40.0]]);
        let terms = [(0, 2.0, 0u8), (1, 1.5, 1u8)];
        let (mut acc, mut pnl) = (Vec::new(), Vec::new());
        let fast = worst_loss(&terms, &points, &l, &mut acc, &mut pnl);
        let slow = worst_loss_reference(&terms, &points, &l);
        assert_eq!(fast.0.to_bits(), slow.0.to_bits());
        assert_eq!(fast.1, slow.1);
        // Scenario P&L by hand: s0 = −200 + 45 = −155; s1 = 100 + 45 = 145; s2 = 20 − 60 = −40;
        // s3 = −200 − 60 = −260; s4 = 0.25·(100 + 45) = 36.25. Worst: s3, loss 260.
        assert_eq!(fast, (260.0, Some(3)));
    }

    #[test]
    fn one_underlying_takes_the_first_scenario_of_the_worst_point_with_its_weight() {
        let l = layout();
        // Underlying 0 only: D = (−100, −80, 10). Scenarios: s0 −100, s1 −80, s2 10, s3 −100, s4 0.25·−80.
        let points = rows(l.width, &[&[-100.0, -80.0, 10.0]]);
        let (mut acc, mut pnl) = (Vec::new(), Vec::new());
        assert_eq!(
            worst_loss(&[(0, 1.0, 0)], &points, &l, &mut acc, &mut pnl),
            (100.0, Some(0))
        );
        // A loss only in the dampened tail's point (s1 and s4 share point 1; s1 has the larger weight).
        let points = rows(l.width, &[&[5.0, -80.0, 10.0]]);
        assert_eq!(
            worst_loss(&[(0, 1.0, 0)], &points, &l, &mut acc, &mut pnl),
            (80.0, Some(1))
        );
    }

    #[test]
    fn no_loss_means_no_worst_scenario() {
        let l = layout();
        let points = rows(l.width, &[&[1.0, 1.0, 1.0], &[0.0, 0.0]]);
        let (mut acc, mut pnl) = (Vec::new(), Vec::new());
        assert_eq!(
            worst_loss(&[(0, 1.0, 0)], &points, &l, &mut acc, &mut pnl),
            (0.0, None)
        );
        assert_eq!(
            worst_loss(&[], &points, &l, &mut acc, &mut pnl),
            (0.0, None)
        );
    }

    /// A random layout (1–3 underlyings, up to 40 points each, up to 90 scenarios, weights drawn from the
    /// grid's kinds: 1, the tails' dampening, and arbitrary), random unit rows and random positions.
    fn case() -> impl Strategy<Value = (PointLayout, Vec<f64>, Vec<(usize, f64, u8)>)> {
        (1usize..=3, 1usize..=40, 1usize..=90).prop_flat_map(|(grids, points, scenarios)| {
            let weight = prop::collection::vec(
                prop_oneof![Just(1.0), Just(0.5), Just(0.25), 0.01f64..1.0],
                scenarios,
            );
            let point =
                prop::collection::vec(prop::collection::vec(0..points as u32, scenarios), grids);
            let units = prop::collection::vec((-1e4f64..1e4, 0..grids as u8), 1..12);
            (weight, point, units, Just((grids, points)))
                .prop_flat_map(|(weight, point, units, (grids, points))| {
                    let values = prop::collection::vec(-1e5f64..1e5, units.len() * 48);
                    (
                        Just(weight),
                        Just(point),
                        Just(units),
                        values,
                        Just((grids, points)),
                    )
                })
                .prop_map(|(weight, point, units, values, (grids, points))| {
                    let layout = PointLayout::from_parts(vec![points; grids], point, weight);
                    let w = layout.width;
                    let mut rows = vec![0.0; units.len() * w];
                    let mut terms = Vec::new();
                    for (k, &(size, g)) in units.iter().enumerate() {
                        rows[k * w..k * w + points]
                            .copy_from_slice(&values[k * 48..k * 48 + points]);
                        terms.push((k, size, g));
                    }
                    (layout, rows, terms)
                })
        })
    }

    proptest! {
        #[test]
        fn the_fast_reduction_equals_the_scenario_by_scenario_reference_to_the_bit(
            (layout, rows, terms) in case()
        ) {
            let (mut acc, mut pnl) = (Vec::new(), Vec::new());
            let fast = worst_loss(&terms, &rows, &layout, &mut acc, &mut pnl);
            let slow = worst_loss_reference(&terms, &rows, &layout);
            prop_assert_eq!(fast.0.to_bits(), slow.0.to_bits());
            prop_assert_eq!(fast.1, slow.1);
        }
    }
}
