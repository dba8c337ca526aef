//! The liquidation-cascade simulation: the price path, determinism, the fund's accounting, and the cost of
//! periodic marking on a population of 10 000 accounts.

use rtm2m_liquidation::cascade::{compare_marking, price_path, CascadeParams};
use rtm2m_liquidation::impact::ImpactModel;

#[test]
fn without_noise_the_path_falls_log_linearly_to_the_shock_and_stays() {
    let p = CascadeParams {
        noise_vol: 0.0,
        ..CascadeParams::rtm2m_default()
    };
    let path = price_path(&p).expect("valid");
    assert_eq!(path.len(), 121);
    assert_eq!(path[0].index_usd, 100_000.0);
    // Half-way through the 30-minute crash: 100 000·0.8^½ = 89 442.71909999159.
    assert!((path[15].index_usd - 89_442.719_099_991_59).abs() < 1e-6);
    assert!((path[30].index_usd - 80_000.0).abs() < 1e-6);
    assert!((path[120].index_usd - 80_000.0).abs() < 1e-6);
    assert_eq!(path[120].time_unix_s - path[0].time_unix_s, 7200);
}

#[test]
fn bad_parameters_are_refused_by_name() {
    for (p, field) in [
        (
            CascadeParams {
                mark_interval_s: 90,
                ..CascadeParams::rtm2m_default()
            },
            "mark_interval_s",
        ),
        (
            CascadeParams {
                shock: f64::NAN,
                ..CascadeParams::rtm2m_default()
            },
            "shock",
        ),
        (
            CascadeParams {
                impact: ImpactModel::Linear {
                    depth_usd_per_pct: 0.0,
                },
                ..CascadeParams::rtm2m_default()
            },
            "depth_usd_per_pct",
        ),
    ] {
        let e = compare_marking(&p).expect_err("refused");
        assert!(e.to_string().contains(field), "{e}");
    }
}

#[test]
fn a_run_is_deterministic_and_its_fund_accounting_balances() {
    let p = CascadeParams {
        accounts: 400,
        shock: -0.3,
        keep_events: true,
        ..CascadeParams::rtm2m_default()
    };
    let a = compare_marking(&p).expect("runs");
    let b = compare_marking(&p).expect("runs");
    assert_eq!(a, b);
    for o in [&a.continuous, &a.periodic] {
        let r = &o.report;
        let f = &r.insurance_fund;
        assert!(
            (f.paid_usd + f.socialised_usd - r.bad_debt_usd).abs() <= 1e-9 * (1.0 + r.bad_debt_usd)
        );
        assert!((f.bad_debt_usd - r.bad_debt_usd).abs() <= 1e-9 * (1.0 + r.bad_debt_usd));
        assert!((f.balance_usd - (f.initial_usd + f.fees_usd - f.paid_usd)).abs() < 1e-6);
        assert!(r.liquidations >= r.accounts_liquidated);
        assert!(!o.events.is_empty());
    }
    // A −30% shock through a population that is net long: the liquidations sell and push the index below
    // the exogenous path.
    assert!(a.continuous.report.delta_sold_coin > 0.0);
    assert!(a.continuous.report.impact_cumulative < 0.0);
}

#[test]
fn on_ten_thousand_accounts_hourly_marking_leaves_more_bad_debt_than_continuous_marking() {
    let p = CascadeParams::rtm2m_default();
    assert_eq!(p.accounts, 10_000);
    assert_eq!(p.mark_interval_s, 3600);
    let c = compare_marking(&p).expect("runs");
    let (cont, hourly) = (&c.continuous.report, &c.periodic.report);
    eprintln!(
        "continuous: bad debt {} USD, {} liquidations, {} rounds; hourly: bad debt {} USD, {} liquidations, {} \
         rounds, {} bankruptcies",
        cont.bad_debt_usd,
        cont.liquidations,
        cont.rounds,
        hourly.bad_debt_usd,
        hourly.liquidations,
        hourly.rounds,
        hourly.bankruptcies
    );
    // Same exogenous path.
    assert_eq!(cont.exogenous_final_usd, hourly.exogenous_final_usd);
    assert_eq!(cont.marks, 121);
    assert_eq!(hourly.marks, 3);
    assert!(cont.accounts_liquidated > 0 && hourly.accounts_liquidated > 0);
    assert!(
        hourly.bad_debt_usd > cont.bad_debt_usd,
        "hourly {} vs continuous {}",
        hourly.bad_debt_usd,
        cont.bad_debt_usd
    );
    assert!(hourly.bankruptcies > cont.bankruptcies);
}
