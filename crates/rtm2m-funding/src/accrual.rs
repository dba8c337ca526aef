//! Funding over time, per position: continuous accrual over any interval, and payments at settlements.
//!
//! - A [`FundingCurve`] is a piecewise-constant rate: segments `[start, end)` each accruing `rate` per
//!   `rate_span_ns` (8 hours for Deribit, whose rates are quoted per 8 h). A position of notional `N` held
//!   over a time `Δt` inside a segment pays `N · rate · Δt / rate_span` (Deribit, "Funding Specifications":
//!   payment = rate × position × time fraction). Integrating over `[from, to)` sums that over the segments
//!   and over the position's own steps.
//! - A [`FundingHistory`] is a venue's settled rates (`funding` events): at each settlement `s` a position
//!   pays `N(s) · rate(s)` (Binance: "payment = position notional × funding rate", paid by whoever holds a
//!   position at the funding time). [`FundingHistory::to_curve`] spreads each settled rate evenly over the
//!   period it was measured on — `[max(s − period, previous settlement), s)` — so that continuous accrual
//!   over that window pays exactly `N · rate(s)`; time between a gap's start and the next window accrues
//!   nothing (no published rate covers it).
//!
//! A [`NotionalPath`] is the position: signed notional in the quote currency (long > 0), piecewise constant
//! from each step's instant to the next. Amounts "paid" are positive when the position pays, negative when
//! it receives; a long pays when the rate is positive.
//!
//! Sums use Neumaier's compensated summation, so a year of hourly periods adds no visible rounding.

use crate::rate::{deribit_rate, DeribitParams};
use crate::{finite, FundingError, EIGHT_HOURS_NS};
use rtm2m_market::event::Funding;
use rtm2m_market::Timestamp;

type Result<T> = std::result::Result<T, FundingError>;

/// Neumaier's compensated sum (Neumaier 1974, the improved Kahan–Babuška algorithm).
#[derive(Default)]
struct Sum {
    sum: f64,
    compensation: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

fn interval(from: Timestamp, to: Timestamp) -> Result<()> {
    if from > to {
        return Err(FundingError::new(
            "from",
            format!("{from} is after to {to}"),
        ));
    }
    Ok(())
}

/// One piece of a [`FundingCurve`]: over `[start, end)` the rate accrues `rate` per `rate_span_ns`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSegment {
    /// First instant of the segment.
    pub start: Timestamp,
    /// The instant after the segment (exclusive).
    pub end: Timestamp,
    /// Fraction of notional accrued over `rate_span_ns` (positive: longs pay).
    pub rate: f64,
    /// The time `rate` is quoted over, in nanoseconds: 8 hours for a Deribit rate, the segment's own length
    /// for a settled period's rate spread over its window.
    pub rate_span_ns: i64,
}

impl RateSegment {
    /// The fraction of notional accrued over `[from, to)` ∩ this segment.
    fn accrued(&self, from: Timestamp, to: Timestamp) -> f64 {
        let start = self.start.max(from).unix_nanos();
        let end = self.end.min(to).unix_nanos();
        if end <= start {
            return 0.0;
        }
        // Both spans are exact in an f64 below 2^53 ns (104 days); a full window is exactly 1.0 of `rate`.
        let overlap = (i128::from(end) - i128::from(start)) as f64;
        self.rate * (overlap / self.rate_span_ns as f64)
    }
}

/// A piecewise-constant funding rate over time: ordered, non-overlapping [`RateSegment`]s, with no accrual in
/// the gaps between them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FundingCurve {
    segments: Vec<RateSegment>,
}

/// Deribit's inputs at one instant: the perpetual's mark and the index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PremiumObservation {
    /// When both prices were observed.
    pub ts: Timestamp,
    /// The perpetual's mark price, USD per coin.
    pub mark_price: f64,
    /// The index, USD per coin.
    pub index_price: f64,
}

