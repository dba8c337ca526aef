//! The scenario reduction screened in f32 and settled exactly in f64.
//!
//! An account's worst scenario is `min_s X_s` with `X_s = weight[s]·Σ_u D_u[point_u(s)]`, `D_u` the f64 sums
//! of `size·row` over its units in term order ([`crate::margin::worst_loss_reference`] is the definition).
//! Reading every unit row in f64 is what a tick's margining spends its time on (the rows of a chain do not
//! fit in L2), so this pass reads the rows' f32 copies (half the bytes) and computes every scenario's P&L
//! `Y_s` in f32, bounds `|Y_s − X_s| ≤ E` rigorously, keeps as candidates the scenarios with
//! `Y_s ≤ min Y + 2E` (every other scenario's exact P&L is strictly above a candidate's, so it can be neither
//! the minimum nor tied with it), and recomputes the candidates' `X_s` exactly as the reference does: the
//! result is the reference's to the bit.
//!
//! The bound (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1, Lemma 3.1 and
//! eq. 3.5): with `T_s` the exact real value of the same expression, each term `weight·size·row` of `Y_s`
//! carries at most `N + 6` relative roundings of `u = 2⁻²⁴` (the size's, the row value's and the weight's
//! conversion to f32, the product, at most `N` additions, the sum of two underlyings, the weighting), so
//! `|Y_s − T_s| ≤ γ_{N+6}·B` with `γ_k = k·u/(1 − k·u) ≤ 2k·u` and `B = Σ_k |size_k|·bound_k`, where a
//! unit's `bound` is the largest `weight_hi[p]·|row[p]|` over its points (every scenario of point `p`
//! weighs at most `weight_hi[p]`). `X_s` carries the same with f64's `2⁻⁵³`. Values that would leave f32's
//! normal range (sizes outside `[2⁻⁴⁰, 2⁴⁰]`, row values above `2⁶⁰`, more than `2¹⁶` terms) are not
//! screened: the caller takes the f64 pass. What underflows to subnormal costs at most `2⁻¹⁵⁰·2⁴⁰` per term
//! and operation, an absolute term in `E`, and `E` carries a slack of `2⁻⁴⁰·B` for the f64 rounding of the
//! bound and of the threshold themselves.

use crate::margin::{sum_rows, PointLayout};

/// The worst loss over the scenarios (≥ 0, USD) and the first scenario reaching it (none without a loss).
pub(crate) type Worst = (f64, Option<u32>);

/// Candidates settled exactly before the screen gives up (the caller then takes the f64 pass).
const CANDIDATES_MAX: usize = 16;
/// Terms screened at most (a bound on the roundings counted in `E`).
const TERMS_MAX: usize = 1 << 16;
/// Sizes screened lie in `[SIZE_MIN, SIZE_MAX]` in magnitude: normal in f32 with room for products.
const SIZE_MIN: f64 = 1.0 / (1u64 << 40) as f64;
const SIZE_MAX: f64 = (1u64 << 40) as f64;
/// Row values screened are at most this in magnitude (`2⁶⁰`): with `2⁴⁰` sizes and `2¹⁶` terms, sums
/// stay below `2¹¹⁶`, far from f32's overflow at `2¹²⁸`.
pub(crate) const ROW_VALUE_MAX: f64 = (1u64 << 60) as f64;

/// The unit rows of every instrument, `PointLayout::width` values per row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    /// f64 values: the definition of the result.
    pub exact: &'a [f64],
    /// The same rounded to f32: what the screen reads.
    pub single: &'a [f32],
    /// Per row, `max_p weight_hi[p]·|row[p]|`, +∞ when a value is not finite or exceeds
    /// [`ROW_VALUE_MAX`] (such rows are not screened); see [`PointLayout::row_bound`].
    pub bound: &'a [f64],
}

/// Distance between the two held underlyings' point sums in the screen's scratch (at least): 256 points
/// (byte point indices) and the 8 that a window starting at the last point reads past it.
const SUMS_STRIDE: usize = 264;

/// Where 8 consecutive scenarios take their points on one underlying: when the points lie within 8 of each
/// other (the grid's scenarios mostly step through an underlying's points in order or cycle through its
/// vol states), one load of the 8 sums from `base` and a permutation `idx` of its lanes; otherwise a
/// gather at the points `idx` (`base` is [`Window::FAR`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    /// The first of the 8 sums loaded (below 256), or [`Window::FAR`].
    base: u32,
    /// Lanes of the loaded sums (0–7), or the points gathered (below 256).
    idx: [i32; 8],
}

impl Window {
    /// `base` of a window whose points are gathered.
    const FAR: u32 = u32::MAX;

    /// The windows of the scenarios' points `point` (each below 256), 8 scenarios each; the last window
    /// repeats the last scenario's point in its spare lanes.
    pub fn of(point: &[u8]) -> Vec<Window> {
        point
            .chunks(8)
            .map(|c| {
                let at = |j: usize| i32::from(c[j.min(c.len() - 1)]);
                let (lo, hi) = (0..8).fold((i32::MAX, i32::MIN), |(lo, hi), j| {
                    (lo.min(at(j)), hi.max(at(j)))
                });
                if hi - lo < 8 {
                    Window {
                        base: lo as u32,
                        idx: std::array::from_fn(|j| at(j) - lo),
                    }
                } else {
                    Window {
                        base: Window::FAR,
                        idx: std::array::from_fn(at),
                    }
                }
            })
            .collect()
    }
}

/// Scratch space of the screen, reused across accounts.
#[derive(Debug, Default)]
pub(crate) struct ScreenScratch {
    /// Point sums in f32, [`SUMS_STRIDE`] apart per underlying (or the width, when larger).
    sums: Vec<f32>,
    /// P&L in f32 per scenario (two underlyings) or least P&L per point (one).
    y: Vec<f32>,
    /// Candidate scenarios.
    candidates: Vec<u32>,
    /// Exact point sums already computed: (underlying, point, value).
    memo: Vec<(u8, u32, f64)>,
}

/// The exact `D_g[p]` of the reference: `Σ size·row[p]` over the terms on `g`, in term order from 0
/// (memoised in `memo`).
fn exact_point(
    terms: &[(usize, f64, u8)],
    rows: &[f64],
    width: usize,
    g: u8,
    p: usize,
    memo: &mut Vec<(u8, u32, f64)>,
) -> f64 {
    if let Some(&(_, _, d)) = memo.iter().find(|m| m.0 == g && m.1 == p as u32) {
        return d;
    }
    let mut d = 0.0;
    for &(row, size, tg) in terms {
        if tg == g {
            d += size * rows[row * width + p];
        }
    }
    memo.push((g, p as u32, d));
    d
}

