//! Deribit risk matrix on hand-built portfolios (no shared files needed).

use rtm2m_margin::deribit_pm::{
    self, DeribitInstrument, DeribitPmParams, DeribitPortfolio, DeribitPosition,
};
use rtm2m_pricing::OptionKind;

fn params(pnl_offset: f64) -> DeribitPmParams {
    DeribitPmParams {
        price_range: 0.16,
        buckets_count: 4,
        volatility_range_up: 0.5,
        volatility_range_down: 0.25,
        short_term_vega_power: 0.3,
        long_term_vega_power: 0.13,
        min_volatility_for_shock_up: 0.5,
        extended_table_factor: 1.0,
        extended_dampener_usd: 100_000.0,
        pnl_offset,
        annualised_move_risk: 0.075,
        min_annualised_move: 0.01,
        mm_factor: 0.8,
    }
}

fn portfolio(positions: Vec<DeribitPosition>) -> DeribitPortfolio {
    DeribitPortfolio {
        id: "acct".into(),
        index_usd: 60_000.0,
        positions,
        open_orders_margin_coin: 0.0,
        mmp_margin_coin: 0.0,
        delta_shock_coin: 0.0,
        correlation_contingency_coin: 0.0,
    }
}

fn perp(size_coin: f64) -> DeribitPosition {
    DeribitPosition {
        name: "BTC-PERPETUAL".into(),
        instrument: DeribitInstrument::Perpetual,
        size_coin,
    }
}

#[test]
fn a_long_perp_loses_most_at_the_largest_down_move() {
    let r = deribit_pm::margin(&portfolio(vec![perp(1.0)]), &params(0.0)).expect("computes");
    let expected = -(1.0 - 1.0 / 0.84);
    assert!((r.worst_case_coin - expected).abs() < 1e-15);
    assert_eq!(
        (r.worst_case_bucket.side, r.worst_case_bucket.bucket),
        ("left", 1)
    );
    assert!((r.roll_shock_coin - 0.01).abs() < 1e-15);
    assert!((r.mm_coin - 0.8 * r.risk_matrix_margin_coin).abs() < 1e-15);
}

#[test]
fn gains_offset_losses_only_by_pnl_offset() {
    let book = portfolio(vec![perp(1.0)]);
    let none = deribit_pm::margin(&book, &params(0.0)).expect("computes");
    let all = deribit_pm::margin(&book, &params(1.0)).expect("computes");
    assert!(none.aggregated.standard.iter().all(|x| *x <= 0.0));
    assert!(all.aggregated.standard.iter().any(|x| *x > 0.0));
    assert_eq!(none.worst_case_coin, all.worst_case_coin);
}

#[test]
fn a_long_call_gains_when_the_index_rises_and_when_vol_rises() {
    let call = DeribitPosition {
        name: "BTC-28JUN24-60000-C".into(),
        instrument: DeribitInstrument::Option {
            kind: OptionKind::Call,
            strike_usd: 60_000.0,
            expiry_years: 0.1,
            vol: 0.6,
        },
        size_coin: 1.0,
    };
    let v = deribit_pm::risk_vector("acct", &call, &params(0.0), 60_000.0).expect("computes");
    // Level-major (down, unchanged, up): the centre level, unchanged vol, is 0.
    assert!(v.standard[4 * 3 + 1].abs() < 1e-15);
    assert!(v.standard[4 * 3 + 2] > 0.0 && v.standard[4 * 3] < 0.0);
    assert!(v.standard[8 * 3 + 1] > v.standard[5 * 3 + 1] && v.standard[5 * 3 + 1] > 0.0);
    assert_eq!(v.extended.len(), 8);
}

#[test]
fn a_non_finite_size_is_rejected_naming_the_instrument() {
    let e =
        deribit_pm::margin(&portfolio(vec![perp(f64::NAN)]), &params(0.0)).expect_err("NaN size");
    assert!(
        e.to_string().contains("BTC-PERPETUAL") && e.to_string().contains("size"),
        "{e}"
    );
}
