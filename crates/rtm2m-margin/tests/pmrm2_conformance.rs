//! Derive PMRM_2: every published portfolio case reproduced within relative 1e-9.

mod common;

use rtm2m_margin::conformance::{relative_error, REL_TOLERANCE};
use rtm2m_margin::pmrm2;
use std::path::PathBuf;

fn case_files(test: &str) -> Option<Vec<PathBuf>> {
    let dir = common::shared_dir(test)?.join("conformance/derive-v2/pmrm2");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the pmrm2 vector directory is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Some(files)
}

#[test]
fn derive_pmrm2_cases_match_published_mm_and_im() {
    let Some(files) = case_files("derive_pmrm2_cases_match_published_mm_and_im") else {
        return;
    };
    assert_eq!(files.len(), 139, "Derive publishes 139 PMRM_2 cases");
    let mut passed = 0;
    let mut worst = (0.0_f64, String::new());
    let mut failures = Vec::new();
    for path in &files {
        let case = pmrm2::vectors::read_case(path).expect("a published case parses");
        let name = case.account.id.clone();
        let r = match pmrm2::margin(&case.account, &case.params) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: error {e}"));
                continue;
            }
        };
        let e = relative_error(r.mm_usd, case.expected_mm_usd)
            .max(relative_error(r.im_usd, case.expected_im_usd));
        if e > worst.0 {
            worst = (e, name.clone());
        }
        if e <= REL_TOLERANCE {
            passed += 1;
        } else {
            failures.push(format!(
                "{name}: mm {} expected {}, im {} expected {}",
                r.mm_usd, case.expected_mm_usd, r.im_usd, case.expected_im_usd
            ));
        }
    }
    eprintln!(
        "derive-pmrm2: {passed}/{} passed, worst relative error {:e} ({})",
        files.len(),
        worst.0,
        worst.1
    );
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(
        failures.is_empty(),
        "{} PMRM_2 cases differ from Derive's results",
        failures.len()
    );
}

#[test]
fn derive_pmrm2_mark_to_market_and_basis_contingency_match() {
    let Some(files) = case_files("derive_pmrm2_mark_to_market_and_basis_contingency_match") else {
        return;
    };
    for path in &files {
        let case = pmrm2::vectors::read_case(path).expect("a published case parses");
        let r = pmrm2::margin(&case.account, &case.params).expect("computes");
        let name = &case.account.id;
        assert!(
            relative_error(r.mtm_usd, case.expected_mtm_usd) <= REL_TOLERANCE,
            "{name}: mtm {} vs {}",
            r.mtm_usd,
            case.expected_mtm_usd
        );
        // Basis contingencies near zero carry the reference's cancellation noise: compare on the account's scale.
        let scale = case.expected_basis_contingency_usd.abs().max(1.0);
        assert!(
            (r.basis_contingency_usd - case.expected_basis_contingency_usd).abs() <= 1e-9 * scale,
            "{name}: basis {} vs {}",
            r.basis_contingency_usd,
            case.expected_basis_contingency_usd
        );
    }
}

/// The skew scenario of test 67 has a spot shock, which Derive's contract rejects ("invalid param setup"); its
/// published skew loss comes from a setup we do not reproduce, so that one entry is left out.
const SKIPPED_SCENARIO: (&str, usize) = ("test_67_misc_skew_scenario_with_spot_move", 30);

#[test]
fn derive_pmrm2_per_scenario_pnl_matches() {
    let Some(files) = case_files("derive_pmrm2_per_scenario_pnl_matches") else {
        return;
    };
    let mut compared = 0;
    for path in &files {
        let case = pmrm2::vectors::read_case(path).expect("a published case parses");
        let r = pmrm2::margin(&case.account, &case.params).expect("computes");
        let name = &case.account.id;
        assert_eq!(
            r.scenario_pnl_usd.len(),
            case.expected_scenario_pnl_usd.len(),
            "{name}: scenario count"
        );
        for (i, (a, e)) in r
            .scenario_pnl_usd
            .iter()
            .zip(&case.expected_scenario_pnl_usd)
            .enumerate()
        {
            if (name.as_str(), i) == SKIPPED_SCENARIO {
                continue;
            }
            // Scenario P&Ls are differences of marks: compare relative to max(|expected|, 1 USD).
            assert!(
                (a - e).abs() <= 1e-9 * e.abs().max(1.0),
                "{name} scenario {i}: {a} vs {e}"
            );
            compared += 1;
        }
    }
    assert!(compared > 4000, "compared {compared} scenario P&Ls");
}

#[test]
fn cash_only_account_margin_is_its_cash() {
    let Some(files) = case_files("cash_only_account_margin_is_its_cash") else {
        return;
    };
    let path = files
        .iter()
        .find(|p| p.ends_with("test_1_collateral_cash_only.json"))
        .expect("case 1 exists");
    let case = pmrm2::vectors::read_case(path).expect("parses");
    let r = pmrm2::margin(&case.account, &case.params).expect("computes");
    assert_eq!((r.mm_usd, r.im_usd), (1000.0, 1000.0));
}
