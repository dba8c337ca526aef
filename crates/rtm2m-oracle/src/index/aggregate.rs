//! The aggregation methods and the confidence interval, as pure functions of the sources' USD prices.
//!
//! Every function takes finite, positive prices (the engine excludes anything else before calling) and
//! returns `None` for an empty input rather than a NaN.

/// The median of `values`, sorting them in place: the middle value, or the mean of the two middle values
/// for an even count. `None` when empty.
pub fn median_in_place(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        // Halves first: the mean of two prices near f64::MAX must not overflow.
        values[n / 2 - 1] / 2.0 + values[n / 2] / 2.0
    };
    Some(median)
}

/// The median of `values` (see [`median_in_place`]), on a copy.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut copy = values.to_vec();
    median_in_place(&mut copy)
}

/// Deribit's capped median: each price clamped to within `cap_band` (a fraction: 0.005 is ±0.5%) of the
/// median of all of them, then averaged with equal weights. `None` when empty.
///
/// Deribit, "New Deribit Index" (insights.deribit.com, 3 Dec 2019) and the support article "Index Prices":
/// values outside ±0.5% of the median are adjusted to the closest band limit and the index is the
/// equally-weighted average of these values. The result lies within `cap_band` of the median, so one
/// source, however far off, moves it by at most `cap_band × median / n` plus the shift it causes in the
/// median itself (see `docs/index.md`).
pub fn capped_median(prices: &[f64], cap_band: f64) -> Option<f64> {
    debug_assert!((0.0..1.0).contains(&cap_band), "cap band is a fraction");
    let median = median(prices)?;
    let (low, high) = (median * (1.0 - cap_band), median * (1.0 + cap_band));
    let sum: f64 = prices.iter().map(|p| p.clamp(low, high)).sum();
    Some(sum / prices.len() as f64)
}

/// Volume-weighted average price: Σ pᵢ·vᵢ / Σ vᵢ. `None` when empty or when the volumes sum to zero.
pub fn volume_weighted(prices: &[f64], volumes: &[f64]) -> Option<f64> {
    debug_assert_eq!(prices.len(), volumes.len());
    let (mut weighted, mut total) = (0.0, 0.0);
    for (p, v) in prices.iter().zip(volumes) {
        debug_assert!(*v >= 0.0, "volumes are never negative");
        weighted += p * v;
        total += v;
    }
    (total > 0.0).then(|| weighted / total)
}

/// Pyth's aggregate confidence around `price`: each source casts three votes, at `p − c`, `p` and `p + c`
/// (its price and its own confidence half-width); the confidence is the larger distance from `price` to the
/// 25th and 75th percentiles of the votes. `None` when there is no source.
///
/// Pyth docs, "Price Aggregation" (docs.pyth.network, how-pyth-works/price-aggregation): "each publisher
/// three votes ... distance from the aggregate price to the 25th and 75th percentiles of the votes, then
/// selects the larger of the two". The percentiles are pyth-client's (`program/c/src/oracle/model/
/// price_model.c`, `price_model_core`): with `n` sorted votes, p25 is vote `⌊n/4⌋` and p75 is vote
/// `n − 1 − ⌊n/4⌋` (0-based), no interpolation. Pyth measures from its own vote median; here `price` is
/// whatever the configured method published, so the interval is centred on the published price.
pub fn pyth_confidence(price: f64, prices: &[f64], confidences: &[f64]) -> Option<f64> {
    debug_assert_eq!(prices.len(), confidences.len());
    if prices.is_empty() {
        return None;
    }
    let mut votes = Vec::with_capacity(prices.len() * 3);
    for (p, c) in prices.iter().zip(confidences) {
        debug_assert!(*c >= 0.0, "a confidence is a half-width");
        votes.extend_from_slice(&[p - c, *p, p + c]);
    }
    votes.sort_unstable_by(f64::total_cmp);
    let n = votes.len();
    let (p25, p75) = (votes[n / 4], votes[n - 1 - n / 4]);
    Some((price - p25).abs().max((p75 - price).abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_median_reproduces_the_deribit_support_example() {
        // Deribit support, "Index Prices": sources 100, 101, 120; median 101; caps ±0.5% give 100.495 and
        // 101.505 for the outer two; equal weights: (100.495 + 101 + 101.505) / 3 = 101 exactly.
        let index = capped_median(&[100.0, 101.0, 120.0], 0.005).expect("three prices");
        assert!((index - 101.0).abs() < 1e-12, "{index}");
    }

    #[test]
    fn capped_median_of_prices_within_the_band_is_their_mean() {
        // 20000, 20010, 20030: median 20010, band ±100.05, nothing clamped; mean 60040 / 3.
        let index = capped_median(&[20_030.0, 20_000.0, 20_010.0], 0.005).expect("prices");
        assert!((index - 60_040.0 / 3.0).abs() < 1e-9, "{index}");
    }

    #[test]
    fn capped_median_of_four_clamps_around_the_mean_of_the_middle_two() {
        // 0, 100, 102, 1000: median (100 + 102) / 2 = 101, band [100.495, 101.505];
        // clamped 100.495, 100.495, 101.505, 101.505: mean 101.
        let index = capped_median(&[0.0, 100.0, 102.0, 1000.0], 0.005).expect("prices");
        assert!((index - 101.0).abs() < 1e-12, "{index}");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::MAX, f64::MAX]), Some(f64::MAX));
    }

    #[test]
    fn volume_weighted_by_hand() {
        // (100·1 + 110·3) / 4 = 107.5
        assert_eq!(volume_weighted(&[100.0, 110.0], &[1.0, 3.0]), Some(107.5));
        assert_eq!(volume_weighted(&[100.0], &[0.0]), None);
        assert_eq!(volume_weighted(&[], &[]), None);
    }

    #[test]
    fn pyth_confidence_by_hand() {
        // Publishers 100 ± 1, 101 ± 1, 110 ± 10: votes sorted 99, 100, 100, 100, 101, 101, 102, 110, 120
        // (n = 9). p25 = vote ⌊9/4⌋ = 2 → 100; p75 = vote 9 − 1 − 2 = 6 → 102. Around 101: max(1, 1) = 1.
        let conf = pyth_confidence(101.0, &[100.0, 101.0, 110.0], &[1.0, 1.0, 10.0]);
        assert_eq!(conf, Some(1.0));
        // Two sources with no spread of their own, 100 and 104, published at 102: votes 100 ×3, 104 ×3;
        // p25 = vote 1 → 100, p75 = vote 4 → 104: the interval covers both, ±2.
        let conf = pyth_confidence(102.0, &[100.0, 104.0], &[0.0, 0.0]);
        assert_eq!(conf, Some(2.0));
        assert_eq!(pyth_confidence(1.0, &[], &[]), None);
    }
}
