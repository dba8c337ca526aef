//! Invariants of funding rates and accrual: additivity over time, linearity and sign in the position, the
//! shape of the clamp and of Deribit's dead zone.

use proptest::collection::vec;
use proptest::prelude::*;
use rtm2m_funding::{
    deribit_rate, periodic_rate, premium_rate, DeribitParams, FundingCurve, NotionalPath,
    PeriodicParams, RateSegment, EIGHT_HOURS_NS,
};
use rtm2m_market::Timestamp;

const HOUR_NS: i64 = 3_600_000_000_000;

/// A curve of up to 20 segments over about 10 days, with gaps, rates within ±1%.
fn curve() -> impl Strategy<Value = FundingCurve> {
    vec(
        (
            0i64..4 * HOUR_NS,
            1i64..12 * HOUR_NS,
            -0.01..0.01f64,
            prop::bool::ANY,
        ),
        1..20,
    )
    .prop_map(|pieces| {
        let mut t = 0i64;
        let mut segments = Vec::new();
        for (gap, length, rate, per_8h) in pieces {
            let start = t + gap;
            let end = start + length;
            segments.push(RateSegment {
                start: Timestamp::from_unix_nanos(start),
                end: Timestamp::from_unix_nanos(end),
                rate,
                rate_span_ns: if per_8h { EIGHT_HOURS_NS } else { length },
            });
            t = end;
        }
        FundingCurve::from_segments(segments).expect("generated in order")
    })
}

fn instant() -> impl Strategy<Value = Timestamp> {
    (-HOUR_NS..250 * HOUR_NS).prop_map(Timestamp::from_unix_nanos)
}

fn path() -> impl Strategy<Value = NotionalPath> {
    vec((-HOUR_NS..250 * HOUR_NS, -1e6..1e6f64), 0..8).prop_map(|mut steps| {
        steps.sort_by_key(|s| s.0);
        steps.dedup_by_key(|s| s.0);
        NotionalPath::from_steps(
            steps
                .into_iter()
                .map(|(t, n)| (Timestamp::from_unix_nanos(t), n))
                .collect(),
        )
        .expect("sorted and finite")
    })
}

proptest! {
    #[test]
    fn accrual_is_additive_over_adjacent_intervals(
        curve in curve(), position in path(), a in instant(), b in instant(), c in instant(),
    ) {
        let mut t = [a, b, c];
        t.sort();
        let [a, b, c] = t;
        let whole = curve.paid(&position, a, c).expect("ordered");
        let parts = curve.paid(&position, a, b).expect("ordered") + curve.paid(&position, b, c).expect("ordered");
        // Rates ≤ 1% on notionals ≤ 1e6 over ≤ 30 periods: amounts ≤ 3e5, rounding far below 1e-6.
        prop_assert!((whole - parts).abs() <= 1e-9, "{} vs {}", whole, parts);
    }

    #[test]
    fn accrual_is_linear_in_the_notional_and_a_short_receives_what_a_long_pays(
        curve in curve(), notional in -1e6..1e6f64, k in -10.0..10.0f64, a in instant(), b in instant(),
    ) {
        let (from, to) = if a <= b { (a, b) } else { (b, a) };
        let one = curve.paid(&NotionalPath::constant(notional).expect("finite"), from, to).expect("ordered");
        let scaled = curve.paid(&NotionalPath::constant(k * notional).expect("finite"), from, to).expect("ordered");
        let short = curve.paid(&NotionalPath::constant(-notional).expect("finite"), from, to).expect("ordered");
        prop_assert_eq!(short, -one);
        prop_assert!((scaled - k * one).abs() <= 1e-12 * (1.0 + (k * one).abs()), "{} vs {}", scaled, k * one);
        // A positive rate makes a long pay: the sign of the payment is the sign of notional × accrued rate.
        let unit = curve.accrued(from, to).expect("ordered");
        prop_assert!(one * notional * unit >= 0.0);
    }

    #[test]
    fn periodic_rate_is_monotone_equals_i_in_the_band_and_stays_within_c_of_p(
        p in -0.05..0.05f64, q in -0.05..0.05f64,
    ) {
        let params = PeriodicParams::binance();
        let (fp, fq) = (periodic_rate(p, &params).expect("finite"), periodic_rate(q, &params).expect("finite"));
        if p <= q {
            prop_assert!(fp <= fq, "F({}) = {} > F({}) = {}", p, fp, q, fq);
        }
        prop_assert!((fp - p).abs() <= params.clamp + 1e-18);
        if (params.interest_rate - p).abs() <= params.clamp {
            prop_assert_eq!(fp, params.interest_rate);
        }
        let capped = params.with_cap(-0.003, 0.003).expect("valid cap");
        let f = periodic_rate(p, &capped).expect("finite");
        prop_assert!((-0.003..=0.003).contains(&f));
    }

    #[test]
    fn deribit_rate_is_zero_in_the_dead_zone_and_the_premium_less_it_outside(
        index in 1.0..1e6f64, premium in -0.02..0.02f64,
    ) {
        let mark = index * (1.0 + premium);
        let params = DeribitParams::current();
        let p = premium_rate(mark, index).expect("positive prices");
        let f = deribit_rate(mark, index, &params).expect("positive prices");
        if p.abs() <= params.dead_zone {
            prop_assert_eq!(f, 0.0);
        } else {
            prop_assert!((f - (p - params.dead_zone * p.signum())).abs() <= 1e-15);
            prop_assert!(f.signum() == p.signum() && f.abs() < p.abs());
        }
    }
}
