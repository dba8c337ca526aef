//! The SIMD batch path against the scalar reference path, and its handling of rows it does not cover.

use proptest::prelude::*;
use rtm2m_pricing::batch::{
    detected_isa, implied_vol_batch, price_batch_with, GreeksBatch, IvBatch, KernelIsa, OptionBatch,
};
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
