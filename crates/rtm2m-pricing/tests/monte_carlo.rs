//! Monte Carlo: agreement with Black–Scholes, the geometric-average closed form against an independent
//! simulation and its limits, the TWAP control variate, reproducibility across runs and thread counts, and
//! input validation.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rtm2m_pricing::monte_carlo::{
    european_mc, geometric_average_price, twap_mc, McResult, McSettings, TwapSpec, CHUNK_SAMPLES,
    DERIBIT_TWAP_WINDOW_YEARS,
};
use rtm2m_pricing::{black76_price, black_scholes_price, BsInputs, OptionKind, PricingError};

const ONE_DAY_YEARS: f64 = 1.0 / 365.0;

fn inputs(
    spot: f64,
    strike: f64,
    expiry_years: f64,
    vol: f64,
    rate: f64,
    dividend: f64,
) -> BsInputs {
    BsInputs {
        spot,
        strike,
        expiry_years,
        vol,
        rate,
        dividend,
    }
}

fn settings(paths: usize, seed: u64, antithetic: bool, control_variate: bool) -> McSettings {
    McSettings {
        paths,
        seed,
        antithetic,
        control_variate,
    }
}

#[test]
fn european_mc_is_within_three_standard_errors_of_black_scholes() {
    use OptionKind::{Call, Put};
    // (kind, S, K, T, σ, r, q): calls and puts, in and out of the money, crypto vols, 1 day to 2 years.
    let cases = [
        (Call, 30_000.0, 30_000.0, ONE_DAY_YEARS, 0.60, 0.05, 0.02),
        (Put, 30_000.0, 29_000.0, ONE_DAY_YEARS, 0.80, 0.05, 0.02),
        (Call, 2_000.0, 2_200.0, 7.0 * ONE_DAY_YEARS, 0.90, 0.03, 0.0),
        (Put, 2_000.0, 2_200.0, 7.0 * ONE_DAY_YEARS, 0.90, 0.03, 0.0),
        (Call, 100.0, 80.0, 0.25, 0.30, 0.04, 0.01),
        (Put, 100.0, 80.0, 0.25, 0.30, 0.04, 0.01),
        (Call, 60_000.0, 75_000.0, 0.5, 0.70, 0.06, 0.03),
        (Put, 60_000.0, 45_000.0, 0.5, 0.70, 0.06, 0.03),
        (Call, 150.0, 150.0, 1.0, 1.50, 0.02, 0.05),
        (Put, 150.0, 150.0, 1.0, 1.50, 0.02, 0.05),
        (Call, 40.0, 30.0, 2.0, 0.45, -0.01, 0.03),
        (Put, 40.0, 55.0, 2.0, 0.45, 0.08, -0.02),
        (Call, 1.0, 1.3, 30.0 * ONE_DAY_YEARS, 1.20, 0.0, 0.0),
        (Put, 1.0, 0.7, 30.0 * ONE_DAY_YEARS, 1.20, 0.0, 0.0),
    ];
    let estimators = [(false, false), (true, false), (false, true), (true, true)];
    for (n, &(kind, spot, strike, expiry, vol, rate, dividend)) in cases.iter().enumerate() {
        let i = inputs(spot, strike, expiry, vol, rate, dividend);
        let want = black_scholes_price(kind, &i).expect("valid");
        let (antithetic, control) = estimators[n % estimators.len()];
        let got = european_mc(
            kind,
            &i,
            &settings(40_000, 1000 + n as u64, antithetic, control),
        )
        .expect("valid");
        assert!(got.std_error > 0.0);
        assert!(
            (got.price - want).abs() < 3.0 * got.std_error,
            "{kind:?} {i:?}: {} ± {} vs {want}",
            got.price,
            got.std_error
        );
        assert_eq!(got.variance_reduction_factor.is_some(), control);
    }
}

#[test]
fn european_control_variate_reduces_the_variance_measured_on_the_same_paths() {
    let i = inputs(30_000.0, 30_000.0, 0.25, 0.8, 0.05, 0.0);
    let plain =
        european_mc(OptionKind::Call, &i, &settings(50_000, 7, false, false)).expect("valid");
    let cv = european_mc(OptionKind::Call, &i, &settings(50_000, 7, false, true)).expect("valid");
    let factor = cv.variance_reduction_factor.expect("control variate on");
    assert!(factor > 1.5, "factor {factor}");
    // Same paths: the ratio of squared standard errors is exactly the reported factor.
    let ratio = (plain.std_error / cv.std_error).powi(2);
    assert!((ratio / factor - 1.0).abs() < 1e-9, "{ratio} vs {factor}");
    // Deep in the money the call is nearly the forward, which the control replicates.
    let deep = european_mc(
        OptionKind::Call,
        &inputs(30_000.0, 15_000.0, 0.1, 0.5, 0.05, 0.0),
        &settings(20_000, 8, false, true),
    )
    .expect("valid");
    assert!(
        deep.variance_reduction_factor.expect("on") > 100.0,
        "{deep:?}"
    );
}

