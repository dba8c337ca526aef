//! Invariants of the auction, the insurance fund and the events.

use proptest::prelude::*;
use rtm2m_liquidation::auction::{AuctionParams, BidSize, DutchAuction, Valuation};
use rtm2m_liquidation::events::LiquidationEvent;
use rtm2m_liquidation::insurance::InsuranceFund;

fn solvent_valuation() -> impl Strategy<Value = Valuation> {
    (1.0f64..1e7, 0.01f64..5.0).prop_map(|(mtm, req_over_mtm)| Valuation {
        mtm_usd: mtm,
        margin_mm_usd: mtm - mtm * req_over_mtm.max(1.0 + 1e-6),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_solvent_bid_falls_and_the_maximum_fraction_rises_with_time(
        v in solvent_valuation(),
        t1 in 0i64..20_000,
        dt in 0i64..20_000,
    ) {
        let p = AuctionParams::derive_liquidation_tests();
        let (a, _) = DutchAuction::start("a", p, 0, v).expect("starts");
        let now = v.plus_cash(-a.fee_usd());
        let t2 = t1 + dt;
        prop_assert!(a.discount_at(t2) <= a.discount_at(t1));
        prop_assert!(a.bid_price_usd(t2, &now) <= a.bid_price_usd(t1, &now));
        prop_assert!(a.f_max_at(t2, &now) >= a.f_max_at(t1, &now) - 1e-15);
        prop_assert!((0.0..=1.0).contains(&a.f_max_at(t1, &now)));
    }

    #[test]
    fn a_solvent_bid_never_takes_more_than_f_max_and_the_maximum_restores_the_buffer(
        v in solvent_valuation(),
        t in 0i64..14_400,
        want in 0.001f64..1.0,
    ) {
        let p = AuctionParams::derive_liquidation_tests();
        let (mut a, _) = DutchAuction::start("a", p, 0, v).expect("starts");
        let now = v.plus_cash(-a.fee_usd());
        prop_assume!(now.mtm_usd > 0.0 && now.margin_mm_usd < 0.0);
        let f_max = a.f_max_at(t, &now);
        let out = a.bid(t, now, BidSize::OfCurrent(want)).expect("bids");
        prop_assert!(out.fraction_of_current <= f_max);
        prop_assert!(out.cash_from_bidder_usd >= 0.0);
        if want >= f_max {
            let bm = out.after.buffer_margin_usd(p.buffer_margin_percentage);
            prop_assert!(bm.abs() <= 1e-9 * (1.0 + v.mtm_usd.abs()), "BM after {}", bm);
            prop_assert!(out.ended);
        }
    }

    #[test]
    fn the_insolvent_payout_grows_with_time_up_to_the_lower_bound(
        mtm in -1e6f64..0.0,
        req in 1.0f64..1e6,
        t1 in 0i64..200,
        dt in 0i64..200,
    ) {
        let p = AuctionParams::derive_liquidation_tests();
        let v = Valuation { mtm_usd: mtm, margin_mm_usd: mtm - req };
        let (a, _) = DutchAuction::start("a", p, 0, v).expect("starts");
        prop_assert!(a.is_insolvent());
        prop_assert!(a.insolvent_payout_usd(t1 + dt) >= a.insolvent_payout_usd(t1));
        prop_assert!(a.insolvent_payout_usd(t1) <= a.lower_bound_usd().abs() * (1.0 + 1e-15));
    }

    #[test]
    fn fund_payouts_and_socialised_loss_cover_exactly_the_bad_debt(
        start in 0.0f64..1e6,
        moves in prop::collection::vec((any::<bool>(), 0.01f64..5e5), 1..40),
        cash in prop::collection::vec(-1e5f64..1e6, 0..20),
    ) {
        let mut f = InsuranceFund::new(start).expect("valid");
        let (mut debt_total, mut fees) = (0.0, 0.0);
        for (is_fee, amount) in moves {
            if is_fee {
                f.collect_fee("x", 0, amount).expect("valid");
                fees += amount;
                continue;
            }
            let before = f.balance_usd;
            let c = f.cover("x", 0, amount, &cash).expect("valid");
            debt_total += amount;
            prop_assert!((c.paid_usd + c.socialised_usd - amount).abs() <= 1e-9 * amount);
            prop_assert!((before - f.balance_usd - c.paid_usd).abs() <= 1e-9 * (1.0 + before));
            prop_assert!(f.balance_usd >= 0.0);
            let taken: f64 = c.haircuts_usd.iter().sum();
            prop_assert!((taken + c.unallocated_usd - c.socialised_usd).abs() <= 1e-9 * (1.0 + amount));
            for (h, x) in c.haircuts_usd.iter().zip(&cash) {
                prop_assert!(*h >= 0.0 && *h <= x.max(0.0) * (1.0 + 1e-12));
            }
        }
        prop_assert!((f.paid_usd + f.socialised_usd - debt_total).abs() <= 1e-9 * (1.0 + debt_total));
        prop_assert!((f.balance_usd - (start + fees - f.paid_usd)).abs() <= 1e-9 * (1.0 + start + fees));
    }
}

#[test]
fn events_read_back_as_written() {
    let p = AuctionParams::derive_liquidation_tests();
    let v = Valuation {
        mtm_usd: 100.0,
        margin_mm_usd: -50.0,
    };
    let (mut a, start) = DutchAuction::start("acct-1", p, 1_000, v).expect("starts");
    let bid = a
        .bid(1_030, v.plus_cash(-a.fee_usd()), BidSize::OfCurrent(1.0))
        .expect("bids");
    let mut fund = InsuranceFund::new(10.0).expect("valid");
    let cover = fund
        .cover("acct-2", 1_031, 25.0, &[5.0, 10.0])
        .expect("valid");
    let mut events = vec![start];
    events.extend(bid.events);
    events.extend(cover.events);
    assert_eq!(events.len(), 5);
    for e in &events {
        let text = serde_json::to_string(e).expect("serialises");
        let back: LiquidationEvent = serde_json::from_str(&text).expect("reads back");
        assert_eq!(&back, e, "{text}");
    }
    let text = serde_json::to_string(&events[0]).expect("serialises");
    assert!(text.starts_with(r#"{"type":"auction_started","account":"acct-1","time_unix_s":1000"#));
    // Unknown fields are refused.
    let bad = r#"{"type":"auction_ended","account":"a","time_unix_s":1,"reason":"portfolio_taken","x":1}"#;
    assert!(serde_json::from_str::<LiquidationEvent>(bad).is_err());
}