impl FundingCurve {
    /// A curve from segments, checked: each `start < end`, `rate` finite, `rate_span_ns > 0`, each segment
    /// starting at or after the previous one's end.
    pub fn from_segments(segments: Vec<RateSegment>) -> Result<FundingCurve> {
        for (i, s) in segments.iter().enumerate() {
            let at = |field: &str| format!("segments[{i}].{field}");
            if s.start >= s.end {
                return Err(FundingError::new(
                    at("end"),
                    format!("{} is not after start {}", s.end, s.start),
                ));
            }
            finite(&at("rate"), s.rate)?;
            if s.rate_span_ns <= 0 {
                return Err(FundingError::new(
                    at("rate_span_ns"),
                    format!("must be > 0, found {}", s.rate_span_ns),
                ));
            }
            if i > 0 && s.start < segments[i - 1].end {
                return Err(FundingError::new(
                    at("start"),
                    format!(
                        "{} is before the end of segment {} ({})",
                        s.start,
                        i - 1,
                        segments[i - 1].end
                    ),
                ));
            }
        }
        Ok(FundingCurve { segments })
    }

    /// Deribit's continuous funding: each observation's rate ([`deribit_rate`], per 8 hours) holds from its
    /// instant until the next observation, the last one until `end`. Observations strictly increasing in
    /// time, all before `end`.
    pub fn deribit(
        observations: &[PremiumObservation],
        end: Timestamp,
        params: &DeribitParams,
    ) -> Result<FundingCurve> {
        let mut segments = Vec::with_capacity(observations.len());
        for (i, o) in observations.iter().enumerate() {
            let next = observations.get(i + 1).map_or(end, |n| n.ts);
            if next <= o.ts {
                let field = if i + 1 < observations.len() {
                    format!("observations[{}].ts", i + 1)
                } else {
                    "end".to_owned()
                };
                return Err(FundingError::new(
                    field,
                    format!("{next} is not after observations[{i}].ts {}", o.ts),
                ));
            }
            let rate = deribit_rate(o.mark_price, o.index_price, params).map_err(|mut e| {
                e.field = format!("observations[{i}].{}", e.field);
                e
            })?;
            segments.push(RateSegment {
                start: o.ts,
                end: next,
                rate,
                rate_span_ns: EIGHT_HOURS_NS,
            });
        }
        FundingCurve::from_segments(segments)
    }

    /// The segments, in time order.
    pub fn segments(&self) -> &[RateSegment] {
        &self.segments
    }

    /// The fraction of notional accrued over `[from, to)`: what a constant notional of 1 pays.
    pub fn accrued(&self, from: Timestamp, to: Timestamp) -> Result<f64> {
        interval(from, to)?;
        Ok(self.accrued_unchecked(from, to))
    }

    fn accrued_unchecked(&self, from: Timestamp, to: Timestamp) -> f64 {
        let first = self.segments.partition_point(|s| s.end <= from);
        let mut sum = Sum::default();
        for segment in self.segments[first..].iter().take_while(|s| s.start < to) {
            sum.add(segment.accrued(from, to));
        }
        sum.value()
    }

    /// What `position` pays over `[from, to)`, in the notional's currency (negative: it receives).
    pub fn paid(&self, position: &NotionalPath, from: Timestamp, to: Timestamp) -> Result<f64> {
        interval(from, to)?;
        let mut sum = Sum::default();
        for (start, end, notional) in position.pieces(from, to) {
            if notional != 0.0 {
                sum.add(notional * self.accrued_unchecked(start, end));
            }
        }
        Ok(sum.value())
    }
}

/// A position's signed notional over time, in the quote currency (long > 0, short < 0): each step's
/// notional holds from its instant until the next step; before the first step the position is flat.
#[derive(Debug, Clone, PartialEq)]
pub struct NotionalPath {
    steps: Vec<(Timestamp, f64)>,
}

impl NotionalPath {
    /// A notional held at all times.
    pub fn constant(notional: f64) -> Result<NotionalPath> {
        finite("notional", notional)?;
        Ok(NotionalPath {
            steps: vec![(Timestamp::from_unix_nanos(i64::MIN), notional)],
        })
    }

