//! The Deribit preset of the standard margin reproduces Deribit's published per-position formulas.

use rtm2m_margin::standard::{
    self, isolated_margin, StandardAccount, StandardExpiry, StandardMarket, StandardOption,
    StandardParams,
};
use rtm2m_pricing::OptionKind::{Call, Put};

fn short(kind: rtm2m_pricing::OptionKind, strike_usd: f64) -> StandardOption {
    StandardOption {
        strike_usd,
        kind,
        amount: -1.0,
        vol: 0.6,
    }
}

#[test]
fn short_call_margin_matches_deribit_standard_formula() {
    let p = StandardParams::deribit();
    let mark = -2.0; // value of the short position: −(premium 2 USD)
                     // 10% out of the money: IM fraction max(0.15 − 0.10, 0.10) = 0.10.
    let im = isolated_margin(&short(Call, 110.0), mark, 100.0, &p, true);
    assert!((im - (-(0.10 * 100.0) - 2.0)).abs() < 1e-12);
    // 2% out of the money: 0.13.
    let im = isolated_margin(&short(Call, 102.0), mark, 100.0, &p, true);
    assert!((im - (-(0.13 * 100.0) - 2.0)).abs() < 1e-12);
    let mm = isolated_margin(&short(Call, 110.0), mark, 100.0, &p, false);
    assert!((mm - (-(0.075 * 100.0) - 2.0)).abs() < 1e-12);
}

#[test]
fn short_put_margin_matches_deribit_standard_formula() {
    let p = StandardParams::deribit();
    let mark = -1.5;
    // 5% out of the money below spot: max(0.15 − 0.05, 0.10) = 0.10.
    let im = isolated_margin(&short(Put, 95.0), mark, 100.0, &p, true);
    assert!((im - (-(0.10 * 100.0) - 1.5)).abs() < 1e-12);
    let mm = isolated_margin(&short(Put, 95.0), mark, 100.0, &p, false);
    assert!((mm - (-(0.075 * 100.0) - 1.5)).abs() < 1e-12);
    // In the money: 0.15.
    let im = isolated_margin(&short(Put, 120.0), -20.5, 100.0, &p, true);
    assert!((im - (-(0.15 * 100.0) - 20.5)).abs() < 1e-12);
}

#[test]
fn long_options_need_no_margin_and_give_no_credit() {
    let p = StandardParams::deribit();
    let long = StandardOption {
        strike_usd: 100.0,
        kind: Call,
        amount: 3.0,
        vol: 0.6,
    };
    assert_eq!(isolated_margin(&long, 12.0, 100.0, &p, true), 0.0);
}

#[test]
fn deribit_preset_has_no_max_loss_bound_so_a_call_spread_pays_its_short_leg() {
    let expiry = StandardExpiry {
        seconds_to_expiry: 30.0 * 86_400.0,
        forward_usd: 100.0,
        forward_confidence: 1.0,
        vol_confidence: 1.0,
        options: vec![
            StandardOption {
                strike_usd: 110.0,
                kind: Call,
                amount: -1.0,
                vol: 0.6,
            },
            StandardOption {
                strike_usd: 115.0,
                kind: Call,
                amount: 1.0,
                vol: 0.6,
            },
        ],
    };
    let account = StandardAccount {
        id: "spread".into(),
        cash_usd: 0.0,
        stable_price_usd: 1.0,
        markets: vec![StandardMarket {
            name: "BTC".into(),
            spot_usd: 100.0,
            spot_confidence: 1.0,
            perp: None,
            base_amount: 0.0,
            expiries: vec![expiry],
        }],
    };
    let deribit = standard::margin(&account, &StandardParams::deribit(), true).expect("computes");
    let derive =
        standard::margin(&account, &StandardParams::derive_srm_tests(), true).expect("computes");
    // Derive caps the spread at its max loss (5 USD); Deribit margins the short leg alone.
    assert!(derive.option_margin_usd[0] >= -5.0 - 1e-12);
    assert!(deribit.option_margin_usd[0] < -10.0);
}

#[test]
fn a_non_finite_strike_is_rejected_naming_account_and_position() {
    let account = StandardAccount {
        id: "acct-7".into(),
        cash_usd: 0.0,
        stable_price_usd: 1.0,
        markets: vec![StandardMarket {
            name: "ETH".into(),
            spot_usd: 2000.0,
            spot_confidence: 1.0,
            perp: None,
            base_amount: 0.0,
            expiries: vec![StandardExpiry {
                seconds_to_expiry: 86_400.0,
                forward_usd: 2000.0,
                forward_confidence: 1.0,
                vol_confidence: 1.0,
                options: vec![StandardOption {
                    strike_usd: f64::NAN,
                    kind: Put,
                    amount: -1.0,
                    vol: 0.5,
                }],
            }],
        }],
    };
    let e = standard::margin(&account, &StandardParams::deribit(), false).expect_err("NaN strike");
    let text = e.to_string();
    assert!(
        text.contains("acct-7")
            && text.contains("ETH expiry 0 option 0")
            && text.contains("strike"),
        "{text}"
    );
}
