//! `rtm2m conformance derive-liquidation` and `rtm2m simulate cascade` end to end.

use std::path::PathBuf;
use std::process::{Command, Output};

fn rtm2m(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(args)
        .output()
        .expect("the rtm2m binary runs")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn liquidation_vectors(test: &str) -> Option<PathBuf> {
    let shared = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    let path = shared.join("conformance/derive-v2/liquidation/liquidationTests.json");
    if path.exists() {
        Some(path)
    } else {
        eprintln!("note: ../shared absent, skipping {test}");
        None
    }
}

#[test]
fn derive_liquidation_vectors_all_pass_with_one_json_object_per_action() {
    let Some(path) = liquidation_vectors("derive_liquidation_vectors_all_pass") else {
        return;
    };
    let path = path.display().to_string();
    let out = rtm2m(&["conformance", "derive-liquidation", &path, "--json"]);
    let lines = stdout_lines(&out);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("13 passed, 0 failed"),
        "{lines:?}"
    );
    assert!(out.status.success());
    let cases: Vec<serde_json::Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON object per action"))
        .collect();
    let t1 = cases
        .iter()
        .find(|c| c["case"] == "Test1/0")
        .expect("Test1's action");
    let keys: Vec<&str> = t1
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with(r#"{"case":"#)),
        "{lines:?}"
    );
    for k in ["fee", "bm", "f_max", "bid", "expected_bid", "pass"] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    // Derive's published bid for Test1: 65.234608676059463680 USD.
    let bid = t1["bid"].as_f64().expect("number");
    assert!((bid - 65.234_608_676_059_46).abs() < 1e-9 * 65.3);
    // Text mode ends with the same count.
    let text = rtm2m(&["conformance", "derive-liquidation", &path]);
    assert_eq!(
        stdout_lines(&text).last().map(String::as_str),
        Some("13 passed, 0 failed")
    );
}

#[test]
fn a_malformed_vector_file_fails_with_its_name() {
    let dir = std::env::temp_dir().join(format!("rtm2m-liq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"Test1": {"StartTime": 0}}"#).expect("written");
    let p = path.display().to_string();
    let out = rtm2m(&["conformance", "derive-liquidation", &p]);
    assert!(!out.status.success());
    let lines = stdout_lines(&out);
    assert!(
        lines[0].contains("bad.json") && lines[0].contains("FAIL"),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("0 passed, 1 failed"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn simulate_cascade_reports_more_bad_debt_for_hourly_than_continuous_marking() {
    let out = rtm2m(&[
        "simulate",
        "cascade",
        "--accounts",
        "2000",
        "--shock",
        "-0.25",
        "--mark-interval",
        "3600",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1);
    let r: serde_json::Value = serde_json::from_str(&lines[0]).expect("one JSON object");
    let cont = r["continuous"]["bad_debt_usd"].as_f64().expect("number");
    let hourly = r["periodic"]["bad_debt_usd"].as_f64().expect("number");
    assert!(hourly > cont, "hourly {hourly} vs continuous {cont}");
    assert_eq!(r["periodic"]["mark_interval_s"], 3600);
    assert_eq!(r["params"]["accounts"], 2000);
    assert_eq!(r["params"]["impact"]["model"], "linear");
    let extra = r["bad_debt_extra_periodic_usd"].as_f64().expect("number");
    assert!((extra - (hourly - cont)).abs() < 1e-9 * (1.0 + extra.abs()));
}

#[test]
fn simulate_cascade_with_square_root_impact_prints_the_comparison_table() {
    let out = rtm2m(&[
        "simulate",
        "cascade",
        "--accounts",
        "300",
        "--impact",
        "sqrt",
        "--volume-daily-usd",
        "1e9",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("impact: sqrt (Y 1, daily vol"), "{text}");
    for row in [
        "rounds",
        "accounts liquidated",
        "bad debt USD",
        "fund drawdown USD",
        "latency cost",
    ] {
        assert!(text.contains(row), "{row} missing:\n{text}");
    }
}

#[test]
fn simulate_cascade_refuses_bad_parameters_by_name() {
    let out = rtm2m(&[
        "simulate",
        "cascade",
        "--accounts",
        "10",
        "--mark-interval",
        "90",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mark_interval_s"), "{err}");
    let out = rtm2m(&[
        "simulate",
        "cascade",
        "--accounts",
        "10",
        "--depth-usd-per-pct=-1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("depth_usd_per_pct"));
}
