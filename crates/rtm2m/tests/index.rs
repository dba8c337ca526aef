//! `rtm2m index` end to end: small event files whose index is computed by hand, bad input, and the March
//! 2023 bars through `rtm2m import`'s format.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtm2m-index-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

fn rtm2m(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(args)
        .output()
        .expect("the rtm2m binary runs")
}

fn lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn quote(ts: &str, venue: &str, bid: f64, ask: f64) -> String {
    format!(
        r#"{{"type":"quote","ts":"{ts}","venue":"{venue}","symbol":"BTC/USD","bid":{bid},"ask":{ask}}}"#
    )
}

/// Three venues at 20000, 20010, 20020 (spread 2) and a fourth at ten times the price.
fn four_venues() -> String {
    [
        quote("2024-01-01T00:00:01Z", "alpha", 19_999.0, 20_001.0),
        quote("2024-01-01T00:00:02Z", "bravo", 20_009.0, 20_011.0),
        quote("2024-01-01T00:00:03Z", "charlie", 20_019.0, 20_021.0),
        quote("2024-01-01T00:00:04Z", "delta", 200_099.0, 200_101.0),
    ]
    .join("\n")
}

#[test]
fn json_update_has_the_hand_computed_index_confidence_and_exclusion() {
    let events = write("four.jsonl", &four_venues());
    let out = rtm2m(&[
        "index",
        "--events",
        events.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let updates = lines(&out);
    assert_eq!(updates.len(), 1);
    let u = &updates[0];
    // One cycle at the next minute, 00:01:00, with every quote.
    assert_eq!(u["ts"], "2024-01-01T00:01:00.000000000Z");
    assert_eq!(u["underlying"], "BTC");
    // delta is 900% off the median of the four (20015): an outlier. The other three lie within ±0.5% of
    // their median 20010: the capped median is their mean, 20010.
    let price = u["price"].as_f64().expect("a price");
    assert!((price - 20_010.0).abs() < 1e-9, "{price}");
    // Votes (price ± half-spread 1): 19999 20000 20001 20009 20010 20011 20019 20020 20021; p25 is vote 2,
    // 20001, p75 vote 6, 20019: confidence max(20010 − 20001, 20019 − 20010) = 9.
    let confidence = u["confidence"].as_f64().expect("a confidence");
    assert!((confidence - 9.0).abs() < 1e-9, "{confidence}");
    assert_eq!(u["status"], "ok");
    let used: Vec<&str> = u["used"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["source"].as_str().expect("name"))
        .collect();
    assert_eq!(used, ["alpha:BTC/USD", "bravo:BTC/USD", "charlie:BTC/USD"]);
    assert_eq!(u["excluded"][0]["source"], "delta:BTC/USD");
    assert_eq!(u["excluded"][0]["reason"], "outlier");
}

#[test]
fn text_output_names_status_and_exclusions_and_median_method_differs() {
    let events = write("four-text.jsonl", &four_venues());
    let path = events.to_str().expect("utf-8 path");
    let out = rtm2m(&["index", "--events", path]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        text.trim(),
        "2024-01-01T00:01:00.000000000Z BTC price=20010.00 conf=9.00 ok used=3 excluded: delta:BTC/USD outlier"
    );
    // With a quorum of 4 the same update is degraded.
    let out = rtm2m(&["index", "--events", path, "--json", "--quorum", "4"]);
    let u = &lines(&out)[0];
    assert_eq!(u["status"], "degraded");
    assert_eq!(u["flags"][0], "below_quorum");
    // Two sources only (bravo, charlie at 20010 and 20020 — alpha and delta left out): median 20015.
    let two = [
        quote("2024-01-01T00:00:02Z", "bravo", 20_009.0, 20_011.0),
        quote("2024-01-01T00:00:03Z", "charlie", 20_019.0, 20_021.0),
    ]
    .join("\n");
    let events = write("two.jsonl", &two);
    let out = rtm2m(&[
        "index",
        "--events",
        events.to_str().expect("utf-8"),
        "--json",
        "--method",
        "median",
    ]);
    let u = &lines(&out)[0];
    assert_eq!(u["price"].as_f64(), Some(20_015.0));
    assert_eq!(u["status"], "degraded");
}

#[test]
fn malformed_and_out_of_order_events_exit_2_naming_the_line() {
    let bad = [
        quote("2024-01-01T00:00:01Z", "alpha", 19_999.0, 20_001.0),
        r#"{"type":"quote","ts":"2024-01-01T00:00:02Z","venue":"bravo","symbol":"BTC/USD","bid":20011,"ask":20009}"#.to_owned(),
    ]
    .join("\n");
    let events = write("bad.jsonl", &bad);
    let out = rtm2m(&["index", "--events", events.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: bid:"), "{stderr}");
    let backwards = [
        quote("2024-01-01T00:00:05Z", "alpha", 19_999.0, 20_001.0),
        quote("2024-01-01T00:00:04Z", "bravo", 20_009.0, 20_011.0),
    ]
    .join("\n");
    let events = write("backwards.jsonl", &backwards);
    let out = rtm2m(&["index", "--events", events.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: ts:"), "{stderr}");
    let out = rtm2m(&[
        "index",
        "--events",
        events.to_str().expect("utf-8"),
        "--cycle-s",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cycle-s"));
    let out = rtm2m(&["index", "--events", "/nonexistent/events.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn march_2023_bars_give_a_btc_index_that_leaves_depegged_usdc_out() {
    let shared = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if !shared.is_dir() {
        eprintln!("note: ../shared absent, skipping the March 2023 rtm2m index run");
        return;
    }
    let dir = shared.join("data/spot_1m_binanceus_kraken_2023-03");
    let files = [
        "binanceus_BTCUSD_1m_20230301_20230321.csv",
        "binanceus_BTCUSDT_1m_20230301_20230321.csv",
        "binanceus_BTCUSDC_1m_20230301_20230321.csv",
        "kraken_XBTUSDC_1m_20230301_20230321.csv",
    ];
    let batches = files
        .iter()
        .map(|f| {
            let path = dir.join(f);
            let format = rtm2m_market::import::Format::detect(&path).expect("bar file");
            rtm2m_market::import::import_file(format, &path)
                .expect("imports")
                .events
        })
        .collect();
    let events = rtm2m_market::import::merge_by_time(batches);
    let mut jsonl = Vec::new();
    rtm2m_market::write_events(&mut jsonl, &events).expect("writes");
    let path = write("march.jsonl", std::str::from_utf8(&jsonl).expect("utf-8"));
    let out = rtm2m(&["index", "--events", path.to_str().expect("utf-8"), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let updates = lines(&out);
    // 2023-03-01 00:01 to 2023-03-22 00:00, one a minute.
    assert_eq!(updates.len(), 21 * 24 * 60);
    // 08:00 on 11 March: BTC/USDC closed at 22711.62 on Binance.US and 22000 on Kraken, BTC/USD at
    // 19966.69 and BTC/USDT at 19848.75: both USDC pairs out as de-pegged, the index between the others.
    let u = updates
        .iter()
        .find(|u| u["ts"] == "2023-03-11T08:00:00.000000000Z")
        .expect("that minute");
    let reasons: Vec<(&str, &str)> = u["excluded"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("binanceus:BTC/USDC", "depeg"),
            ("kraken:BTC/USDC", "depeg")
        ]
    );
    let price = u["price"].as_f64().expect("price");
    assert!((19_848.75..=19_966.69).contains(&price), "{price}");
    assert_eq!(u["status"], "degraded");
}
