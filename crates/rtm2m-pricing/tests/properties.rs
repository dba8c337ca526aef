//! Invariants of the pricing core that must hold for every input: no-arbitrage bounds, put–call parity,
//! monotonicity, homogeneity, and that nothing panics or returns NaN on hostile input.

use proptest::prelude::*;
use rtm2m_pricing::american::{american_price, AmericanSettings};
use rtm2m_pricing::monte_carlo::{european_mc, McSettings};
use rtm2m_pricing::{
    black_scholes, black_scholes_price, implied_vol_black_scholes, BsInputs, IvError, OptionKind,
};

fn inputs() -> impl Strategy<Value = BsInputs> {
    (
        -2.0..6.0_f64,
        -1.0..1.0_f64,
        (1.0 / 8760.0_f64).ln()..3.0_f64.ln(),
        0.05..3.0_f64,
        0.0..0.10_f64,
        -0.05..0.10_f64,
    )
        .prop_map(|(log_spot, log_moneyness, ln_t, vol, rate, dividend)| {
            let spot = 10f64.powf(log_spot);
            BsInputs {
                spot,
                strike: spot * log_moneyness.exp(),
                expiry_years: ln_t.exp(),
                vol,
                rate,
                dividend,
            }
        })
}

proptest! {
    #[test]
    fn put_call_parity_holds(i in inputs()) {
        let call = black_scholes_price(OptionKind::Call, &i).unwrap();
        let put = black_scholes_price(OptionKind::Put, &i).unwrap();
        // C − P = S·e^{−qT} − K·e^{−rT}
        let forward_value = i.spot * (-i.dividend * i.expiry_years).exp() - i.strike * (-i.rate * i.expiry_years).exp();
        let scale = i.spot.max(i.strike);
        prop_assert!((call - put - forward_value).abs() <= 1e-13 * scale, "{call} − {put} vs {forward_value}");
    }

    #[test]
    fn prices_respect_the_no_arbitrage_bounds(i in inputs()) {
        let df_q = (-i.dividend * i.expiry_years).exp();
        let df_r = (-i.rate * i.expiry_years).exp();
        let call = black_scholes_price(OptionKind::Call, &i).unwrap();
        let put = black_scholes_price(OptionKind::Put, &i).unwrap();
        let tolerance = 1e-13 * i.spot.max(i.strike);
        prop_assert!(call >= (i.spot * df_q - i.strike * df_r).max(0.0) - tolerance && call <= i.spot * df_q + tolerance);
        prop_assert!(put >= (i.strike * df_r - i.spot * df_q).max(0.0) - tolerance && put <= i.strike * df_r + tolerance);
    }

    #[test]
    fn price_increases_with_volatility_and_delta_is_bounded(i in inputs(), bump in 1e-3..0.5_f64) {
        for kind in [OptionKind::Call, OptionKind::Put] {
            let low = black_scholes(kind, &i).unwrap();
            let high = black_scholes(kind, &BsInputs { vol: i.vol + bump, ..i }).unwrap();
            prop_assert!(high.price >= low.price - 1e-13 * i.spot.max(i.strike));
            prop_assert!(low.vega >= 0.0 && low.gamma >= 0.0);
            // |Δ| ≤ e^{−qT}, which exceeds 1 for a negative yield.
            prop_assert!(low.delta.abs() <= (-i.dividend * i.expiry_years).exp() * (1.0 + 1e-15));
        }
    }

    #[test]
    fn prices_are_homogeneous_of_degree_one_in_spot_and_strike(i in inputs(), k in 0.01..100.0_f64) {
        let scaled = BsInputs { spot: i.spot * k, strike: i.strike * k, ..i };
        for kind in [OptionKind::Call, OptionKind::Put] {
            let a = black_scholes_price(kind, &i).unwrap() * k;
            let b = black_scholes_price(kind, &scaled).unwrap();
            prop_assert!((a - b).abs() <= 1e-13 * (a.abs() + i.spot.max(i.strike) * k * 1e-3));
        }
    }

    #[test]
    fn hostile_inputs_give_errors_not_panics_or_nans(
        values in prop::array::uniform7(prop_oneof![
            Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.0), Just(-0.0),
            Just(-1.0), Just(f64::MIN_POSITIVE), Just(f64::MAX), Just(1e-300), Just(1e300), -1e6..1e6_f64,
        ])
    ) {
        let i = BsInputs { spot: values[0], strike: values[1], expiry_years: values[2], vol: values[3], rate: values[4], dividend: values[5] };
        for kind in [OptionKind::Call, OptionKind::Put] {
            if let Ok(g) = black_scholes(kind, &i) {
                prop_assert!(!g.price.is_nan() && !g.delta.is_nan(), "{g:?} for {i:?}");
            }
            if let Ok(a) = american_price(kind, &i, &AmericanSettings::default()) {
                prop_assert!(!a.price.is_nan() && !a.delta.is_nan(), "{a:?} for {i:?}");
            }
            let mc = McSettings { paths: 64, seed: 1, antithetic: true, control_variate: true };
            if let Ok(m) = european_mc(kind, &i, &mc) {
                prop_assert!(!m.price.is_nan() && !m.std_error.is_nan(), "{m:?} for {i:?}");
            }
            match implied_vol_black_scholes(kind, values[6], i.spot, i.strike, i.expiry_years, i.rate, i.dividend) {
                Ok(v) => prop_assert!(v.is_finite() && v >= 0.0, "iv {v} for {values:?}"),
                Err(IvError::BelowIntrinsic | IvError::AboveUpperBound | IvError::Invalid { .. }) => {}
            }
        }
    }
}