    /// Steps `(instant, notional from then on)`, instants strictly increasing, notionals finite.
    pub fn from_steps(steps: Vec<(Timestamp, f64)>) -> Result<NotionalPath> {
        for (i, &(ts, notional)) in steps.iter().enumerate() {
            finite(&format!("position[{i}].notional"), notional)?;
            if i > 0 && ts <= steps[i - 1].0 {
                return Err(FundingError::new(
                    format!("position[{i}].ts"),
                    format!(
                        "{ts} is not after position[{}].ts {}",
                        i - 1,
                        steps[i - 1].0
                    ),
                ));
            }
        }
        Ok(NotionalPath { steps })
    }

    /// The notional in force at `ts` (a step at exactly `ts` counts).
    pub fn at(&self, ts: Timestamp) -> f64 {
        match self.steps.partition_point(|(t, _)| *t <= ts) {
            0 => 0.0,
            n => self.steps[n - 1].1,
        }
    }

    /// `[start, end)` pieces of `[from, to)` with a constant notional, in time order.
    fn pieces(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = (Timestamp, Timestamp, f64)> + '_ {
        let first = self.steps.partition_point(|(t, _)| *t <= from).max(1) - 1;
        self.steps[first..]
            .iter()
            .enumerate()
            .map_while(move |(k, &(ts, notional))| {
                let start = ts.max(from);
                let end = self
                    .steps
                    .get(first + k + 1)
                    .map_or(to, |next| next.0.min(to));
                (start < to).then_some((start, end, notional))
            })
            .filter(move |(start, end, _)| start < end && *end > from)
    }
}

/// One venue's settled funding rates for one perpetual (`funding` events), in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingHistory {
    settlements: Vec<Funding>,
}

impl FundingHistory {
    /// A history, checked: one venue and symbol, settlement instants strictly increasing, rates finite,
    /// periods of at most 2^63 ns.
    pub fn new(settlements: Vec<Funding>) -> Result<FundingHistory> {
        for (i, s) in settlements.iter().enumerate() {
            let at = |field: &str| format!("history[{i}].{field}");
            finite(&at("rate"), s.rate)?;
            period_ns(s).map_err(|reason| FundingError::new(at("period_s"), reason))?;
            if let Some(first) = settlements.first() {
                if s.venue != first.venue || s.symbol != first.symbol {
                    return Err(FundingError::new(
                        at("venue"),
                        format!(
                            "{} {} differs from history[0]'s {} {}",
                            s.venue, s.symbol, first.venue, first.symbol
                        ),
                    ));
                }
            }
            if i > 0 && s.ts <= settlements[i - 1].ts {
                return Err(FundingError::new(
                    at("ts"),
                    format!(
                        "{} is not after history[{}].ts {}",
                        s.ts,
                        i - 1,
                        settlements[i - 1].ts
                    ),
                ));
            }
        }
        Ok(FundingHistory { settlements })
    }

    /// The settlements, in time order.
    pub fn settlements(&self) -> &[Funding] {
        &self.settlements
    }

    /// What `position` pays at the settlements `s` with `from < s.ts ≤ to`: `Σ N(s.ts) · s.rate`, in the
    /// notional's currency (negative: it receives).
    pub fn paid_at_settlements(
        &self,
        position: &NotionalPath,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<f64> {
        interval(from, to)?;
        let first = self.settlements.partition_point(|s| s.ts <= from);
        let mut sum = Sum::default();
        for s in self.settlements[first..].iter().take_while(|s| s.ts <= to) {
            sum.add(position.at(s.ts) * s.rate);
        }
        Ok(sum.value())
    }

    /// The continuous equivalent: each settled rate spread evenly over `[max(s − period, previous
    /// settlement), s)`, the time it was measured on (see the module documentation).
    pub fn to_curve(&self) -> FundingCurve {
        let mut segments = Vec::with_capacity(self.settlements.len());
        for (i, s) in self.settlements.iter().enumerate() {
            let period = period_ns(s).expect("checked by FundingHistory::new");
            let nominal_start = s.ts.unix_nanos().saturating_sub(period);
            let start = match i {
                0 => nominal_start,
                _ => nominal_start.max(self.settlements[i - 1].ts.unix_nanos()),
            };
            let span = s.ts.unix_nanos() - start;
            if span > 0 {
                segments.push(RateSegment {
                    start: Timestamp::from_unix_nanos(start),
                    end: s.ts,
                    rate: s.rate,
                    rate_span_ns: span,
                });
            }
        }
        FundingCurve::from_segments(segments)
            .expect("windows of a checked history are ordered and non-empty")
    }
}

fn period_ns(s: &Funding) -> std::result::Result<i64, String> {
    i64::try_from(s.period_s)
        .ok()
        .and_then(|p| p.checked_mul(1_000_000_000))
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{} s is not a period between 1 s and 2^63 ns", s.period_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtm2m_market::Pair;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).expect("a valid test time")
    }

