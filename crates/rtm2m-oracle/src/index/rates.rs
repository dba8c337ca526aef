//! A stablecoin's USD rate inferred from the market: a bounded window of samples and their median.

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
