//! `rtm2m conformance` end to end on the venues' own vector files in `../shared` (skipped with a note when the
//! shared directory is absent).

use std::path::PathBuf;
use std::process::{Command, Output};

fn shared(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "note: {test} skipped: {} is absent (the shared conformance vectors)",
            dir.display()
        );
        None
    }
}

fn rtm2m(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(args)
        .output()
        .expect("the rtm2m binary runs")
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn json_cases(lines: &[String]) -> Vec<serde_json::Value> {
    lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).expect("each case line is a JSON object"))
        .collect()
}

#[test]
fn derive_pmrm2_all_139_published_cases_pass() {
    let Some(dir) = shared("derive_pmrm2_all_139_published_cases_pass") else {
        return;
    };
    let mut files: Vec<String> = std::fs::read_dir(dir.join("conformance/derive-v2/pmrm2"))
        .expect("readable")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    let mut args = vec!["conformance".to_owned(), "derive-pmrm2".to_owned()];
    args.extend(files);
    args.push("--json".to_owned());
    let out = rtm2m(&args);
    let lines = lines(&out);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("139 passed, 0 failed")
    );
    assert_eq!(out.status.code(), Some(0));
    let cases = json_cases(&lines);
    assert_eq!(cases.len(), 139);
    let first = cases
        .iter()
        .find(|c| c["case"] == "test_1_collateral_cash_only")
        .expect("case 1 is listed");
    assert_eq!(
        (first["mm"].as_f64(), first["im"].as_f64()),
        (Some(1000.0), Some(1000.0))
    );
    assert_eq!(first["expected_mm"].as_f64(), Some(1000.0));
    assert!(cases.iter().all(|c| c["pass"] == true));
}

#[test]
fn derive_srm_all_28_published_cases_pass() {
    let Some(dir) = shared("derive_srm_all_28_published_cases_pass") else {
        return;
    };
    let file = dir
        .join("conformance/derive-v2/srm/test-cases.json")
        .display()
        .to_string();
    let out = rtm2m(&[
        "conformance".into(),
        "derive-srm".into(),
        file,
        "--json".into(),
    ]);
    let lines = lines(&out);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("28 passed, 0 failed")
    );
    assert_eq!(out.status.code(), Some(0));
    let cases = json_cases(&lines);
    assert_eq!(cases[0]["case"], "Test1");
    // Test1: one short ETH call; MM = mark + 0.075·S = −191.87…, as Derive publishes.
    assert!((cases[0]["mm"].as_f64().expect("mm") + 191.871_585_189_06).abs() < 1e-9);
}

#[test]
fn deribit_pm_example_reports_worst_case_and_roll_shock() {
    let Some(dir) = shared("deribit_pm_example_reports_worst_case_and_roll_shock") else {
        return;
    };
    let file = dir
        .join("data/deribit_pm_examples/deribit_pme_simulate_examples.json")
        .display()
        .to_string();
    let out = rtm2m(&[
        "conformance".into(),
        "deribit-pm".into(),
        file,
        "--json".into(),
    ]);
    let lines = lines(&out);
    assert_eq!(lines.last().map(String::as_str), Some("1 passed, 0 failed"));
    let case = &json_cases(&lines)[0];
    assert_eq!(case["case"], "deribit_docs_btc");
    for (key, published) in [
        ("worst_case", 0.05968587238095239),
        ("roll_shock", 0.00315725898),
        ("im", 0.122861343),
        ("mm", 0.050274504784),
    ] {
        let ours = case[key].as_f64().expect("number");
        assert!(
            (ours - published).abs() <= 1e-9 * published,
            "{key}: {ours} vs {published}"
        );
    }
}

#[test]
fn text_output_ends_with_the_summary_line() {
    let Some(dir) = shared("text_output_ends_with_the_summary_line") else {
        return;
    };
    let file = dir
        .join("conformance/derive-v2/pmrm2/test_1_collateral_cash_only.json")
        .display()
        .to_string();
    let out = rtm2m(&["conformance".into(), "derive-pmrm2".into(), file]);
    let lines = lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("test_1_collateral_cash_only") && lines[0].ends_with("PASS"));
    assert_eq!(lines[1], "1 passed, 0 failed");
}

#[test]
fn unreadable_file_is_a_failed_case_and_exit_status_1() {
    let out = rtm2m(&[
        "conformance".into(),
        "derive-srm".into(),
        "/nonexistent/test-cases.json".into(),
        "--json".into(),
    ]);
    let lines = lines(&out);
    assert_eq!(lines.last().map(String::as_str), Some("0 passed, 1 failed"));
    let case: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(case["pass"], false);
    assert!(case["error"]
        .as_str()
        .expect("error text")
        .contains("/nonexistent/test-cases.json"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_wrong_published_result_fails_the_case() {
    let Some(dir) = shared("a_wrong_published_result_fails_the_case") else {
        return;
    };
    let text = std::fs::read_to_string(
        dir.join("conformance/derive-v2/pmrm2/test_1_collateral_cash_only.json"),
    )
    .expect("readable");
    let tampered = text.replacen("\"MM\": 1000.0", "\"MM\": 1000.001", 1);
    assert_ne!(
        text, tampered,
        "the fixture has the MM field this test edits"
    );
    let path = std::env::temp_dir().join(format!(
        "rtm2m_conformance_tampered_{}.json",
        std::process::id()
    ));
    std::fs::write(&path, tampered).expect("temp file");
    let out = rtm2m(&[
        "conformance".into(),
        "derive-pmrm2".into(),
        path.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        lines(&out).last().map(String::as_str),
        Some("0 passed, 1 failed")
    );
    assert_eq!(out.status.code(), Some(1));
}