/// `y[s] = weight[s]·(D_a[point_a(s)] + D_b[point_b(s)])` in f32 for every scenario, 8 at a time through the
/// windows of both underlyings (`y` and `weight` padded to whole windows).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pnl_two_avx2(
    da: &[f32; SUMS_STRIDE],
    db: &[f32; SUMS_STRIDE],
    wa: &[Window],
    wb: &[Window],
    weight: &[f32],
    y: &mut [f32],
) {
    use std::arch::x86_64::*;
    /// The sums of the window's 8 scenarios.
    #[inline(always)]
    fn load(d: &[f32; SUMS_STRIDE], w: &Window) -> __m256 {
        // SAFETY: unaligned loads of 8 values; the window's `idx` is 8 i32. A near window's `base` is below
        // 256, so its 8 sums lie within the 264; a far window's points are below 256, so the gather (scale
        // 4: f32) reads within `d`. `Window::of` is the only constructor and checks both.
        unsafe {
            let idx = _mm256_loadu_si256(w.idx.as_ptr().cast());
            if w.base == Window::FAR {
                _mm256_i32gather_ps::<4>(d.as_ptr(), idx)
            } else {
                _mm256_permutevar8x32_ps(_mm256_loadu_ps(d.as_ptr().add(w.base as usize)), idx)
            }
        }
    }
    assert!(wa.len() == wb.len() && weight.len() >= 8 * wa.len() && y.len() >= 8 * wa.len());
    for (k, (a, b)) in wa.iter().zip(wb).enumerate() {
        let sum = _mm256_add_ps(load(da, a), load(db, b));
        // SAFETY: `weight` and `y` hold 8 values from `8·k` (asserted above).
        unsafe {
            let v = _mm256_mul_ps(_mm256_loadu_ps(weight.as_ptr().add(8 * k)), sum);
            _mm256_storeu_ps(y.as_mut_ptr().add(8 * k), v);
        }
    }
}

/// The smallest f32 at or above `threshold` (finite): for an f32 `y`, `y ≤ threshold` exactly when
/// `y ≤ threshold32(threshold)`.
fn threshold32(threshold: f64) -> f32 {
    let t = threshold as f32;
    if (t as f64) < threshold {
        t.next_up()
    } else {
        t
    }
}

/// Calls `take` with the index of every value at most `threshold`, in increasing order, 16 values to a
/// bit mask (`values` is a whole number of 16s); `None` as soon as `take` returns false. `AVX2`: only
/// where the CPU has it.
#[inline(always)]
fn for_each_at_most<const AVX2: bool>(
    values: &[f32],
    threshold: f32,
    mut take: impl FnMut(usize) -> bool,
) -> Option<()> {
    debug_assert!(values.len().is_multiple_of(16));
    for (k, chunk) in values.chunks_exact(16).enumerate() {
        let chunk: &[f32; 16] = chunk.try_into().expect("chunks of 16");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `AVX2` is only set by `screen_avx2`, after AVX2 was detected.
        let mut mask = if AVX2 {
            unsafe { mask_at_most_avx2(chunk, threshold) }
        } else {
            mask_at_most(chunk, threshold)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let mut mask = mask_at_most(chunk, threshold);
        while mask != 0 {
            if !take(k * 16 + mask.trailing_zeros() as usize) {
                return None;
            }
            mask &= mask - 1;
        }
    }
    Some(())
}

/// Bit `j` set when `values[j] ≤ threshold`.
#[inline(always)]
fn mask_at_most(values: &[f32; 16], threshold: f32) -> u32 {
    let mut mask = 0u32;
    for (j, &y) in values.iter().enumerate() {
        mask |= u32::from(y <= threshold) << j;
    }
    mask
}

/// [`mask_at_most`] in two vector compares.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn mask_at_most_avx2(values: &[f32; 16], threshold: f32) -> u32 {
    use std::arch::x86_64::*;
    let t = _mm256_set1_ps(threshold);
    // SAFETY: two unaligned loads of 8 values each from a 16-value array.
    let (lo, hi) = unsafe {
        (
            _mm256_loadu_ps(values.as_ptr()),
            _mm256_loadu_ps(values.as_ptr().add(8)),
        )
    };
    // Ordered, non-signalling ≤ (false for NaN, as `<=` is).
    let lo = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(lo, t)) as u32;
    let hi = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(hi, t)) as u32;
    lo | (hi << 8)
}

/// Makes `y` `len` long with +∞ from `valid` on (what the scan and the minimum then ignore).
#[inline(always)]
fn pad_infinite(y: &mut Vec<f32>, len: usize, valid: usize) {
    if y.len() != len {
        y.resize(len, f32::INFINITY);
    }
    y[valid..].fill(f32::INFINITY);
}

/// The smallest of `values` (+∞ when empty; a whole number of 16s), in 16 lanes folded in halves: one
/// `vminps` per 8 values where the CPU has AVX2 (`AVX2`: only where it does), the same operations in
/// scalar form otherwise.
#[inline(always)]
fn least<const AVX2: bool>(values: &[f32]) -> f32 {
    debug_assert!(values.len().is_multiple_of(16));
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only set by `screen_avx2`, after AVX2 was detected.
        return unsafe { least_avx2(values) };
    }
    min_of(values)
}

/// [`min_of`] on a whole number of 16s, 16 values to two `vminps`: lane for lane the same comparisons
/// (`vminps a, b` is `a < b ? a : b`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn least_avx2(values: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = lo;
    for c in values.chunks_exact(16) {
        // SAFETY: two unaligned loads of 8 values each from a chunk of 16.
        unsafe {
            lo = _mm256_min_ps(_mm256_loadu_ps(c.as_ptr()), lo);
            hi = _mm256_min_ps(_mm256_loadu_ps(c.as_ptr().add(8)), hi);
        }
    }
    let mut lanes = [f32::INFINITY; 8];
    // SAFETY: an unaligned store of 8 values into an array of 8.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_min_ps(hi, lo)) };
    fold_halves(lanes)
}

/// The smallest of `values` (+∞ when empty), in vector lanes folded in halves.
#[inline(always)]
fn min_of(values: &[f32]) -> f32 {
    let mut lanes = [f32::INFINITY; 16];
    let mut chunks = values.chunks_exact(16);
    for c in &mut chunks {
        for j in 0..16 {
            lanes[j] = if c[j] < lanes[j] { c[j] } else { lanes[j] };
        }
    }
    for (j, &x) in chunks.remainder().iter().enumerate() {
        lanes[j] = if x < lanes[j] { x } else { lanes[j] };
    }
    fold_halves(lanes)
}

