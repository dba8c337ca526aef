//! The liquidation planner on the real margin engine: hand-computed plans and invariants.

use proptest::prelude::*;
use rtm2m_liquidation::impact::ImpactModel;
use rtm2m_liquidation::planner::{apply_plan, close_out, plan_liquidation, PlannerParams};
use rtm2m_margin::account::{Account, Position};
use rtm2m_margin::engine::{prepare, rtm2m_requirements, Rtm2mParams};
use rtm2m_margin::market::{MarkIvs, MarketSnapshot};
use rtm2m_margin::market_risk::MarketRisk;

const OPTIONS: [&str; 4] = [
    "BTC_USDC-27MAR26-90000-P",
    "BTC_USDC-27MAR26-100000-C",
    "BTC_USDC-27MAR26-110000-C",
    "BTC_USDC-27MAR26-80000-P",
];

fn market() -> MarketSnapshot {
    MarketSnapshot::from_json(
        r#"{"as_of": "2026-01-05T00:00:00Z",
            "assets": {"BTC": {"price_usd": 100000, "ewma_vol": 0.5, "depth_usd": 1e8}},
            "underlyings": {"BTC": {"rate": 0.0, "perp_usd": 100000, "forwards": {"27MAR26": 101000}}},
            "mark_ivs": {"BTC_USDC-27MAR26-90000-P": 0.55, "BTC_USDC-27MAR26-100000-C": 0.5,
                         "BTC_USDC-27MAR26-110000-C": 0.48, "BTC_USDC-27MAR26-80000-P": 0.6}}"#,
    )
    .expect("valid market")
}

fn risk(market: &MarketSnapshot, params: &Rtm2mParams) -> MarketRisk {
    let names = ["BTC-PERPETUAL", "BTC-27MAR26"].into_iter().chain(OPTIONS);
    MarketRisk::build(market, &MarkIvs(&market.mark_ivs), &params.grid, names).expect("builds")
}

fn perp_account(cash_usd: f64, size: f64) -> Account {
    Account {
        id: "perp".into(),
        cash_usd,
        accrued_funding_usd: 0.0,
        collateral: Vec::new(),
        positions: vec![Position {
            instrument: "BTC-PERPETUAL".into(),
            size,
            entry_price_usd: Some(100_000.0),
        }],
        ..Account::default()
    }
}

#[test]
fn a_long_perp_is_cut_to_exactly_its_buffer_as_computed_by_hand() {
    // Long 10 BTC perp at the index 100 000, equity 150 000 (cash, entry at the mark). rtm2m MM of a perp:
    // scenario loss 18%·S·q (the core edge; tails dampened to the same), basis 1%·S·q, delta add-on 0.2%·S·q:
    // MM = 0.192·10⁶ = 192 000 > 150 000: liquidatable. Closing x BTC in one order on a book of 10 M USD per
    // 1% costs spread 0.05%·10⁵·x = 50x plus slippage ½·1%·(10⁵x/10⁷)·10⁵x = 5x². Target
    // 150 000 − 50x − 5x² = 1.2·0.192·10⁵·(10 − x), i.e. 5x² − 22 990x + 80 400 = 0:
    // x = 3.4998366369040013.
    let params = Rtm2mParams::rtm2m_default();
    let m = market();
    let r = risk(&m, &params);
    let account = perp_account(150_000.0, 10.0);
    let prepared = prepare(&account, &m, &r, &params).expect("prepares");
    let mm = rtm2m_requirements(&r, &prepared, &params, &mut Vec::new()).mm_usd;
    assert!((mm - 192_000.0).abs() < 1e-6, "MM {mm}");
    let impact = ImpactModel::Linear {
        depth_usd_per_pct: 1e7,
    };
    let planner = PlannerParams::rtm2m_default();
    let plan = plan_liquidation(&r, &prepared, &params, &planner, &impact).expect("plans");
    assert!(plan.target_reached);
    let closed: f64 = plan.steps.iter().map(|s| s.size_closed).sum();
    assert!(
        (closed - 3.499_836_636_904_001_3).abs() < 1e-9,
        "closed {closed}"
    );
    assert!((plan.cost_usd() - (50.0 * closed + 5.0 * closed * closed)).abs() < 1e-6);
    assert!((plan.mm_after_usd - 0.192e5 * (10.0 - closed)).abs() < 1e-6);
    // Applied to the account, the engine agrees: equity − cost, and the buffer is met.
    let mut after = account.clone();
    apply_plan(&mut after, &plan, &r).expect("applies");
    let p2 = prepare(&after, &m, &r, &params).expect("prepares");
    let mm2 = rtm2m_requirements(&r, &p2, &params, &mut Vec::new()).mm_usd;
    assert!((p2.equity_usd - plan.equity_after_usd).abs() < 1e-6);
    assert!(p2.equity_usd >= 1.2 * mm2 - 1e-6);
}

