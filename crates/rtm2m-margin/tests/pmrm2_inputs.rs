//! PMRM_2 on hand-built accounts: bad inputs are named, hostile inputs never panic, and basic economics hold.

use proptest::prelude::*;
use rtm2m_margin::pmrm2::{
    self, BasisParams, ContingencyParams, ExpiryVols, MarginFactors, Pmrm2Account, Pmrm2Expiry,
    Pmrm2Option, Pmrm2Params, Scenario, SkewShockParams, SviParams, VolShock, VolShockParams,
};
use rtm2m_pricing::OptionKind;

fn params() -> Pmrm2Params {
    let mut scenarios = Vec::new();
    for s in [0.82, 0.91, 1.0, 1.09, 1.18] {
        for v in [VolShock::Down, VolShock::None, VolShock::Up] {
            scenarios.push(Scenario {
                spot_shock: s,
                vol_shock: v,
                dampening: 1.0,
            });
        }
    }
    scenarios.push(Scenario {
        spot_shock: 1.0,
        vol_shock: VolShock::SkewLinear,
        dampening: 1.0,
    });
    scenarios.push(Scenario {
        spot_shock: 1.0,
        vol_shock: VolShock::SkewAbs,
        dampening: 1.0,
    });
    Pmrm2Params {
        scenarios,
        vol_shock: VolShockParams {
            vol_range_up: 0.5,
            vol_range_down: 0.275,
            short_term_power: 0.3,
            long_term_power: 0.13,
            dte_floor_days: 1.0,
            vol_up_min: 0.45,
        },
        skew_shock: SkewShockParams {
            linear_base_cap: 0.15,
            linear_c_base: -0.05,
            abs_base_cap: 0.15,
            abs_c_base: -0.05,
            min_k_star: 0.01,
            width_scale: 4.0,
            vol_param_static: 0.6,
            vol_param_scale: -0.1,
        },
        margin: MarginFactors {
            mm_factor: 0.8,
            im_factor: 1.0,
            short_rate_mult_scale: 0.5,
            long_rate_mult_scale: 1.0,
            short_rate_add_scale: 0.08,
            long_rate_add_scale: 0.08,
            short_base_static_discount: 1.04,
            long_base_static_discount: 0.95,
        },
        basis: BasisParams {
            spot_up: 1.045,
            spot_down: 0.955,
            add_factor: 0.5,
            mult_factor: 2.0,
        },
        contingency: ContingencyParams {
            peg_loss_threshold: 0.98,
            peg_loss_factor: 2.0,
            conf_threshold: 0.55,
            conf_margin: 1.0,
            mm_perp_percent: 0.015,
            im_perp_percent: 0.005,
            mm_option_percent: 0.003,
            im_option_percent: 0.002,
        },
    }
}

fn account(amount: f64, strike_usd: f64) -> Pmrm2Account {
    Pmrm2Account {
        id: "acct-42".into(),
        cash_usd: 10_000.0,
        spot_usd: 3000.0,
        spot_confidence: 1.0,
        stable_price_usd: 1.0,
        perp: None,
        collaterals: Vec::new(),
        expiries: vec![Pmrm2Expiry {
            seconds_to_expiry: 14.0 * 86_400.0,
            forward_usd: 3010.0,
            forward_confidence: 1.0,
            rate: 0.05,
            rate_confidence: 1.0,
            vols: ExpiryVols::Svi(SviParams {
                a: 0.01,
                b: 0.1,
                rho: -0.3,
                m: 0.0,
                sigma: 0.2,
                forward_usd: 3010.0,
                tau_years: 14.0 / 365.0,
            }),
            vol_confidence: 1.0,
            options: vec![Pmrm2Option {
                strike_usd,
                kind: OptionKind::Call,
                amount,
            }],
        }],
    }
}

#[test]
fn a_nan_strike_is_rejected_naming_account_position_and_field() {
    let e = pmrm2::margin(&account(-1.0, f64::NAN), &params()).expect_err("NaN strike");
    let text = e.to_string();
    assert!(
        text.contains("acct-42") && text.contains("expiry 0 option 0") && text.contains("strike"),
        "{text}"
    );
}

#[test]
fn a_short_call_needs_more_initial_than_maintenance_margin_and_less_than_cash() {
    let r = pmrm2::margin(&account(-1.0, 3200.0), &params()).expect("computes");
    assert!(
        r.im_usd < r.mm_usd,
        "IM {} must be below MM {}",
        r.im_usd,
        r.mm_usd
    );
    assert!(r.mm_usd < r.mtm_usd);
    assert!(r.worst_pnl_usd < 0.0);
}

#[test]
fn a_long_call_never_costs_more_than_its_premium() {
    // A long option's shocked value is ≥ 0, so no scenario loses more than the premium: margin ≥ cash.
    let r = pmrm2::margin(&account(1.0, 3200.0), &params()).expect("computes");
    assert!(r.expiry_mtm_usd[0] > 0.0);
    assert!(
        r.mm_usd >= 10_000.0 - 1e-9 && r.im_usd >= 10_000.0 - 1e-9,
        "{r:?}"
    );
}

proptest! {
    #[test]
    fn hostile_inputs_give_an_error_or_finite_margins_never_a_panic(
        spot in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(0.0), Just(-1.0), 1.0..1e6_f64],
        strike in prop_oneof![Just(f64::NAN), Just(0.0), Just(-5.0), 1.0..1e6_f64],
        amount in prop_oneof![Just(f64::NAN), -1e3..1e3_f64],
        seconds in prop_oneof![Just(0.0), Just(-1.0), 0.0..1e8_f64],
        a in prop_oneof![Just(-1.0), Just(f64::NAN), 0.0..1.0_f64],
    ) {
        let mut acct = account(amount, strike);
        acct.spot_usd = spot;
        acct.expiries[0].seconds_to_expiry = seconds;
        if let ExpiryVols::Svi(svi) = &mut acct.expiries[0].vols {
            svi.a = a;
        }
        if let Ok(r) = pmrm2::margin(&acct, &params()) {
            prop_assert!(r.mm_usd.is_finite() && r.im_usd.is_finite(), "{r:?}");
        }
    }
}
