//! Derive SRM: the 28 published standard-margin cases reproduced within relative 1e-9.

mod common;

use rtm2m_margin::conformance::{relative_error, REL_TOLERANCE};
use rtm2m_margin::standard::{self, StandardParams};

#[test]
fn derive_srm_cases_match_published_real_mm_and_im() {
    let Some(dir) = common::shared_dir("derive_srm_cases_match_published_real_mm_and_im") else {
        return;
    };
    let cases =
        standard::vectors::read_cases(&dir.join("conformance/derive-v2/srm/test-cases.json"))
            .expect("parses");
    assert_eq!(cases.len(), 28);
    let params = StandardParams::derive_srm_tests();
    let mut worst = 0.0_f64;
    let mut failures = Vec::new();
    for c in &cases {
        let mm = standard::margin(&c.account, &params, false).expect("MM computes");
        let im = standard::margin(&c.account, &params, true).expect("IM computes");
        let e = relative_error(mm.margin_usd, c.expected_mm_usd)
            .max(relative_error(im.margin_usd, c.expected_im_usd));
        worst = worst.max(e);
        if e > REL_TOLERANCE {
            failures.push(format!(
                "{}: mm {} vs {}, im {} vs {}",
                c.name, mm.margin_usd, c.expected_mm_usd, im.margin_usd, c.expected_im_usd
            ));
        }
        assert!(
            relative_error(mm.mtm_usd, c.expected_mtm_usd) <= 1e-9
                || (mm.mtm_usd - c.expected_mtm_usd).abs() < 1e-6,
            "{}: mtm {} vs {}",
            c.name,
            mm.mtm_usd,
            c.expected_mtm_usd
        );
    }
    eprintln!(
        "derive-srm: {}/{} passed, worst relative error {worst:e}",
        cases.len() - failures.len(),
        cases.len()
    );
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(failures.is_empty());
}