    fn funding(at: &str, rate: f64) -> Funding {
        Funding {
            ts: ts(at),
            venue: "binance".into(),
            symbol: Pair::new("BTC", "USDT").expect("valid"),
            rate,
            period_s: 28_800,
        }
    }

    #[test]
    fn deribit_accrual_matches_the_hand_computed_payment() {
        // Mark 50,100 over index 50,000 for one hour: 0.15% per 8 h (original dead zone) on 10,000 USD long
        // pays 10,000 × 0.0015 × 1/8 = 1.875 USD; then the mark returns inside the dead zone for an hour.
        let observations = [
            PremiumObservation {
                ts: ts("2024-01-01T00:00:00Z"),
                mark_price: 50_100.0,
                index_price: 50_000.0,
            },
            PremiumObservation {
                ts: ts("2024-01-01T01:00:00Z"),
                mark_price: 50_010.0,
                index_price: 50_000.0,
            },
        ];
        let curve = FundingCurve::deribit(
            &observations,
            ts("2024-01-01T02:00:00Z"),
            &DeribitParams::original(),
        )
        .expect("valid");
        let long = NotionalPath::constant(10_000.0).expect("valid");
        let paid = curve
            .paid(
                &long,
                ts("2023-12-31T00:00:00Z"),
                ts("2024-01-02T00:00:00Z"),
            )
            .expect("valid");
        assert!((paid - 1.875).abs() < 1e-12, "{paid}");
        // Half an hour of it, short 4,000: receives 4,000 × 0.0015 / 16 = 0.375.
        let short = NotionalPath::constant(-4_000.0).expect("valid");
        let paid = curve
            .paid(
                &short,
                ts("2024-01-01T00:30:00Z"),
                ts("2024-01-01T01:30:00Z"),
            )
            .expect("valid");
        assert!((paid + 0.375).abs() < 1e-12, "{paid}");
    }

    #[test]
    fn settlements_charge_the_notional_held_at_the_funding_time() {
        let history = FundingHistory::new(vec![
            funding("2024-01-01T00:00:00Z", 0.0001),
            funding("2024-01-01T08:00:00Z", -0.0002),
            funding("2024-01-01T16:00:00Z", 0.0003),
        ])
        .expect("valid");
        // Long 1,000 from 07:00, short 500 from exactly 16:00 (a change at the settlement counts).
        let position = NotionalPath::from_steps(vec![
            (ts("2024-01-01T07:00:00Z"), 1_000.0),
            (ts("2024-01-01T16:00:00Z"), -500.0),
        ])
        .expect("valid");
        // 08:00: 1,000 × −0.0002 = −0.2 (receives); 16:00: −500 × 0.0003 = −0.15; midnight: flat.
        let paid = history
            .paid_at_settlements(
                &position,
                ts("2023-12-31T23:00:00Z"),
                ts("2024-01-02T00:00:00Z"),
            )
            .expect("valid");
        assert!((paid + 0.35).abs() < 1e-15, "{paid}");
        // (from, to]: the 08:00 settlement is in (07:59, 08:00] and not in (08:00, 09:00].
        let at = |from: &str, to: &str| {
            history
                .paid_at_settlements(&position, ts(from), ts(to))
                .expect("valid")
        };
        assert!((at("2024-01-01T07:59:00Z", "2024-01-01T08:00:00Z") + 0.2).abs() < 1e-15);
        assert_eq!(at("2024-01-01T08:00:00Z", "2024-01-01T09:00:00Z"), 0.0);
    }

