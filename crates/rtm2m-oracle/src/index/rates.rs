//! A stablecoin's USD rate inferred from the market: a bounded window of samples and their median (the
//! slow estimate), and the check of this cycle's prices against the rest of the market (the fast one).
//! The rule that combines them and its reasons: `docs/index.md`, "Stablecoins".

use super::aggregate::median_in_place;
use std::collections::VecDeque;

/// The most samples one window keeps, whatever the cadence: a bound on memory and on the work per cycle.
pub(crate) const MAX_RATE_SAMPLES: usize = 4096;

/// Samples of one stablecoin's implied USD rate, oldest first, with the same values kept sorted so the
/// median costs O(1) and a sample O(log n) plus a move of at most [`MAX_RATE_SAMPLES`] values.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateWindow {
    samples: VecDeque<(i64, f64)>,
    sorted: Vec<f64>,
}

impl RateWindow {
    /// Records the rate `usd_per_unit` observed at `at_ns` (cycles arrive in time order).
    pub(crate) fn push(&mut self, at_ns: i64, usd_per_unit: f64) {
        debug_assert!(usd_per_unit.is_finite() && usd_per_unit > 0.0);
        debug_assert!(self.samples.back().is_none_or(|(t, _)| *t <= at_ns));
        if self.samples.len() == MAX_RATE_SAMPLES {
            self.pop_front();
        }
        self.samples.push_back((at_ns, usd_per_unit));
        let at = self
            .sorted
            .partition_point(|r| r.total_cmp(&usd_per_unit).is_lt());
        self.sorted.insert(at, usd_per_unit);
    }

    fn pop_front(&mut self) {
        if let Some((_, rate)) = self.samples.pop_front() {
            let at = self.sorted.partition_point(|r| r.total_cmp(&rate).is_lt());
            debug_assert!(self
                .sorted
                .get(at)
                .is_some_and(|r| r.total_cmp(&rate).is_eq()));
            self.sorted.remove(at);
        }
    }

    /// Drops the samples at or before `oldest_excluded_ns`, then returns the median of the rest, if any.
    pub(crate) fn median_after(&mut self, oldest_excluded_ns: i64) -> Option<f64> {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| *t <= oldest_excluded_ns)
        {
            self.pop_front();
        }
        debug_assert_eq!(self.sorted.len(), self.samples.len());
        let n = self.sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.sorted[n / 2]),
            _ => Some(self.sorted[n / 2 - 1] / 2.0 + self.sorted[n / 2] / 2.0),
        }
    }
}