/// The smallest of `lanes` (`N` a power of two), folding the upper half onto the lower one while a lane
/// remains: `lanes[j] = lanes[j + half] < lanes[j] ? lanes[j + half] : lanes[j]`, as `vminps` compares.
#[inline(always)]
fn fold_halves<const N: usize>(mut lanes: [f32; N]) -> f32 {
    let mut half = N / 2;
    while half > 0 {
        for j in 0..half {
            lanes[j] = if lanes[j + half] < lanes[j] {
                lanes[j + half]
            } else {
                lanes[j]
            };
        }
        half /= 2;
    }
    lanes[0]
}

/// The worst loss and the first scenario reaching it, as [`crate::margin::worst_loss_reference`] computes
/// them over `terms` (row, size, grid underlying), to the bit; `None` when the screen does not apply (more
/// than two underlyings held, values out of its range, too many candidates near the minimum), and the
/// caller takes the f64 pass. On the widest vectors this CPU has (the same bits on every path: the result
/// is the exact pass's).
#[cfg(test)]
pub(crate) fn worst_loss_screened(
    terms: &[(usize, f64, u8)],
    rows: &Rows<'_>,
    layout: &PointLayout,
    s: &mut ScreenScratch,
) -> Option<(f64, Option<u32>)> {
    worst_loss_screened_memo(terms, rows, layout, None, s).map(|(result, _)| result)
}

/// [`worst_loss_screened`], and with `repriced` (the count of re-pricings of each grid underlying) what
/// it proved for the next tick to reuse: a [`ScreenMemo`] stamped with those counts, when it settled the
/// minimum among candidates.
pub(crate) fn worst_loss_screened_memo(
    terms: &[(usize, f64, u8)],
    rows: &Rows<'_>,
    layout: &PointLayout,
    repriced: Option<&[u32]>,
    s: &mut ScreenScratch,
) -> Option<(Worst, Option<ScreenMemo>)> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked to support AVX2.
            return unsafe { screen_avx2(terms, rows, layout, repriced, s) };
        }
    }
    screen::<false>(terms, rows, layout, repriced, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn screen_avx2(
    terms: &[(usize, f64, u8)],
    rows: &Rows<'_>,
    layout: &PointLayout,
    repriced: Option<&[u32]>,
    s: &mut ScreenScratch,
) -> Option<(Worst, Option<ScreenMemo>)> {
    screen::<true>(terms, rows, layout, repriced, s)
}

/// [`worst_loss_screened`], compiled for each instruction set (`AVX2`: only called where the CPU has it).
#[inline(always)]
fn screen<const AVX2: bool>(
    terms: &[(usize, f64, u8)],
    rows: &Rows<'_>,
    layout: &PointLayout,
    repriced: Option<&[u32]>,
    s: &mut ScreenScratch,
) -> Option<(Worst, Option<ScreenMemo>)> {
    let w = layout.width;
    if terms.is_empty() {
        return Some(((0.0, None), None));
    }
    if terms.len() > TERMS_MAX {
        return None;
    }
    // Which underlyings are held (at most two), and the bound B.
    let (first, mut second) = (terms[0].2, None);
    let mut bound = 0.0f64;
    for &(row, size, g) in terms {
        let magnitude = size.abs();
        // Also false for NaN.
        if !((SIZE_MIN..=SIZE_MAX).contains(&magnitude)) {
            return None;
        }
        bound += magnitude * rows.bound[row];
        if g != first {
            match second {
                None => second = Some(g),
                Some(x) if x != g => return None,
                Some(_) => {}
            }
        }
    }
    // +∞ for an unusable row, NaN never (bounds are ≥ 0 or +∞).
    if !bound.is_finite() {
        return None;
    }
    let (slot_of, held) = match second {
        None => ([first, u8::MAX], 1),
        Some(g) => ([first.min(g), first.max(g)], 2),
    };
    let n_terms = terms.len() as f64;
    let two_u = 1.0 / (1u64 << 23) as f64;
    let error = (n_terms + 6.0) * (two_u + 2.0 * two_u / (1u64 << 29) as f64) * bound
        + bound / (1u64 << 40) as f64
        + (n_terms + 8.0) / 2f64.powi(80);
    // With byte points (at most 256 each), the second underlying's sums start at SUMS_STRIDE.
    let stride = SUMS_STRIDE.max(w);
    if s.sums.len() < 2 * stride {
        s.sums.resize(2 * stride, 0.0);
    }
    for (k, &g) in slot_of[..held].iter().enumerate() {
        sum_rows::<_, 64, 96>(
            terms,
            g,
            rows.single,
            w,
            &mut s.sums[k * stride..k * stride + w],
        );
    }
    s.candidates.clear();
    s.memo.clear();
    let n = layout.weight.len();
    if held == 1 {
        let g = slot_of[0] as usize;
        let d = &s.sums[..w];
        let (hi, lo) = (&layout.weight_hi32[g][..w], &layout.weight_lo32[g][..w]);
        // The least P&L of each point's scenarios in f32: its sum times the largest weight when it loses,
        // the smallest otherwise (rounding is monotone, so this is the least of the scenarios' f32 values).
        // Padded to 16s with +∞ for the scan below (+∞ is never a candidate nor the minimum).
        pad_infinite(&mut s.y, w.div_ceil(16) * 16, w);
        for (((y, &x), &h), &l) in s.y.iter_mut().zip(d).zip(hi).zip(lo) {
            let (vh, vl) = (x * h, x * l);
            *y = if vh < vl { vh } else { vl };
        }
        // Padding and points no scenario takes give 0, so the minimum is ≤ 0: the threshold then also
        // keeps every point that might lose at all.
        let threshold = threshold32(least::<AVX2>(&s.y) as f64 + 2.0 * error);
        let count = layout.count[g];
        for_each_at_most::<AVX2>(&s.y, threshold, |p| {
            if p < count {
                let list = &layout.scenarios_of_point[g][p];
                if s.candidates.len() + list.len() > CANDIDATES_MAX {
                    return false;
                }
                s.candidates.extend_from_slice(list);
            }
            true
        })?;
        s.candidates.sort_unstable();
    } else {
        let point8 = layout.point8.as_ref()?;
        let (ga, gb) = (slot_of[0] as usize, slot_of[1] as usize);
        debug_assert_eq!(
            stride, SUMS_STRIDE,
            "byte points: at most 256 per underlying"
        );
        let (da, db) = s.sums.split_at(SUMS_STRIDE);
        let da: &[f32; SUMS_STRIDE] = da.try_into().expect("the first slot");
        let db: &[f32; SUMS_STRIDE] = db[..SUMS_STRIDE].try_into().expect("the second slot");
        // Whole windows of 8 (the AVX2 path), then +∞ to 16s for the scan below.
        let valid = if AVX2 && cfg!(target_arch = "x86_64") {
            n.div_ceil(8) * 8
        } else {
            n
        };
        pad_infinite(&mut s.y, n.div_ceil(16) * 16, valid);
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: `screen::<true>` is only called by `screen_avx2`, after AVX2 was detected.
            unsafe {
                pnl_two_avx2(
                    da,
                    db,
                    &layout.windows[ga],
                    &layout.windows[gb],
                    &layout.weight32,
                    &mut s.y,
                )
            };
        }
        if !(AVX2 && cfg!(target_arch = "x86_64")) {
            let (pa, pb) = (&point8[ga][..n], &point8[gb][..n]);
            for (((y, &i), &j), &wt) in s.y.iter_mut().zip(pa).zip(pb).zip(&layout.weight32) {
                *y = wt * (da[i as usize] + db[j as usize]);
            }
        }
        // Spare lanes repeat the last scenario: they change no minimum.
        let min = least::<AVX2>(&s.y) as f64;
        if min - error > 0.0 {
            // Every exact P&L is positive: no loss.
            return Some(((0.0, None), None));
        }
        let threshold = threshold32(min + 2.0 * error);
        for_each_at_most::<AVX2>(&s.y, threshold, |k| {
            if k >= n {
                // A spare lane of the last window: a copy of the last scenario.
                return true;
            }
            if s.candidates.len() == CANDIDATES_MAX {
                return false;
            }
            s.candidates.push(k as u32);
            true
        })?;
    }
    // The reference's own loop over the candidates, in scenario order.
    let (result, least_at) = settle(terms, rows.exact, layout, &slot_of[..held], s);
    let memo = match (repriced, least_at) {
        (Some(repriced), Some((sc, _))) => {
            // Every scenario outside the ones the memo settles exactly is at least its f32 value less E.
            let exact = if held == 1 {
                let g = slot_of[0] as usize;
                let p = layout.point[g][sc as usize] as usize;
                // Points no scenario takes (past `count`) are no scenario's.
                s.y[layout.count[g]..].fill(f32::INFINITY);
                s.y[p] = f32::INFINITY;
                p as u32
            } else {
                s.y[n..].fill(f32::INFINITY);
                s.y[sc as usize] = f32::INFINITY;
                sc
            };
            let others = least::<AVX2>(&s.y);
            let lower = down(others as f64 - error);
            // The runner-up: the first point (scenario) of least f32 value among the others, and a bound on
            // every scenario outside both, for the memo's second level (none when nothing is left outside).
            let mut runner_up = None;
            for_each_at_most::<AVX2>(&s.y, others, |k| {
                runner_up = Some(k);
                false
            });
            let (runner_up, lower_rest) = match runner_up {
                Some(k) => {
                    s.y[k] = f32::INFINITY;
                    let rest = down(least::<AVX2>(&s.y) as f64 - error);
                    if rest.is_finite() {
                        (k as u32, rest)
                    } else {
                        (NO_RUNNER_UP, lower)
                    }
                }
                None => (NO_RUNNER_UP, lower),
            };
            let mut held_at = [u8::MAX; 2];
            let mut counts = [0; 2];
            for (k, &g) in slot_of[..held].iter().enumerate() {
                held_at[k] = g;
                counts[k] = repriced[g as usize];
            }
            lower.is_finite().then_some(ScreenMemo {
                lower,
                lower_rest,
                repriced: counts,
                exact,
                runner_up,
                held: held_at,
                count: if held == 1 { Held::One } else { Held::Two },
            })
        }
        _ => None,
    };
    Some((result, memo))
}