#[test]
fn a_bankrupt_account_is_closed_out_and_its_deficit_is_the_bad_debt() {
    // Long 10 BTC perp entered at 100 000, cash −5 000 beyond the 0 P&L: equity −5 000; closing costs 50·10 +
    // 5·100 = 1 000 → equity −6 000.
    let params = Rtm2mParams::rtm2m_default();
    let m = market();
    let r = risk(&m, &params);
    let account = perp_account(-5_000.0, 10.0);
    let prepared = prepare(&account, &m, &r, &params).expect("prepares");
    let impact = ImpactModel::Linear {
        depth_usd_per_pct: 1e7,
    };
    let plan = close_out(
        &r,
        &prepared,
        &params,
        &PlannerParams::rtm2m_default(),
        &impact,
    )
    .expect("closes");
    assert!((plan.equity_after_usd + 6_000.0).abs() < 1e-9);
    assert_eq!(plan.mm_after_usd, 0.0);
    let mut after = account.clone();
    apply_plan(&mut after, &plan, &r).expect("applies");
    assert!(after.positions.is_empty());
    assert!((after.cash_usd + 6_000.0).abs() < 1e-9);
}

fn mixed_account(sizes: &[f64; 6], cash_usd: f64) -> Account {
    let names = ["BTC-PERPETUAL", "BTC-27MAR26"].into_iter().chain(OPTIONS);
    Account {
        id: "mixed".into(),
        cash_usd,
        accrued_funding_usd: 0.0,
        collateral: Vec::new(),
        positions: names
            .zip(sizes)
            .filter(|(_, s)| **s != 0.0)
            .map(|(n, s)| Position {
                instrument: n.into(),
                size: *s,
                entry_price_usd: (!n.contains('_')).then_some(100_500.0),
            })
            .collect(),
        ..Account::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_plan_never_increases_the_requirement(
        sizes in prop::array::uniform6(-20.0f64..20.0),
        cash in -50_000.0f64..400_000.0,
        depth in 1e6f64..1e9,
    ) {
        let params = Rtm2mParams::rtm2m_default();
        let m = market();
        let r = risk(&m, &params);
        let account = mixed_account(&sizes, cash);
        let prepared = prepare(&account, &m, &r, &params).expect("prepares");
        let impact = ImpactModel::Linear { depth_usd_per_pct: depth };
        let plan = plan_liquidation(&r, &prepared, &params, &PlannerParams::rtm2m_default(), &impact)
            .expect("plans");
        let mut mm = plan.mm_before_usd;
        for s in &plan.steps {
            prop_assert!(s.mm_after_usd < mm, "step raised MM: {} → {}", mm, s.mm_after_usd);
            prop_assert!(s.cost_usd >= 0.0);
            mm = s.mm_after_usd;
        }
        prop_assert!(plan.mm_after_usd <= plan.mm_before_usd);
        // The plan's figures are the engine's on the account it leaves.
        let mut after = account.clone();
        apply_plan(&mut after, &plan, &r).expect("applies");
        let p2 = prepare(&after, &m, &r, &params).expect("prepares");
        let mm2 = rtm2m_requirements(&r, &p2, &params, &mut Vec::new()).mm_usd;
        prop_assert!((mm2 - plan.mm_after_usd).abs() <= 1e-6 * (1.0 + mm2));
        prop_assert!((p2.equity_usd - plan.equity_after_usd).abs() <= 1e-6 * (1.0 + p2.equity_usd.abs()));
    }
}