/// The fast half of the de-peg rule: which stablecoin-quoted pairs are visibly off their peg in this cycle.
///
/// `pairs` are an underlying's candidate pairs: their quote currency (`None` for USD, `Some(s)` for
/// stablecoin `s`) and their price in it. Every currency in play casts one vote, the median of its pairs'
/// prices at face value. A pair quoted in stablecoin `s` is off its peg when its price is more than
/// `threshold` (a fraction) from the *reference* of `s`, the median of the other currencies' votes, and
/// that reference is
/// - anchored: USD is among the votes (without USD-quoted pairs there is no dollar to be off), and
/// - corroborated: at least two pairs of the other currencies lie within half the threshold of it.
///
/// One odd venue therefore condemns no pair that is within half the threshold of the honest ones: alone,
/// it is not corroborated; against one other vote the reference is the mean of the two, and it is
/// corroborated only if that mean is within half the threshold of the honest pairs (it is exactly as far
/// from the odd one), so a pair more than the threshold from it is more than half the threshold from
/// them; among three or more votes the median ignores it.
///
/// When pairs of several stablecoins fail, the stablecoin whose failing pair is furthest from its
/// reference once converted at the stablecoin's slow rate (`slow_rate[s]`, the pair's premium least
/// explained by the recent past) has its failing pairs excluded first, and the others are judged again
/// without them. A stablecoin with `in_play[s]` false (already de-pegged by its slow rate) neither votes
/// nor is judged. Returns, per pair, whether it is off its peg. At most one round per pair.
pub(crate) fn off_peg_now(
    pairs: &[(Option<usize>, f64)],
    in_play: &[bool],
    slow_rate: &[f64],
    threshold: f64,
) -> Vec<bool> {
    debug_assert_eq!(in_play.len(), slow_rate.len());
    debug_assert!(pairs.iter().all(|(_, p)| p.is_finite() && *p > 0.0));
    let mut off = vec![false; pairs.len()];
    let live = |off: &[bool], i: usize| !off[i] && pairs[i].0.is_none_or(|s| in_play[s]);
    let mut scratch: Vec<f64> = Vec::new();
    let mut votes: Vec<(Option<usize>, f64)> = Vec::with_capacity(in_play.len() + 1);
    // Each round excludes at least one pair or ends the loop: a bound of one round per pair.
    for _round in 0..pairs.len() {
        votes.clear();
        for currency in std::iter::once(None).chain((0..in_play.len()).map(Some)) {
            scratch.clear();
            scratch.extend(
                (0..pairs.len())
                    .filter(|&i| live(&off, i) && pairs[i].0 == currency)
                    .map(|i| pairs[i].1),
            );
            if let Some(vote) = median_in_place(&mut scratch) {
                votes.push((currency, vote));
            }
        }
        if votes.first().is_none_or(|(currency, _)| currency.is_some()) {
            break; // No USD vote.
        }
        // (key, stablecoin, reference) of the failing pair least explained by its slow rate.
        let mut first: Option<(f64, usize, f64)> = None;
        for &(currency, _) in &votes {
            let Some(s) = currency else { continue };
            scratch.clear();
            scratch.extend(votes.iter().filter(|v| v.0 != currency).map(|v| v.1));
            let Some(reference) = median_in_place(&mut scratch) else {
                continue;
            };
            let corroborating = (0..pairs.len())
                .filter(|&i| live(&off, i) && pairs[i].0 != currency)
                .filter(|&i| (pairs[i].1 / reference - 1.0).abs() <= threshold / 2.0)
                .count();
            if corroborating < 2 {
                continue;
            }
            for i in (0..pairs.len()).filter(|&i| live(&off, i) && pairs[i].0 == currency) {
                let price = pairs[i].1;
                if (price / reference - 1.0).abs() > threshold {
                    let key = (price * slow_rate[s] / reference - 1.0).abs();
                    if first.is_none_or(|(k, _, _)| key > k) {
                        first = Some((key, s, reference));
                    }
                }
            }
        }
        let Some((_, s, reference)) = first else {
            break;
        };
        for i in 0..pairs.len() {
            if live(&off, i)
                && pairs[i].0 == Some(s)
                && (pairs[i].1 / reference - 1.0).abs() > threshold
            {
                off[i] = true;
            }
        }
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_odd_sample_does_not_move_the_median_and_old_samples_age_out() {
        let mut window = RateWindow::default();
        for (t, r) in [(1, 1.0), (2, 1.0), (3, 10.0), (4, 1.0), (5, 1.0)] {
            window.push(t, r);
        }
        assert_eq!(window.median_after(0), Some(1.0));
        // Keep only t > 3: samples 1.0 (t = 4) and 1.0 (t = 5).
        assert_eq!(window.median_after(3), Some(1.0));
        assert_eq!(window.median_after(5), None);
    }

    #[test]
    fn the_sorted_median_equals_a_fresh_sort_of_the_window() {
        use crate::index::aggregate::median;
        let mut window = RateWindow::default();
        let mut all = Vec::new();
        for t in 0..500i64 {
            // A deterministic scramble of rates around 1, with repeats.
            let rate = 1.0 + ((t * 7919) % 101) as f64 * 1e-4 - 0.005;
            window.push(t, rate);
            all.push((t, rate));
            let oldest = t - 37;
            let kept: Vec<f64> = all
                .iter()
                .filter(|(s, _)| *s > oldest)
                .map(|(_, r)| *r)
                .collect();
            assert_eq!(window.median_after(oldest), median(&kept), "t = {t}");
        }
    }

    const USD: Option<usize> = None;
    const USDT: Option<usize> = Some(0);
    const USDC: Option<usize> = Some(1);

    #[test]
    fn a_pair_beyond_the_threshold_from_the_other_currencies_is_off_its_peg_at_once() {
        // USDC 2.5% above the median of USD and USDT (100.1): off, whatever its slow rate says.
        let pairs = [(USD, 100.0), (USDT, 100.2), (USDC, 102.6), (USDC, 101.0)];
        let off = off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02);
        assert_eq!(off, [false, false, true, false]);
        // Just inside the threshold is still on the peg.
        let pairs = [(USD, 100.0), (USDT, 100.0), (USDC, 101.99)];
        assert_eq!(
            off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02),
            [false; 3]
        );
    }

    #[test]
    fn one_usd_venue_alone_cannot_condemn_a_stablecoin_but_two_that_agree_can() {
        let pairs = [(USD, 105.0), (USDC, 100.0)];
        assert_eq!(
            off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02),
            [false; 2]
        );
        let pairs = [(USD, 105.0), (USD, 105.1), (USDC, 100.0)];
        assert_eq!(
            off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02),
            [false, false, true]
        );
    }

    #[test]
    fn one_odd_usd_venue_condemns_no_honest_stablecoin_pair_however_far_it_goes() {
        // Every 0.01% from −9% to +9% (a larger move is held by the jump guard), and a few far ones.
        let sweep = (-900..=900).map(|k| 1.0 + f64::from(k) * 1e-4);
        for factor in sweep.chain([0.01, 0.5, 1.5, 10.0, 1e6]) {
            // The honest pairs agree within 0.1%, or within 0.9% (under half the 2% threshold).
            for usdc in [100.1, 100.9] {
                // The only USD venue, one USDT and one USDC venue: two votes against each stablecoin.
                let pairs = [(USD, 100.0 * factor), (USDT, 100.0), (USDC, usdc)];
                let off = off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02);
                assert_eq!(off, [false; 3], "USD at ×{factor}, USDC at {usdc}");
                // Three votes against each stablecoin (DAI too): the median ignores the odd one.
                let pairs = [
                    (USD, 100.0 * factor),
                    (USDT, 100.0),
                    (USDC, usdc),
                    (Some(2), 100.5),
                ];
                let off = off_peg_now(&pairs, &[true; 3], &[1.0; 3], 0.02);
                assert_eq!(off, [false; 4], "USD at ×{factor}, USDC at {usdc}");
            }
        }
    }

    #[test]
    fn without_a_usd_pair_there_is_no_dollar_to_be_off() {
        let pairs = [(USDT, 100.0), (USDT, 100.1), (USDC, 105.0)];
        assert_eq!(
            off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02),
            [false; 3]
        );
    }

    #[test]
    fn a_stablecoin_already_depegged_neither_votes_nor_is_judged() {
        // USDC (out of play) would otherwise pull USDT's reference to 103.5 and condemn it.
        let pairs = [(USD, 100.0), (USDT, 100.1), (USDC, 107.0), (USDC, 107.0)];
        assert_eq!(
            off_peg_now(&pairs, &[true, false], &[1.0, 0.93], 0.02),
            [false; 4]
        );
    }

    #[test]
    fn the_pair_its_slow_rate_explains_least_goes_first() {
        // USD sits 1.6% above USDT (as Binance.US's did in March 2023), USDC jumps to 102.9. At face
        // value USDT is the further off: 2.20% below the median of USD and USDC (102.25), against USDC's
        // 2.08% above the median of USD and USDT (100.8). But USDT's slow rate, 1.016, says it has sat
        // there for minutes; USDC's, 1.0, says it has just moved. USDC goes first; USDT, left with the one
        // USD venue as its reference, is not judged.
        let pairs = [(USD, 101.6), (USDT, 100.0), (USDC, 102.9)];
        let [(_, usd), (_, usdt), (_, usdc)] = pairs;
        assert!(1.0 - usdt / (usd / 2.0 + usdc / 2.0) > usdc / (usd / 2.0 + usdt / 2.0) - 1.0);
        let off = off_peg_now(&pairs, &[true, true], &[1.016, 1.0], 0.02);
        assert_eq!(off, [false, false, true]);
        // Without that history (both slow rates at 1), the face values decide, and USDT goes.
        let off = off_peg_now(&pairs, &[true, true], &[1.0, 1.0], 0.02);
        assert_eq!(off, [false, true, false]);
    }

    #[test]
    fn the_window_is_bounded() {
        let mut window = RateWindow::default();
        for t in 0..(MAX_RATE_SAMPLES as i64 + 10) {
            window.push(t, 1.0);
        }
        assert_eq!(window.samples.len(), MAX_RATE_SAMPLES);
        assert_eq!(window.sorted.len(), MAX_RATE_SAMPLES);
        assert_eq!(window.samples.front().map(|s| s.0), Some(10));
    }
}
