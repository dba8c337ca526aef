//! The SIMD batch path against the scalar reference path, and its handling of rows it does not cover.

use proptest::prelude::*;
use rtm2m_pricing::batch::{
    detected_isa, implied_vol_batch, normalised_black_batch, price_batch_with, GreeksBatch,
    IvBatch, KernelIsa, OptionBatch,
};
use rtm2m_pricing::black::normalised_black;
use rtm2m_pricing::special::norm_cdf;
use rtm2m_pricing::{
    black_scholes, implied_vol_black_scholes, BsInputs, IvError, OptionKind, PricingError,
};

fn isas() -> Vec<KernelIsa> {
    let mut isas = vec![KernelIsa::Portable];
    match detected_isa() {
        KernelIsa::Avx512 => isas.extend([KernelIsa::Avx2Fma, KernelIsa::Avx512]),
        KernelIsa::Avx2Fma => isas.push(KernelIsa::Avx2Fma),
        KernelIsa::Portable => {}
    }
    isas
}

/// Agreement bound of one output: relative 2e-13 of its own size, with an absolute floor of 1e-14 of the
/// output's natural scale (S for price, vega, theta, rho; 1 for delta; 1/S for gamma). The batch kernel
/// evaluates the same formulas in a different order (and with FMA where the scalar path has none), so a
/// handful of ulps of each intermediate is what it may differ by.
fn agree(batch: f64, scalar: f64, scale: f64) -> bool {
    (batch - scalar).abs() <= 2e-13 * scalar.abs() + 1e-14 * scale
}