/// An independent simulation of the geometric average: Brownian increments from 0 through every fixing.
fn geometric_plain_mc(
    kind: OptionKind,
    i: &BsInputs,
    twap: &TwapSpec,
    paths: usize,
    seed: u64,
) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let m = twap.fixings;
    let times: Vec<f64> = (1..=m)
        .map(|k| i.expiry_years - twap.window_years + k as f64 * twap.window_years / m as f64)
        .collect();
    let mu = i.rate - i.dividend - 0.5 * i.vol * i.vol;
    let discount = (-i.rate * i.expiry_years).exp();
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for _ in 0..paths {
        let (mut brownian, mut previous, mut sum_ln) = (0.0, 0.0, 0.0);
        for &t in &times {
            let z: f64 = rng.sample(StandardNormal);
            brownian += (t - previous).sqrt() * z;
            previous = t;
            sum_ln += i.spot.ln() + mu * t + i.vol * brownian;
        }
        let geometric = (sum_ln / m as f64).exp();
        let payoff = discount * (kind.sign() * (geometric - i.strike)).max(0.0);
        sum += payoff;
        sum_sq += payoff * payoff;
    }
    let mean = sum / paths as f64;
    let variance = (sum_sq / paths as f64 - mean * mean) * paths as f64 / (paths as f64 - 1.0);
    (mean, (variance / paths as f64).sqrt())
}

#[test]
fn geometric_closed_form_agrees_with_an_independent_simulation() {
    let cases = [
        (
            OptionKind::Call,
            inputs(30_000.0, 30_000.0, ONE_DAY_YEARS, 0.8, 0.05, 0.02),
            TwapSpec::default(),
        ),
        (
            OptionKind::Put,
            inputs(100.0, 105.0, 0.5, 0.6, 0.03, 0.0),
            TwapSpec {
                window_years: 0.25,
                fixings: 12,
            },
        ),
        (
            OptionKind::Call,
            inputs(100.0, 90.0, 1.0, 1.2, 0.0, 0.04),
            TwapSpec {
                window_years: 1.0,
                fixings: 5,
            },
        ),
    ];
    for (n, (kind, i, twap)) in cases.iter().enumerate() {
        let closed = geometric_average_price(*kind, i, twap).expect("valid");
        let (mc, se) = geometric_plain_mc(*kind, i, twap, 100_000, 77 + n as u64);
        assert!(
            (closed - mc).abs() < 3.0 * se,
            "{kind:?}: closed {closed} vs {mc} ± {se}"
        );
    }
}

#[test]
fn geometric_closed_form_matches_the_double_sum_of_covariances() {
    // Var(ln G) = σ²/m²·Σ_j Σ_k min(t_j, t_k), E[ln G] = ln S + μ·mean(t), summed directly here.
    let i = inputs(100.0, 97.0, 0.3, 0.7, 0.04, 0.01);
    let twap = TwapSpec {
        window_years: 0.1,
        fixings: 17,
    };
    let m = twap.fixings;
    let times: Vec<f64> = (1..=m).map(|k| 0.2 + k as f64 * 0.1 / m as f64).collect();
    let mut covariance_sum = 0.0;
    for a in &times {
        for b in &times {
            covariance_sum += a.min(*b);
        }
    }
    let variance = i.vol * i.vol * covariance_sum / (m * m) as f64;
    let mean_time = times.iter().sum::<f64>() / m as f64;
    let mean_ln = i.spot.ln() + (i.rate - i.dividend - 0.5 * i.vol * i.vol) * mean_time;
    let forward = (mean_ln + 0.5 * variance).exp();
    for kind in [OptionKind::Call, OptionKind::Put] {
        let want = black76_price(
            kind,
            forward,
            i.strike,
            1.0,
            variance.sqrt(),
            (-i.rate * i.expiry_years).exp(),
        )
        .expect("valid");
        let got = geometric_average_price(kind, &i, &twap).expect("valid");
        assert!(
            ((got - want) / want).abs() < 1e-12,
            "{kind:?}: {got} vs {want}"
        );
    }
}

