//! Deribit portfolio margin: the official `private/pme/simulate` example reproduced.

mod common;

use rtm2m_margin::conformance::{relative_error, REL_TOLERANCE};
use rtm2m_margin::deribit_pm;

#[test]
fn deribit_simulate_example_worst_case_roll_shock_im_and_mm_match() {
    let Some(dir) =
        common::shared_dir("deribit_simulate_example_worst_case_roll_shock_im_and_mm_match")
    else {
        return;
    };
    let path = dir.join("data/deribit_pm_examples/deribit_pme_simulate_examples.json");
    let examples = deribit_pm::vectors::read_examples(&path).expect("parses");
    assert!(!examples.is_empty());
    for x in &examples {
        let r = deribit_pm::margin(&x.portfolio, &x.params).expect("computes");
        for (name, a, e) in [
            ("worst_case", r.worst_case_coin, x.expected.worst_case_coin),
            ("roll_shock", r.roll_shock_coin, x.expected.roll_shock_coin),
            (
                "risk_matrix_margin",
                r.risk_matrix_margin_coin,
                x.expected.risk_matrix_margin_coin,
            ),
            ("im", r.im_coin, x.expected.im_coin),
            ("mm", r.mm_coin, x.expected.mm_coin),
        ] {
            assert!(
                relative_error(a, e) <= REL_TOLERANCE,
                "{}: {name} {a} vs {e}",
                x.name
            );
        }
        assert_eq!(
            (
                r.worst_case_bucket.source,
                r.worst_case_bucket.side,
                r.worst_case_bucket.bucket
            ),
            ("standard", "left", 1)
        );
    }
}

#[test]
fn deribit_risk_vectors_of_the_example_match_the_published_ones() {
    let Some(dir) =
        common::shared_dir("deribit_risk_vectors_of_the_example_match_the_published_ones")
    else {
        return;
    };
    let path = dir.join("data/deribit_pm_examples/deribit_pme_simulate_examples.json");
    let text = std::fs::read_to_string(&path).expect("readable");
    let root: serde_json::Value = serde_json::from_str(&text).expect("json");
    let examples = deribit_pm::vectors::read_examples(&path).expect("parses");
    for (x, raw) in examples
        .iter()
        .zip(root["examples"].as_array().expect("examples"))
    {
        let published = &raw["result"]["initial_risk_vectors"];
        for p in &x.portfolio.positions {
            let v = deribit_pm::risk_vector(&x.name, p, &x.params, x.portfolio.index_usd)
                .expect("computes");
            for (table, ours) in [("standard", &v.standard), ("extended", &v.extended)] {
                let theirs: Vec<f64> = published[&p.name][table]
                    .as_array()
                    .expect("table")
                    .iter()
                    .map(|n| n.as_f64().expect("number"))
                    .collect();
                assert_eq!(ours.len(), theirs.len(), "{} {table} length", p.name);
                for (a, e) in ours.iter().zip(&theirs) {
                    assert!(
                        (a - e).abs() <= 1e-12_f64.max(1e-9 * e.abs()),
                        "{} {table}: {a} vs {e}",
                        p.name
                    );
                }
            }
        }
        let r = deribit_pm::margin(&x.portfolio, &x.params).expect("computes");
        let agg = &raw["result"]["aggregated_risk_vectors"];
        let theirs = agg
            .as_object()
            .and_then(|o| o.values().next())
            .expect("one aggregated vector");
        for (table, ours) in [
            ("standard", &r.aggregated.standard),
            ("extended", &r.aggregated.extended),
        ] {
            let theirs: Vec<f64> = theirs[table]
                .as_array()
                .expect("table")
                .iter()
                .map(|n| n.as_f64().expect("number"))
                .collect();
            for (a, e) in ours.iter().zip(&theirs) {
                assert!(
                    (a - e).abs() <= 1e-12_f64.max(1e-9 * e.abs()),
                    "aggregated {table}: {a} vs {e}"
                );
            }
        }
    }
}