/// A relative slack that covers one f64 rounding many times over (`2⁻⁵⁰`, against `2⁻⁵³`).
const ROUNDING: f64 = 1.0 / (1u64 << 50) as f64;

/// The reference's loop over the scenarios `s.candidates` (increasing): each one's exact P&L
/// `weight·Σ_g D_g[point_g]` over the underlyings `slots`, the point sums in term order from 0; returns the
/// reference's (loss, first scenario reaching it) over them, and the first scenario of least P&L with that
/// P&L (none when there are no candidates).
fn settle(
    terms: &[(usize, f64, u8)],
    exact: &[f64],
    layout: &PointLayout,
    slots: &[u8],
    s: &mut ScreenScratch,
) -> (Worst, Option<(u32, f64)>) {
    let w = layout.width;
    let (mut loss, mut worst) = (0.0, None);
    let mut least_at: Option<(u32, f64)> = None;
    for &sc in &s.candidates {
        let sc = sc as usize;
        let mut x = 0.0;
        for &g in slots {
            let p = layout.point[g as usize][sc] as usize;
            x += exact_point(terms, exact, w, g, p, &mut s.memo);
        }
        let x = layout.weight[sc] * x;
        if -x > loss {
            loss = -x;
            worst = Some(sc as u32);
        }
        if least_at.is_none_or(|(_, m)| x < m) {
            least_at = Some((sc as u32, x));
        }
    }
    ((loss, worst), least_at)
}

/// What a tick's screen proved about an account's scenarios, for the next tick to settle it with one or a
/// few exact points instead of screening every scenario again (`worst_loss_reused`).
///
/// Two levels: the memo's scenarios (`exact`), settled at every tick, with a lower bound on every other
/// scenario; and the runner-up's scenarios (`runner_up`), settled only when that bound no longer decides,
/// with a lower bound on every scenario outside both. Valid while the account's terms (positions and grid
/// collateral) are those it was made from: the engine keeps it with the account and drops it whenever the
/// account's margin is stored other than by a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ScreenMemo {
    /// A lower bound on the exact real P&L (`weight·Σ size·row` in real arithmetic on the f64 rows as they
    /// were) of every scenario outside `exact`'s, USD.
    lower: f64,
    /// The same for every scenario outside both `exact`'s and `runner_up`'s, USD (≥ `lower`).
    lower_rest: f64,
    /// Each held underlying's count of re-pricings when the memo was made (its rows then).
    repriced: [u32; 2],
    /// The scenarios settled at every tick: with one underlying, every scenario of this point of it; with
    /// two, this scenario (the least one when the memo was made).
    exact: u32,
    /// The scenarios settled when `lower` does not decide, in the same form ([`NO_RUNNER_UP`]: none).
    runner_up: u32,
    /// The held grid underlyings in increasing order (the second `u8::MAX` with one).
    held: [u8; 2],
    /// How many underlyings are held.
    count: Held,
}

/// How many grid underlyings a memo's account holds (an enum, so an `Option<ScreenMemo>` takes no more
/// room than the memo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Held {
    One = 1,
    Two = 2,
}

/// A memo without a runner-up (no scenario outside its own and the runner-up's would be left).
const NO_RUNNER_UP: u32 = u32::MAX;

/// The reference's (loss, first scenario reaching it) over some scenarios settled exactly, with the least
/// P&L among them; scenarios may come in any order (a tie goes to the lower scenario, as the reference's
/// loop in increasing order gives).
#[derive(Debug, Clone, Copy)]
struct Settled {
    loss: f64,
    worst: Option<u32>,
    least: f64,
}