#[test]
fn geometric_average_of_one_fixing_at_expiry_is_the_european_option() {
    for kind in [OptionKind::Call, OptionKind::Put] {
        let i = inputs(30_000.0, 31_000.0, 0.05, 0.9, 0.05, 0.02);
        for window_years in [0.0, DERIBIT_TWAP_WINDOW_YEARS, 0.01] {
            let got = geometric_average_price(
                kind,
                &i,
                &TwapSpec {
                    window_years,
                    fixings: 1,
                },
            )
            .expect("valid");
            let want = black_scholes_price(kind, &i).expect("valid");
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "{kind:?} W={window_years}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn twap_control_variate_cuts_the_variance_near_expiry() {
    // One day to expiry, at the money, Deribit's 30-minute window with one-minute fixings.
    let i = inputs(30_000.0, 30_000.0, ONE_DAY_YEARS, 0.6, 0.05, 0.0);
    let twap = TwapSpec::default();
    let plain = twap_mc(
        OptionKind::Call,
        &i,
        &twap,
        &settings(20_000, 11, false, false),
    )
    .expect("valid");
    let cv = twap_mc(
        OptionKind::Call,
        &i,
        &twap,
        &settings(20_000, 11, false, true),
    )
    .expect("valid");
    let factor = cv.variance_reduction_factor.expect("control variate on");
    assert!(factor > 10.0, "factor {factor}");
    assert!(cv.std_error < plain.std_error / 3.0);
    let combined = (plain.std_error.powi(2) + cv.std_error.powi(2)).sqrt();
    assert!(
        (plain.price - cv.price).abs() < 3.0 * combined,
        "{plain:?} vs {cv:?}"
    );
    // The average has less variance than the last fixing: the TWAP option is cheaper than the European.
    let european = black_scholes_price(OptionKind::Call, &i).expect("valid");
    assert!(cv.price < european);
}

#[test]
fn twap_price_tends_to_the_european_as_the_window_shrinks() {
    let i = inputs(30_000.0, 30_500.0, 7.0 * ONE_DAY_YEARS, 0.8, 0.05, 0.02);
    let european = black_scholes_price(OptionKind::Call, &i).expect("valid");
    let one_second = 1.0 / (365.0 * 24.0 * 3600.0);
    let mut previous_gap = f64::INFINITY;
    for window_years in [
        DERIBIT_TWAP_WINDOW_YEARS,
        DERIBIT_TWAP_WINDOW_YEARS / 30.0,
        one_second,
    ] {
        let twap = TwapSpec {
            window_years,
            fixings: 30,
        };
        let got = twap_mc(
            OptionKind::Call,
            &i,
            &twap,
            &settings(40_000, 5, true, true),
        )
        .expect("valid");
        // The TWAP option is cheaper than the European by O(W); the control variate makes the noise far
        // smaller than that gap, so the gap must shrink with the window.
        let gap = european - got.price;
        assert!(
            gap > 3.0 * got.std_error,
            "W={window_years}: {got:?} vs {european}"
        );
        assert!(
            gap < previous_gap,
            "W={window_years}: gap {gap} after {previous_gap}"
        );
        previous_gap = gap;
        // The closed-form geometric price shows the same limit.
        let geometric = geometric_average_price(OptionKind::Call, &i, &twap).expect("valid");
        assert!(geometric < got.price);
    }
    assert!(
        previous_gap / european < 1e-6,
        "gap at one second {previous_gap}"
    );
    // A single fixing at expiry is the European option, path by path.
    let single = twap_mc(
        OptionKind::Call,
        &i,
        &TwapSpec {
            window_years: 0.0,
            fixings: 1,
        },
        &settings(20_000, 6, false, false),
    )
    .expect("valid");
    let direct =
        european_mc(OptionKind::Call, &i, &settings(20_000, 6, false, false)).expect("valid");
    assert!(
        (single.price - direct.price).abs() < 1e-9 * european,
        "{single:?} vs {direct:?}"
    );
    assert!((single.price - european).abs() < 3.0 * single.std_error);
}

fn run_twap(seed: u64) -> McResult {
    let i = inputs(30_000.0, 29_500.0, 3.0 * ONE_DAY_YEARS, 0.7, 0.04, 0.01);
    let twap = TwapSpec {
        window_years: DERIBIT_TWAP_WINDOW_YEARS,
        fixings: 10,
    };
    twap_mc(
        OptionKind::Put,
        &i,
        &twap,
        &settings(3 * CHUNK_SAMPLES + 123, seed, false, true),
    )
    .expect("valid")
}

#[test]
fn same_seed_gives_bit_identical_results_on_any_thread_count() {
    let first = run_twap(42);
    let second = run_twap(42);
    assert_eq!(first.price.to_bits(), second.price.to_bits());
    assert_eq!(first.std_error.to_bits(), second.std_error.to_bits());
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        let pooled = pool.install(|| run_twap(42));
        assert_eq!(
            first.price.to_bits(),
            pooled.price.to_bits(),
            "{threads} threads"
        );
        assert_eq!(
            first.std_error.to_bits(),
            pooled.std_error.to_bits(),
            "{threads} threads"
        );
    }
    assert_ne!(first.price.to_bits(), run_twap(43).price.to_bits());
}

#[test]
fn bad_settings_and_windows_are_rejected_with_the_field_named() {
    let i = inputs(100.0, 100.0, 0.01, 0.5, 0.0, 0.0);
    let twap = TwapSpec::default();
    let field_of = |r: Result<McResult, PricingError>| match r {
        Err(PricingError::InvalidInput { field, .. }) => field,
        Ok(other) => panic!("expected an error, got {other:?}"),
    };
    assert_eq!(
        field_of(european_mc(
            OptionKind::Call,
            &i,
            &settings(1, 0, false, false)
        )),
        "paths"
    );
    assert_eq!(
        field_of(european_mc(
            OptionKind::Call,
            &i,
            &settings(7, 0, true, false)
        )),
        "paths"
    );
    assert_eq!(
        field_of(european_mc(
            OptionKind::Call,
            &i,
            &settings(2, 0, true, false)
        )),
        "paths"
    );
    assert_eq!(
        field_of(twap_mc(
            OptionKind::Call,
            &i,
            &TwapSpec {
                window_years: 0.02,
                ..twap
            },
            &settings(100, 0, false, false)
        )),
        "window_years"
    );
    assert_eq!(
        field_of(twap_mc(
            OptionKind::Call,
            &i,
            &TwapSpec {
                window_years: -1e-6,
                ..twap
            },
            &settings(100, 0, false, false)
        )),
        "window_years"
    );
    assert_eq!(
        field_of(twap_mc(
            OptionKind::Call,
            &i,
            &TwapSpec { fixings: 0, ..twap },
            &settings(100, 0, false, false)
        )),
        "fixings"
    );
    assert!(geometric_average_price(
        OptionKind::Put,
        &i,
        &TwapSpec {
            window_years: f64::NAN,
            ..twap
        }
    )
    .is_err());
}

#[test]
fn expiry_now_gives_the_intrinsic_value_with_no_error() {
    let i = inputs(105.0, 100.0, 0.0, 0.5, 0.03, 0.0);
    let r = twap_mc(
        OptionKind::Call,
        &i,
        &TwapSpec {
            window_years: 0.0,
            fixings: 3,
        },
        &settings(10, 1, false, true),
    )
    .expect("valid");
    assert!((r.price - 5.0).abs() < 1e-12, "{r:?}");
    assert_eq!(r.std_error, 0.0);
}

fn kind_strategy() -> impl Strategy<Value = OptionKind> {
    prop_oneof![Just(OptionKind::Call), Just(OptionKind::Put)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invalid_inputs_return_errors_not_panics(
        kind in kind_strategy(),
        field in 0usize..6,
        bad in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), -1e3f64..-1e-12],
    ) {
        let mut i = inputs(100.0, 100.0, 0.1, 0.5, 0.02, 0.0);
        match field {
            0 => i.spot = bad,
            1 => i.strike = bad,
            2 => i.expiry_years = bad,
            3 => i.vol = bad,
            4 => i.rate = if bad.is_finite() { f64::NAN } else { bad },
            _ => i.dividend = if bad.is_finite() { f64::INFINITY } else { bad },
        }
        let s = settings(16, 1, true, true);
        let twap = TwapSpec { window_years: 0.0, fixings: 2 };
        prop_assert!(european_mc(kind, &i, &s).is_err());
        prop_assert!(twap_mc(kind, &i, &twap, &s).is_err());
        prop_assert!(geometric_average_price(kind, &i, &twap).is_err());
    }

    #[test]
    fn twap_window_beyond_expiry_is_rejected(
        expiry in 0.0f64..0.01,
        excess in 1e-9f64..1.0,
        fixings in 1usize..50,
    ) {
        let i = inputs(100.0, 100.0, expiry, 0.5, 0.02, 0.0);
        let twap = TwapSpec { window_years: expiry + excess, fixings };
        let s = settings(16, 1, false, false);
        prop_assert!(twap_mc(OptionKind::Call, &i, &twap, &s).is_err());
    }
}