    #[test]
    fn a_history_as_a_curve_spreads_each_rate_over_its_window() {
        let history = FundingHistory::new(vec![
            funding("2024-01-01T00:00:00Z", 0.0001),
            funding("2024-01-01T08:00:00Z", 0.0004),
            // An off-schedule settlement 6 h later: its window is cut at the previous settlement.
            funding("2024-01-01T14:00:00Z", -0.0003),
            // A gap of 16 h: the window is the nominal 8 h, the 8 h before it accrue nothing.
            funding("2024-01-02T06:00:00Z", 0.0002),
        ])
        .expect("valid");
        let curve = history.to_curve();
        let windows: Vec<(String, String)> = curve
            .segments()
            .iter()
            .map(|s| (s.start.to_string(), s.end.to_string()))
            .collect();
        assert_eq!(
            windows[2],
            (
                "2024-01-01T08:00:00.000000000Z".to_owned(),
                "2024-01-01T14:00:00.000000000Z".to_owned()
            )
        );
        assert_eq!(windows[3].0, "2024-01-01T22:00:00.000000000Z");
        let unit = NotionalPath::constant(1.0).expect("valid");
        let paid = |from: &str, to: &str| curve.paid(&unit, ts(from), ts(to)).expect("valid");
        // 10:00–11:00 is a sixth of the 6-hour window of −0.0003.
        assert!((paid("2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z") + 0.00005).abs() < 1e-18);
        assert_eq!(paid("2024-01-01T14:00:00Z", "2024-01-01T22:00:00Z"), 0.0);
        let total = paid("2023-12-31T00:00:00Z", "2024-01-03T00:00:00Z");
        assert!((total - 0.0004).abs() < 1e-18, "{total}");
    }

    #[test]
    fn bad_inputs_are_named_by_field() {
        let err = FundingHistory::new(vec![
            funding("2024-01-01T08:00:00Z", 0.0001),
            funding("2024-01-01T08:00:00Z", 0.0001),
        ])
        .expect_err("duplicate instant");
        assert_eq!(
            err.to_string(),
            "history[1].ts: 2024-01-01T08:00:00.000000000Z is not after history[0].ts 2024-01-01T08:00:00.000000000Z"
        );
        let mut other = funding("2024-01-01T16:00:00Z", 0.0001);
        other.venue = "bybit".into();
        let err = FundingHistory::new(vec![funding("2024-01-01T08:00:00Z", 0.0), other])
            .expect_err("two venues");
        assert_eq!(err.field, "history[1].venue");
        let mut nan = funding("2024-01-01T08:00:00Z", f64::NAN);
        assert_eq!(
            FundingHistory::new(vec![nan.clone()])
                .expect_err("NaN")
                .to_string(),
            "history[0].rate: must be a finite number, found NaN"
        );
        nan.rate = 0.0;
        nan.period_s = u64::MAX;
        assert_eq!(
            FundingHistory::new(vec![nan]).expect_err("too long").field,
            "history[0].period_s"
        );
        assert_eq!(
            NotionalPath::from_steps(vec![(ts("2024-01-01T00:00:00Z"), f64::INFINITY)])
                .expect_err("inf")
                .to_string(),
            "position[0].notional: must be a finite number, found inf"
        );
        let curve = FundingCurve::default();
        let unit = NotionalPath::constant(1.0).expect("valid");
        assert_eq!(
            curve
                .paid(
                    &unit,
                    ts("2024-01-02T00:00:00Z"),
                    ts("2024-01-01T00:00:00Z")
                )
                .expect_err("reversed")
                .field,
            "from"
        );
        let observation = PremiumObservation {
            ts: ts("2024-01-01T00:00:00Z"),
            mark_price: 50_000.0,
            index_price: 0.0,
        };
        assert_eq!(
            FundingCurve::deribit(
                &[observation],
                ts("2024-01-01T01:00:00Z"),
                &DeribitParams::current()
            )
            .expect_err("zero index")
            .to_string(),
            "observations[0].index_price: must be > 0, found 0"
        );
        assert_eq!(
            FundingCurve::deribit(
                &[observation],
                ts("2024-01-01T00:00:00Z"),
                &DeribitParams::current()
            )
            .expect_err("empty")
            .field,
            "end"
        );
    }
}