impl Settled {
    fn new() -> Settled {
        Settled {
            loss: 0.0,
            worst: None,
            least: f64::INFINITY,
        }
    }

    /// Scenario `sc` with P&L `x`.
    #[inline(always)]
    fn take(&mut self, sc: u32, x: f64) {
        if -x > self.loss || (-x == self.loss && self.worst.is_some_and(|w| sc < w)) {
            self.loss = -x;
            self.worst = Some(sc);
        }
        if x < self.least {
            self.least = x;
        }
    }

    /// Every scenario of `which` (a point with one underlying, a scenario with two) at point sum `x`, the
    /// sum over the held underlyings of `D = Σ size·row` at its points.
    #[inline(always)]
    fn take_all(
        &mut self,
        layout: &PointLayout,
        memo: &ScreenMemo,
        which: u32,
        x: f64,
    ) -> Option<()> {
        match memo.count {
            Held::One => {
                let g = memo.held[0] as usize;
                for &sc in layout.scenarios_of_point[g].get(which as usize)? {
                    self.take(sc, layout.weight[sc as usize] * x);
                }
            }
            Held::Two => self.take(which, *layout.weight.get(which as usize)? * x),
        }
        Some(())
    }
}

impl ScreenMemo {
    /// The point each held underlying takes in `which`'s scenarios.
    #[inline(always)]
    fn points_of(&self, layout: &PointLayout, which: u32) -> Option<[usize; 2]> {
        Some(match self.count {
            Held::One => [which as usize, 0],
            Held::Two => {
                let at = |k: usize| {
                    layout.point[self.held[k] as usize]
                        .get(which as usize)
                        .map(|&p| p as usize)
                };
                [at(0)?, at(1)?]
            }
        })
    }
}

/// The point sums of `terms` at the points `at` (one per held underlying, `second` the second's grid
/// index, `u8::MAX` with one), in term order from 0 as the reference sums them, added in underlying order:
/// `0 + D_a (+ D_b)`. Each term is added to its own underlying's sum and +0.0 to the other's, which leaves
/// it unchanged to the bit (a sum started at +0.0 is never −0.0 in round-to-nearest); the two sums stay in
/// registers.
#[inline(always)]
fn point_sum(
    terms: &[(usize, f64, u8)],
    exact: &[f64],
    w: usize,
    second: u8,
    at: [usize; 2],
) -> f64 {
    let (mut d0, mut d1) = (0.0f64, 0.0f64);
    for &(row, size, g) in terms {
        let k = usize::from(g == second);
        let v = size * exact[row * w + at[k]];
        d0 += if k == 0 { v } else { 0.0 };
        d1 += if k == 0 { 0.0 } else { v };
    }
    in_order(d0, d1, second != u8::MAX)
}

/// A scenario's point sum from its underlyings' sums, added as the reference adds them: `0 + D_a`, then
/// `+ D_b` when a second underlying is held.
#[inline(always)]
fn in_order(d0: f64, d1: f64, two: bool) -> f64 {
    let mut x = 0.0;
    x += d0;
    if two {
        x += d1;
    }
    x
}

/// `x` rounded down by a relative [`ROUNDING`] (what the memo's bounds are made and carried with).
#[inline(always)]
fn down(x: f64) -> f64 {
    x - x.abs() * ROUNDING
}