fn option_strategy() -> impl Strategy<Value = (OptionKind, BsInputs)> {
    (
        prop::bool::ANY,
        -2.0..6.0_f64,                         // log10 spot
        -2.5..2.5_f64,                         // standard deviations of log-moneyness
        (1.0 / 8760.0_f64).ln()..3.0_f64.ln(), // ln T
        0.05_f64.ln()..3.0_f64.ln(),           // ln vol
        0.0..0.10_f64,
        -0.05..0.10_f64,
    )
        .prop_map(|(call, log_spot, z, ln_t, ln_vol, rate, dividend)| {
            let spot = 10f64.powf(log_spot);
            let (t, vol) = (ln_t.exp(), ln_vol.exp());
            let forward = spot * ((rate - dividend) * t).exp();
            let strike = forward * (-z * vol * t.sqrt()).exp();
            let kind = if call {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            (
                kind,
                BsInputs {
                    spot,
                    strike,
                    expiry_years: t,
                    vol,
                    rate,
                    dividend,
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn batch_agrees_with_the_scalar_reference(options in prop::collection::vec(option_strategy(), 1..64)) {
        let mut batch = OptionBatch::default();
        for (kind, inputs) in &options {
            batch.push(*kind, inputs);
        }
        for isa in isas() {
            let mut out = GreeksBatch::default();
            price_batch_with(&batch, &mut out, 1, isa).unwrap();
            for (k, (kind, inputs)) in options.iter().enumerate() {
                let g = black_scholes(*kind, inputs).unwrap();
                let s = inputs.spot;
                let checks = [
                    ("price", out.price[k], g.price, s),
                    ("delta", out.delta[k], g.delta, 1.0),
                    ("gamma", out.gamma[k], g.gamma, 1.0 / s),
                    ("vega", out.vega[k], g.vega, s),
                    ("theta", out.theta[k], g.theta, s),
                    ("rho", out.rho[k], g.rho, s),
                ];
                for (name, got, want, scale) in checks {
                    prop_assert!(agree(got, want, scale), "{isa:?} {name}: batch {got:e} vs scalar {want:e} for {kind:?} {inputs:?}");
                }
            }
        }
    }
}

/// Points of the normalised Black function: `s` from 1e-4 (an hour at 1% vol) to 6, `x` from 0 to 40 standard
/// deviations either side (prices down to ~1e-300), calls and puts.
fn normalised_point_strategy() -> impl Strategy<Value = (OptionKind, f64, f64)> {
    (
        prop::bool::ANY,
        (1e-4_f64).ln()..6.0_f64.ln(),
        -40.0..40.0_f64,
        prop::bool::ANY,
    )
        .prop_map(|(call, ln_s, z, at_zero)| {
            let s = ln_s.exp();
            let kind = if call {
                OptionKind::Call
            } else {
                OptionKind::Put
            };
            (kind, if at_zero && z.abs() < 4.0 { 0.0 } else { z * s }, s)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn normalised_black_batch_agrees_with_the_scalar_reference(
        kind in prop::bool::ANY.prop_map(|c| if c { OptionKind::Call } else { OptionKind::Put }),
        points in prop::collection::vec(normalised_point_strategy(), 1..40),
    ) {
        let x: Vec<f64> = points.iter().map(|p| p.1).collect();
        let s: Vec<f64> = points.iter().map(|p| p.2).collect();
        let root_ratio: Vec<f64> = x.iter().map(|x| (0.5 * x).exp()).collect();
        let mut out = vec![0.0; x.len()];
        normalised_black_batch(kind, &x, &s, &root_ratio, &mut out).unwrap();
        for k in 0..x.len() {
            let want = normalised_black(x[k], s[k], kind);
            // A few units in the 14th digit of the larger of the price and the terms it is computed from out of
            // the money, e^{−|x|/2}·Φ(d₁) and e^{|x|/2}·Φ(d₂) (the first is the larger): the kernel takes their
            // difference, or e^{−|x|/2} minus the complement, where the scalar path has the erf series near the
            // money, and where they nearly cancel (small s) neither path is exact to more than that.
            let a = x[k].abs();
            let term = (-0.5 * a).exp() * norm_cdf(-a / s[k] + 0.5 * s[k]);
            prop_assert!(
                (out[k] - want).abs() <= 1e-13 * (want.abs() + term) + 1e-300,
                "b({}, {}, {kind:?}): batch {:e} vs scalar {want:e}", x[k], s[k], out[k]
            );
        }
    }
}

#[test]
fn normalised_black_batch_prices_zero_vol_by_its_limit_and_rejects_bad_points() {
    let x = [0.3, -0.3, 0.3, f64::NAN, 0.2, 0.1, 0.1];
    let s = [0.0, 0.0, 0.5, 0.5, -0.1, f64::INFINITY, 0.4];
    let mut root_ratio: Vec<f64> = x.iter().map(|x| (0.5 * x).exp()).collect();
    root_ratio[6] = 0.0;
    let mut out = [0.0; 7];
    normalised_black_batch(OptionKind::Call, &x, &s, &root_ratio, &mut out).unwrap();
    // s = 0: the intrinsic value 2·sinh(x/2) in the money, 0 out of it.
    assert_eq!(out[0], 2.0 * 0.15_f64.sinh());
    assert_eq!(out[1], 0.0);
    assert!((out[2] - normalised_black(0.3, 0.5, OptionKind::Call)).abs() < 1e-15);
    for (k, b) in out.iter().enumerate().skip(3) {
        assert!(b.is_nan(), "point {k}: {b}");
    }
    assert_eq!(
        normalised_black_batch(OptionKind::Put, &x, &s[..6], &root_ratio, &mut out),
        Err(PricingError::InvalidInput {
            field: "s",
            reason: "length differs from the output's"
        })
    );
}

#[test]
fn rows_outside_the_kernel_get_the_scalar_limit_or_their_error() {
    let good = BsInputs {
        spot: 100.0,
        strike: 90.0,
        expiry_years: 0.5,
        vol: 0.6,
        rate: 0.03,
        dividend: 0.01,
    };
    let mut batch = OptionBatch::default();
    batch.push(OptionKind::Call, &good);
    batch.push(OptionKind::Put, &BsInputs { spot: -1.0, ..good });
    batch.push(
        OptionKind::Call,
        &BsInputs {
            expiry_years: 0.0,
            ..good
        },
    );
    batch.push(
        OptionKind::Call,
        &BsInputs {
            vol: f64::NAN,
            ..good
        },
    );
    batch.push(OptionKind::Put, &good);
    let mut out = GreeksBatch::default();
    price_batch_with(&batch, &mut out, 1, detected_isa()).unwrap();
    assert_eq!(
        out.error(1),
        Some(PricingError::InvalidInput {
            field: "spot",
            reason: "must be positive"
        })
    );
    assert!(out.price[1].is_nan());
    assert_eq!(
        out.error(3),
        Some(PricingError::InvalidInput {
            field: "vol",
            reason: "must be a finite number"
        })
    );
    // T = 0: intrinsic value 10 and delta 1 (the limit), from the scalar path.
    assert_eq!(
        (out.price[2], out.delta[2], out.error(2)),
        (10.0, 1.0, None)
    );
    // Neighbours of bad rows are untouched.
    for k in [0, 4] {
        let kind = if k == 0 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let g = black_scholes(kind, &good).unwrap();
        assert!(agree(out.price[k], g.price, 100.0) && out.error(k).is_none());
    }
}

#[test]
fn multithreaded_batches_equal_single_threaded_ones_bit_for_bit() {
    let mut batch = OptionBatch::default();
    for k in 0..50_000 {
        let strike = 60_000.0 * (0.5 + (k % 997) as f64 / 997.0);
        let inputs = BsInputs {
            spot: 60_000.0,
            strike,
            expiry_years: 0.01 + (k % 89) as f64 / 89.0,
            vol: 0.3 + (k % 13) as f64 / 10.0,
            rate: 0.02,
            dividend: 0.0,
        };
        batch.push(
            if k % 2 == 0 {
                OptionKind::Call
            } else {
                OptionKind::Put
            },
            &inputs,
        );
    }
    let (mut one, mut two) = (GreeksBatch::default(), GreeksBatch::default());
    price_batch_with(&batch, &mut one, 1, detected_isa()).unwrap();
    price_batch_with(&batch, &mut two, 2, detected_isa()).unwrap();
    assert_eq!(one, two);
}

#[test]
fn batch_implied_vol_equals_the_scalar_solver() {
    let mut ivs = IvBatch::default();
    let cases = [
        (1.0, 5.0),
        (-1.0, 5.0),
        (1.0, 1e-20),
        (1.0, 150.0),
        (-1.0, -1.0),
    ];
    for (sign, price) in cases {
        ivs.sign.push(sign);
        ivs.price.push(price);
        ivs.spot.push(100.0);
        ivs.strike.push(105.0);
        ivs.expiry_years.push(0.25);
        ivs.rate.push(0.01);
        ivs.dividend.push(0.0);
    }
    let mut out = Vec::new();
    implied_vol_batch(&ivs, &mut out, 1).unwrap();
    for (k, (sign, price)) in cases.iter().enumerate() {
        let kind = if *sign > 0.0 {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        assert_eq!(
            out[k],
            implied_vol_black_scholes(kind, *price, 100.0, 105.0, 0.25, 0.01, 0.0)
        );
    }
    assert_eq!(out[3], Err(IvError::AboveUpperBound));
    assert_eq!(out[4], Err(IvError::BelowIntrinsic));
}

#[test]
fn large_batches_equal_the_same_options_priced_in_smaller_batches_bit_for_bit() {
    // Blocking, output reuse and the sparse error list must not depend on the batch size.
    let all = rtm2m_pricing::batch::random_crypto_options(300_000, 5);
    let mut whole = GreeksBatch::default();
    price_batch_with(&all, &mut whole, 1, detected_isa()).unwrap();
    for part in 0..3 {
        let range = part * 100_000..(part + 1) * 100_000;
        let mut batch = OptionBatch::default();
        for k in range.clone() {
            let (kind, inputs) = all.get(k);
            batch.push(kind, &inputs);
        }
        let mut out = GreeksBatch::default();
        price_batch_with(&batch, &mut out, 1, detected_isa()).unwrap();
        assert_eq!(out.price[..], whole.price[range.clone()]);
        assert_eq!(out.delta[..], whole.delta[range.clone()]);
        assert_eq!(out.gamma[..], whole.gamma[range.clone()]);
        assert_eq!(out.vega[..], whole.vega[range.clone()]);
        assert_eq!(out.theta[..], whole.theta[range.clone()]);
        assert_eq!(out.rho[..], whole.rho[range]);
    }
}
