//! `rtm2m margin` end to end on small files whose margins are computed by hand.
//!
//! Market: snapshot 2026-01-01 08:00 UTC, BTC index = forward (1JAN27) = 100 000 USD, zero vols, so every
//! option is worth its intrinsic value on the forward.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const MARKET: &str = r#"{"as_of": "2026-01-01T08:00:00Z",
 "assets": {"BTC": {"price_usd": 100000, "ewma_vol": 0.5, "depth_usd": 5e7},
            "ETH": {"price_usd": 3000, "ewma_vol": 0.7, "depth_usd": 2e7}},
 "underlyings": {"BTC": {"forwards": {"1JAN27": 100000}}, "ETH": {"forwards": {"1JAN27": 3000}}},
 "mark_ivs": {"BTC-1JAN27-110000-C": 0.0}}"#;

const PORTFOLIO: &str = r#"{"accounts": [
 {"id": "alice", "cash_usd": 30000, "positions": [{"instrument": "BTC-1JAN27-110000-C", "size": -1}]},
 {"id": "bob", "cash_usd": 1000, "positions": [{"instrument": "BTC-1JAN27-110000-X", "size": -1}]}]}"#;

/// Writes `text` to a file of its own: tests run in parallel, and a shared path would be read half-written.
fn write(name: &str, text: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "rtm2m-margin-cli-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn rtm2m(model: &str, json: bool) -> Output {
    let (p, m) = (write("p.json", PORTFOLIO), write("m.json", MARKET));
    let mut args = vec![
        "margin".to_owned(),
        "--portfolio".into(),
        p.display().to_string(),
        "--market".into(),
        m.display().to_string(),
        "--model".into(),
        model.into(),
    ];
    if json {
        args.push("--json".into());
    }
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(&args)
        .output()
        .expect("the rtm2m binary runs")
}

fn reports(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn standard_model_prints_deribit_margins_and_names_the_bad_account() {
    let out = rtm2m("standard", true);
    // One account cannot be margined: exit status 1, the others still reported.
    assert_eq!(out.status.code(), Some(1));
    let r = reports(&out);
    // Short 110 000 call, 10% OTM, mark 0: IM max(0.15 − 0.10, 0.10)·100 000 = 10 000; MM 0.075·100 000 = 7 500.
    assert_eq!(r[0]["account"], "alice");
    assert!((r[0]["im_usd"].as_f64().expect("number") - 10_000.0).abs() < 1e-9);
    assert!((r[0]["mm_usd"].as_f64().expect("number") - 7_500.0).abs() < 1e-9);
    assert_eq!(r[0]["status"], "healthy");
    let e = r[1]["error"].as_str().expect("error text");
    assert_eq!(r[1]["account"], "bob");
    assert!(
        e.contains("BTC-1JAN27-110000-X") && e.contains("unknown instrument"),
        "{e}"
    );
}

#[test]
fn rtm2m_model_prints_the_tail_loss_plus_naked_charge() {
    let out = rtm2m("rtm2m", true);
    let r = reports(&out);
    // Worst: +500% tail, (600 000 − 110 000)·0.18/5 = 17 640; MM = 17 640 + 0.5%·100 000 = 18 140;
    // IM = 1.3·17 640 + 1%·100 000 = 23 932. Equity 30 000 ≥ IM.
    assert!((r[0]["mm_usd"].as_f64().expect("number") - 18_140.0).abs() < 1e-9);
    assert!((r[0]["im_usd"].as_f64().expect("number") - 23_932.0).abs() < 1e-9);
    assert_eq!(r[0]["worst_scenario"]["scenario"], "BTC +500% tail, vol up");
    assert_eq!(r[0]["status"], "healthy");
}

#[test]
fn text_output_has_one_summary_line_per_account() {
    let out = rtm2m("rtm2m", false);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.lines()
            .any(|l| l.starts_with("alice  model=rtm2m  equity_usd=30000.00")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("bob  error:")), "{text}");
}