/// The worst loss and its scenario, [`crate::margin::worst_loss_reference`]'s to the bit, from the memo of
/// the account's last screen, and the memo for the next tick; `None` when the memo cannot decide it (the
/// caller screens again).
///
/// Each term's row moved, since the memo, by at most `drift` (its underlying re-priced once since) or not
/// at all (not re-priced), so every scenario's real P&L moved by at most `M = Σ|size|·drift`: every
/// scenario outside the memo's is still at least `lower − M`, and outside the memo's and the runner-up's at
/// least `lower_rest − M`. The memo's scenarios are settled exactly as the reference computes them: one
/// pass over the terms sums, per held underlying in term order from 0, `D = Σ size·row[p]` at the memo's
/// point `p` (with two underlyings, its scenario's point on each), and a scenario's P&L is
/// `weight·(0 + D_a + D_b)`. When their least P&L is below `lower − M` by more than f64's rounding of any
/// scenario (`(N + 8)·2⁻⁵⁰·B`, `B` the screen's bound), every other scenario's computed P&L is strictly
/// above it, so it is the reference's minimum and its first scenario the reference's.
///
/// When it is not, the runner-up's scenarios are settled the same way and the test is made again, over
/// both, against `lower_rest − M`: the reference's minimum is then among them, and its first scenario the
/// lowest of theirs reaching it. The next memo settles whichever of the two holds the least P&L, with the
/// other's computed P&L less f64's rounding (or `lower_rest − M`, when less) as its new `lower`. Any other
/// count of re-pricings since, or a term on another underlying, and the memo does not apply.
pub(crate) fn worst_loss_reused(
    terms: &[(usize, f64, u8)],
    rows: &Rows<'_>,
    drift: &[f64],
    repriced: &[u32],
    layout: &PointLayout,
    memo: &ScreenMemo,
) -> Option<(Worst, ScreenMemo)> {
    let held = &memo.held[..memo.count as usize];
    // Per held underlying: whether it was re-priced since (once).
    let mut changed = [false; 2];
    for (k, &g) in held.iter().enumerate() {
        let (now, then) = (repriced[g as usize], memo.repriced[k]);
        if now == then.wrapping_add(1) {
            changed[k] = true;
        } else if now != then {
            return None;
        }
    }
    let w = layout.width;
    let at = memo.points_of(layout, memo.exact)?;
    let (mut bound, mut moved) = (0.0f64, 0.0f64);
    // The memo's point sums, as in `point_sum`, in the same pass as the bound and the movement.
    let (mut d0, mut d1) = (0.0f64, 0.0f64);
    let second = if held.len() == 2 { held[1] } else { u8::MAX };
    for &(row, size, g) in terms {
        let k = usize::from(g == second);
        if k == 0 && g != held[0] {
            return None;
        }
        let magnitude = size.abs();
        bound += magnitude * rows.bound[row];
        if changed[k] {
            moved += magnitude * drift[row];
        }
        let v = size * rows.exact[row * w + at[k]];
        d0 += if k == 0 { v } else { 0.0 };
        d1 += if k == 0 { 0.0 } else { v };
    }
    // Also false for NaN.
    if !(bound.is_finite() && moved.is_finite()) {
        return None;
    }
    let n = terms.len() as f64;
    // The sums' own rounding, generously.
    let moved = moved * (1.0 + (n + 4.0) * ROUNDING);
    let slack = (n + 8.0) * ROUNDING * bound * (1.0 + ROUNDING);
    let below = |lower: f64| down(lower - slack);
    let lower = down(memo.lower - moved);
    let lower_rest = down(memo.lower_rest - moved);
    // The reference's loop over the memo's scenarios.
    let mut mine = Settled::new();
    mine.take_all(layout, memo, memo.exact, in_order(d0, d1, held.len() == 2))?;
    let mut next = *memo;
    for (k, &g) in held.iter().enumerate() {
        next.repriced[k] = repriced[g as usize];
    }
    next.lower_rest = lower_rest;
    // Also false for NaN.
    if mine.least < below(lower) && lower.is_finite() {
        next.lower = lower;
        return Some(((mine.loss, mine.worst), next));
    }
    // The second level: the runner-up's scenarios settled too, against what lies outside both.
    if memo.runner_up == NO_RUNNER_UP {
        return None;
    }
    let x = point_sum(
        terms,
        rows.exact,
        w,
        second,
        memo.points_of(layout, memo.runner_up)?,
    );
    let mut theirs = Settled::new();
    theirs.take_all(layout, memo, memo.runner_up, x)?;
    let least = mine.least.min(theirs.least);
    // Also false for NaN.
    if !(least < below(lower_rest) && lower_rest.is_finite()) {
        return None;
    }
    let mut both = mine;
    if let Some(sc) = theirs.worst {
        both.take(sc, -theirs.loss);
    }
    // Whichever holds the least is the next memo's; the other's real P&L is at least its computed one less
    // f64's rounding.
    let other = if theirs.least < mine.least {
        next.exact = memo.runner_up;
        next.runner_up = memo.exact;
        mine.least
    } else {
        theirs.least
    };
    next.lower = down(down(other - slack).min(lower_rest));
    Some(((both.loss, both.worst), next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::margin::tests::rows;
    use crate::margin::worst_loss_reference;
    use proptest::prelude::*;

    /// The f32 copies and bounds of f64 unit rows (`width` values each; row `k` on underlying `grid[k]`), as
    /// the engine derives them at a tick.
    fn derive(layout: &PointLayout, exact: &[f64], grid: &[u8]) -> (Vec<f32>, Vec<f64>) {
        let w = layout.width;
        let single = exact.iter().map(|&x| x as f32).collect();
        let bound = grid
            .iter()
            .enumerate()
            .map(|(k, &g)| layout.row_bound(g as usize, &exact[k * w..(k + 1) * w]))
            .collect();
        (single, bound)
    }

    /// f64 unit rows with what the engine derives from them (`derive`), owned, for a test to borrow as
    /// [`Rows`].
    struct Derived {
        exact: Vec<f64>,
        single: Vec<f32>,
        bound: Vec<f64>,
    }

    impl Derived {
        fn of(layout: &PointLayout, exact: Vec<f64>, grid: &[u8]) -> Derived {
            let (single, bound) = derive(layout, &exact, grid);
            Derived {
                exact,
                single,
                bound,
            }
        }

        fn rows(&self) -> Rows<'_> {
            Rows {
                exact: &self.exact,
                single: &self.single,
                bound: &self.bound,
            }
        }
    }

    fn screened(
        layout: &PointLayout,
        exact: &[f64],
        grid: &[u8],
        terms: &[(usize, f64, u8)],
    ) -> Option<(f64, Option<u32>)> {
        let (single, bound) = derive(layout, exact, grid);
        let rows = Rows {
            exact,
            single: &single,
            bound: &bound,
        };
        worst_loss_screened(terms, &rows, layout, &mut ScreenScratch::default())
    }

    /// The next f64 away from zero (one ulp more in magnitude).
    fn ulp_out(x: f64) -> f64 {
        f64::from_bits(x.to_bits() + 1)
    }

    #[test]
    fn scenarios_one_f64_ulp_apart_are_told_apart_exactly_with_two_underlyings() {
        // Two underlyings, 4 scenarios, weight 1: s0 and s2 lose 1000 and 1000 + 1 ulp, indistinguishable
        // in f32; s1 and s3 gain.
        let layout = PointLayout::from_parts(
            vec![4, 1],
            vec![vec![0, 1, 2, 3], vec![0, 0, 0, 0]],
            vec![1.0; 4],
        );
        let x = -1000.0;
        let exact = rows(layout.width, &[&[ulp_out(x), 5.0, x, 7.0], &[0.0]]);
        let terms = [(0, 1.0, 0u8), (1, 1.0, 1u8)];
        let fast = screened(&layout, &exact, &[0, 1], &terms).expect("two candidates, screened");
        assert_eq!(fast, (-ulp_out(x), Some(0)));
        let slow = worst_loss_reference(&terms, &exact, &layout);
        assert_eq!(fast.0.to_bits(), slow.0.to_bits());
        assert_eq!(fast.1, slow.1);
        // The other way round the later scenario is the worse by one ulp.
        let exact = rows(layout.width, &[&[x, 5.0, ulp_out(x), 7.0], &[0.0]]);
        let fast = screened(&layout, &exact, &[0, 1], &terms).expect("screened");
        assert_eq!(fast, (-ulp_out(x), Some(2)));
        // An exact tie goes to the first scenario, as in the reference.
        let exact = rows(layout.width, &[&[x, 5.0, x, 7.0], &[0.0]]);
        let fast = screened(&layout, &exact, &[0, 1], &terms).expect("screened");
        assert_eq!(fast, (1000.0, Some(0)));
    }

    #[test]
    fn a_near_tie_through_the_point_weights_is_settled_exactly_with_one_underlying() {
        // One underlying, points 0 and 1; s2 (point 1) weighs 0.5 and loses 2·(−500 − ε)·0.5, just more
        // than s0's −500: the screen cannot see it, the exact pass must.
        let layout = PointLayout::from_parts(vec![2], vec![vec![0, 0, 1]], vec![1.0, 0.25, 0.5]);
        let exact = rows(layout.width, &[&[-500.0, ulp_out(-1000.0)]]);
        let terms = [(0, 1.0, 0u8)];
        let fast = screened(&layout, &exact, &[0], &terms).expect("screened");
        let slow = worst_loss_reference(&terms, &exact, &layout);
        assert_eq!(fast.0.to_bits(), slow.0.to_bits());
        assert_eq!(fast.1, slow.1);
        assert_eq!(fast.1, Some(2));
        assert!(fast.0 > 500.0);
    }

    #[test]
    fn sizes_or_rows_outside_the_screened_range_are_left_to_the_f64_pass() {
        let layout = PointLayout::from_parts(vec![2], vec![vec![0, 1]], vec![1.0, 1.0]);
        let exact = rows(layout.width, &[&[-5.0, 3.0]]);
        assert!(screened(&layout, &exact, &[0], &[(0, 1e-20, 0)]).is_none());
        assert!(screened(&layout, &exact, &[0], &[(0, 1e20, 0)]).is_none());
        assert!(screened(&layout, &exact, &[0], &[(0, f64::NAN, 0)]).is_none());
        let exact = rows(layout.width, &[&[f64::NAN, 3.0]]);
        assert!(screened(&layout, &exact, &[0], &[(0, 1.0, 0)]).is_none());
        let exact = rows(layout.width, &[&[-1e30, 3.0]]);
        assert!(screened(&layout, &exact, &[0], &[(0, 1.0, 0)]).is_none());
    }

    /// A unit row of `points` values: either random, or one level shared by every point plus per-point
    /// nudges in the 14th to 45th bit (random or a few steps, so some tie): units at opposite levels cancel
    /// to their nudges, which f32 resolves poorly or not at all, so the screen's order of the scenarios
    /// differs from the exact one within its bound (near-ties), or ties.
    fn row(points: usize) -> impl Strategy<Value = Vec<f64>> {
        let nudge = prop_oneof![(-4.0f64..4.0), prop::sample::select(vec![-1.0, 0.0, 1.0])];
        prop_oneof![
            prop::collection::vec(-1e5f64..1e5, points),
            (
                prop::sample::select(vec![-1e5, 1e5, 5e4, -2.5e4, 1e5 / 3.0]),
                prop::sample::select(vec![14, 18, 20, 22, 24, 26, 30, 45]),
                prop::collection::vec(nudge, points),
            )
                .prop_map(|(level, bit, nudges)| {
                    nudges
                        .iter()
                        .map(|&j| level * (1.0 + j * 2f64.powi(-bit)))
                        .collect()
                }),
        ]
    }

    /// A random layout (1–3 underlyings, up to 40 points each, up to 90 scenarios, weights drawn from the
    /// grid's kinds), rows on random underlyings (see [`row`]) and terms over them, sizes random or from a
    /// few levels that make opposite rows cancel.
    #[allow(clippy::type_complexity)]
    fn case() -> impl Strategy<Value = (PointLayout, Vec<f64>, Vec<u8>, Vec<(usize, f64, u8)>)> {
        (1usize..=3, 1usize..=40, 1usize..=90).prop_flat_map(|(grids, points, scenarios)| {
            let weight = prop::collection::vec(
                prop_oneof![Just(1.0), Just(0.5), Just(0.25), 0.01f64..1.0],
                scenarios,
            );
            let point =
                prop::collection::vec(prop::collection::vec(0..points as u32, scenarios), grids);
            let size = prop_oneof![
                (-1e4f64..1e4),
                prop::sample::select(vec![1.0, -1.0, 2.0, -0.5, 3.0])
            ];
            let units = prop::collection::vec((size, 0..grids as u8, row(points)), 1..12);
            (weight, point, units).prop_map(move |(weight, point, units)| {
                let layout = PointLayout::from_parts(vec![points; grids], point, weight);
                let w = layout.width;
                let mut exact = vec![0.0; units.len() * w];
                let (mut grid, mut terms) = (Vec::new(), Vec::new());
                for (k, (size, g, values)) in units.into_iter().enumerate() {
                    exact[k * w..k * w + points].copy_from_slice(&values);
                    grid.push(g);
                    terms.push((k, size, g));
                }
                (layout, exact, grid, terms)
            })
        })
    }

    /// Pairs of units that cancel to their nudges (one level, opposite sizes, nudges in the 18th to 26th
    /// bit): f32 keeps only some of the nudges' bits, so its order of near-equal scenarios is often not the
    /// exact one; the screen must keep every scenario that could be the worst.
    #[allow(clippy::type_complexity)]
    fn cancelling_case(
    ) -> impl Strategy<Value = (PointLayout, Vec<f64>, Vec<u8>, Vec<(usize, f64, u8)>)> {
        (1usize..=2, 2usize..=40, 2usize..=90).prop_flat_map(|(grids, points, scenarios)| {
            let weight =
                prop::collection::vec(prop_oneof![Just(1.0), Just(0.5), 0.01f64..1.0], scenarios);
            let point =
                prop::collection::vec(prop::collection::vec(0..points as u32, scenarios), grids);
            let nudges = || prop::collection::vec(-4.0f64..4.0, points);
            let pair = (
                prop::sample::select(vec![-1e5, 1e5, 3e3, 7.0 / 3.0]),
                prop::sample::select(vec![18, 20, 21, 22, 23, 24, 26]),
                prop::sample::select(vec![1.0, -2.0, 0.75]),
                0..grids as u8,
                nudges(),
                nudges(),
            );
            let pairs = prop::collection::vec(pair, 1..4);
            (weight, point, pairs).prop_map(move |(weight, point, pairs)| {
                let layout = PointLayout::from_parts(vec![points; grids], point, weight);
                let w = layout.width;
                let (mut exact, mut grid, mut terms) = (Vec::new(), Vec::new(), Vec::new());
                for (level, bit, size, g, a, b) in pairs {
                    for (nudges, sign) in [(a, 1.0), (b, -1.0)] {
                        let mut row = vec![0.0; w];
                        for (x, j) in row.iter_mut().zip(nudges) {
                            *x = level * (1.0 + j * 2f64.powi(-bit));
                        }
                        terms.push((grid.len(), sign * size, g));
                        grid.push(g);
                        exact.extend(row);
                    }
                }
                (layout, exact, grid, terms)
            })
        })
    }

    /// Moves the rows of `exact` on grid underlying `g` by `scale`·`shift` (one value per point, cycled)
    /// and returns the new rows with each row's drift (`PointLayout::row_drift`; NaN for rows not moved,
    /// which `worst_loss_reused` must not read).
    fn moved(
        layout: &PointLayout,
        exact: &[f64],
        grid: &[u8],
        g: u8,
        scale: f64,
        shift: &[f64],
    ) -> (Vec<f64>, Vec<f64>) {
        let w = layout.width;
        let mut new = exact.to_vec();
        let mut drift = vec![f64::NAN; grid.len()];
        for (k, &rg) in grid.iter().enumerate() {
            if rg != g {
                continue;
            }
            let count = layout.count[g as usize];
            for p in 0..count {
                let x = exact[k * w + p];
                new[k * w + p] = x + scale * x.abs().max(1.0) * shift[(k + p) % shift.len()];
            }
            drift[k] = layout.row_drift(
                g as usize,
                &exact[k * w..(k + 1) * w],
                &new[k * w..(k + 1) * w],
            );
        }
        (new, drift)
    }

    /// A memo of the screen at `exact` (every underlying re-priced 5 times), then the rows of `ticked`
    /// moved twice (re-priced a 6th and a 7th time); whenever the memo decides, its result is the
    /// reference's on the moved rows to the bit. Returns how many times it decided.
    #[allow(clippy::type_complexity)]
    fn reuse_matches_the_reference(
        (layout, exact, grid, terms): (PointLayout, Vec<f64>, Vec<u8>, Vec<(usize, f64, u8)>),
        ticked: u8,
        scales: [f64; 2],
        shift: &[f64],
    ) -> Result<usize, TestCaseError> {
        let mut s = ScreenScratch::default();
        let mut repriced = vec![5u32; 3];
        let (single, bound) = derive(&layout, &exact, &grid);
        let rows = Rows {
            exact: &exact,
            single: &single,
            bound: &bound,
        };
        let Some((_, Some(mut memo))) =
            worst_loss_screened_memo(&terms, &rows, &layout, Some(&repriced), &mut s)
        else {
            return Ok(0);
        };
        let (mut decided, mut now) = (0, exact);
        for scale in scales {
            let (new, drift) = moved(
                &layout,
                &now,
                &grid,
                ticked % layout.count.len() as u8,
                scale,
                shift,
            );
            repriced[(ticked as usize) % layout.count.len()] += 1;
            let (single, bound) = derive(&layout, &new, &grid);
            let rows = Rows {
                exact: &new,
                single: &single,
                bound: &bound,
            };
            let Some((fast, next)) =
                worst_loss_reused(&terms, &rows, &drift, &repriced, &layout, &memo)
            else {
                return Ok(decided);
            };
            let slow = worst_loss_reference(&terms, &new, &layout);
            prop_assert_eq!(fast.0.to_bits(), slow.0.to_bits(), "scale {}", scale);
            prop_assert_eq!(fast.1, slow.1, "scale {}", scale);
            decided += 1;
            memo = next;
            now = new;
        }
        Ok(decided)
    }

    #[test]
    fn a_reused_screen_decides_a_small_move_and_not_a_move_that_changes_the_worst_scenario() {
        // One underlying, 3 points, a scenario per point (weights 1): losses 100, 50 and a gain.
        let layout = PointLayout::from_parts(vec![3], vec![vec![0, 1, 2]], vec![1.0, 1.0, 1.0]);
        let exact = rows(layout.width, &[&[-100.0, -50.0, 10.0]]);
        let (grid, terms) = (vec![0u8], vec![(0usize, 1.0, 0u8)]);
        let at0 = Derived::of(&layout, exact.clone(), &grid);
        let mut s = ScreenScratch::default();
        let (result, memo) =
            worst_loss_screened_memo(&terms, &at0.rows(), &layout, Some(&[1]), &mut s)
                .expect("screened");
        assert_eq!(result, (100.0, Some(0)));
        let memo = memo.expect("a memo");
        // Every point moves by 1: scenario 0 still loses most (101 against 51).
        let (new, drift) = moved(&layout, &exact, &grid, 0, 1.0, &[-0.01]);
        assert_eq!(drift[0], 1.0 * (1.0 + 4.0 * f64::EPSILON));
        let at1 = Derived::of(&layout, new, &grid);
        let (fast, next) = worst_loss_reused(&terms, &at1.rows(), &drift, &[2], &layout, &memo)
            .expect("a small move is decided");
        assert_eq!(fast, (101.0, Some(0)));
        // 50 less the screen's f32 bound E = 7·2⁻²³·100 (and f64's part) and what it moved.
        assert!(
            next.lower < -51.0 - 8.3e-5 && next.lower > -51.0 - 8.5e-5,
            "{}",
            next.lower
        );
        // Re-priced twice since the memo: not decided.
        assert!(worst_loss_reused(&terms, &at1.rows(), &drift, &[3], &layout, &memo).is_none());
        // The runner-up, the second point, now loses 160: the memo's own bound (50 less the 110 moved)
        // cannot tell, so its second level settles both points against the bound outside them (the third
        // point's gain of 10, less the 110 moved): the second point is the new worst, and the next memo's.
        let far = Derived::of(
            &layout,
            rows(layout.width, &[&[-100.0, -160.0, 10.0]]),
            &grid,
        );
        let drift = vec![layout.row_drift(0, &exact, &far.exact)];
        let (worst, swapped) = worst_loss_reused(&terms, &far.rows(), &drift, &[2], &layout, &memo)
            .expect("the runner-up decides");
        assert_eq!(worst, (160.0, Some(1)));
        assert_eq!(worst, worst_loss_reference(&terms, &far.exact, &layout));
        assert_eq!((swapped.exact, swapped.runner_up), (1, 0));
        // The first point's −100 is now bounded by what lies outside both: 10 less E and the 110 moved.
        assert!(
            swapped.lower < -100.0 - 8.3e-5 && swapped.lower > -100.0 - 8.5e-5,
            "{}",
            swapped.lower
        );
        // The third point, outside both, now loses 200: neither level can tell.
        let farther = Derived::of(
            &layout,
            rows(layout.width, &[&[-100.0, -50.0, -200.0]]),
            &grid,
        );
        let drift = vec![layout.row_drift(0, &exact, &farther.exact)];
        assert!(worst_loss_reused(&terms, &farther.rows(), &drift, &[2], &layout, &memo).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

        #[test]
        fn the_screened_reduction_equals_the_f64_reference_to_the_bit((layout, exact, grid, terms) in case()) {
            if let Some(fast) = screened(&layout, &exact, &grid, &terms) {
                let slow = worst_loss_reference(&terms, &exact, &layout);
                prop_assert_eq!(fast.0.to_bits(), slow.0.to_bits());
                prop_assert_eq!(fast.1, slow.1);
            }
        }

        #[test]
        fn a_reused_screen_equals_the_f64_reference_to_the_bit(
            case in case(),
            ticked in 0u8..3,
            scales in prop::array::uniform2(prop_oneof![
                Just(0.0), 1e-12f64..1e-9, 1e-7f64..1e-4, 1e-3f64..0.3
            ]),
            shift in prop::collection::vec(-1.0f64..1.0, 1..7),
        ) {
            reuse_matches_the_reference(case, ticked, scales, &shift)?;
        }

        #[test]
        fn a_reused_screen_equals_the_f64_reference_when_rows_cancel(
            case in cancelling_case(),
            ticked in 0u8..2,
            scales in prop::array::uniform2(prop_oneof![Just(0.0), 1e-12f64..1e-9, 1e-7f64..1e-5]),
            shift in prop::collection::vec(-1.0f64..1.0, 1..7),
        ) {
            reuse_matches_the_reference(case, ticked, scales, &shift)?;
        }

        #[test]
        fn the_screened_reduction_equals_the_f64_reference_when_rows_cancel(
            (layout, exact, grid, terms) in cancelling_case()
        ) {
            if let Some(fast) = screened(&layout, &exact, &grid, &terms) {
                let slow = worst_loss_reference(&terms, &exact, &layout);
                prop_assert_eq!(fast.0.to_bits(), slow.0.to_bits());
                prop_assert_eq!(fast.1, slow.1);
            }
        }
    }
}
