//! Derive's published liquidation vectors, reproduced by the auction within 1e-9.

use rtm2m_liquidation::conformance::run_derive_liquidation;
use std::path::PathBuf;

fn vectors() -> Option<PathBuf> {
    let shared = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    let path = shared.join("conformance/derive-v2/liquidation/liquidationTests.json");
    if path.exists() {
        Some(path)
    } else {
        eprintln!("note: ../shared absent, skipping Derive liquidation vectors");
        None
    }
}

#[test]
fn every_action_of_derives_liquidation_vectors_is_reproduced_within_1e_9() {
    let Some(path) = vectors() else { return };
    let outcomes = run_derive_liquidation(&path).expect("the file reads");
    // 8 cases, 13 actions.
    assert_eq!(outcomes.len(), 13);
    for o in &outcomes {
        assert!(
            o.pass(),
            "{}: {:?} error {:?} (worst rel. error {:e})",
            o.case,
            o.compared,
            o.error,
            o.worst_rel_error()
        );
    }
}

#[test]
fn the_first_solvent_bid_matches_derives_published_figures() {
    let Some(path) = vectors() else { return };
    let outcomes = run_derive_liquidation(&path).expect("the file reads");
    let t1 = outcomes
        .iter()
        .find(|o| o.case == "Test1/0")
        .expect("Test1");
    // Published: fee 1.322084630165343, PreBM −147.570009424790470656, PreFMax 0.557941285425569408,
    // ExpectedBidPrice 65.234608676059463680.
    for (name, published) in [
        ("fee", 1.322084630165343),
        ("bm", -147.570_009_424_790_47),
        ("f_max", 0.557_941_285_425_569_4),
        ("bid", 65.234_608_676_059_46),
    ] {
        let c = t1.get(name).unwrap_or_else(|| panic!("{name} compared"));
        assert!(
            (c.actual - published).abs() <= 1e-9 * published.abs(),
            "{name}: {} vs {published}",
            c.actual
        );
    }
    let ins = outcomes
        .iter()
        .find(|o| o.case == "InsolventTest1/1")
        .expect("InsolventTest1");
    // Published: lower bound −325.872717274087686144, SM payout 162.936358637043843072 at step 100 for 50%.
    let lb = ins.get("lower_bound").expect("lower bound compared");
    assert!((lb.actual + 325.872_717_274_087_7).abs() < 1e-9 * 325.9);
    let pay = ins.get("sm_payout").expect("payout compared");
    assert!((pay.actual - 162.936_358_637_043_84).abs() < 1e-9 * 163.0);
}
