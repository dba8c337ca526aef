//! `rtm2m surface` end to end on real Deribit files (`../shared/data`): the JSON Lines contract, marks
//! against Deribit's own mark IVs (read independently from the CSV here), and clear errors for bad input.
//! Tests that need `../shared` skip with a note when it is absent.

use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: ../shared absent, skipping the rtm2m surface CLI tests");
        None
    }
}

fn rtm2m(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(args)
        .output()
        .expect("the rtm2m binary runs")
}

/// The fields of one CSV line (double quotes group fields that contain commas, as the ticker's book lists).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

/// Deribit's mark IV (percent) per instrument, read straight from the ticker CSV.
fn deribit_mark_ivs(path: &PathBuf) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(path).expect("the ticker file is readable");
    let mut lines = text.lines();
    let header = fields(lines.next().expect("a header"));
    let col = |name: &str| header.iter().position(|h| h == name).expect("a column");
    let (name, iv) = (col("instrument_name"), col("mark_iv"));
    lines
        .map(|l| {
            let f = fields(l);
            (f[name].clone(), f[iv].parse::<f64>().expect("a number"))
        })
        .collect()
}

fn of<'a>(records: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    records.iter().filter(move |r| r["record"] == kind)
}

#[test]
fn surface_json_lines_carry_slices_health_and_marks_close_to_deribits() {
    let Some(shared) = shared() else { return };
    let file = shared.join("data/deribit_ticker_2021-02-09/btc_option_data_20210209.csv");
    let out = rtm2m(&[
        "surface",
        "--chain",
        file.to_str().expect("a UTF-8 path"),
        "--json",
        "--marks",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let slices: Vec<&Value> = of(&records, "slice").collect();
    assert_eq!(slices.len(), 9, "nine BTC expiries");
    for s in &slices {
        for field in [
            "underlying",
            "expiry",
            "forward",
            "forward_source",
            "svi",
            "atm_vol",
            "atm_skew",
            "rmse_vol_points",
            "within_bid_ask_share",
            "g_min",
            "calendar_violations",
            "inherited_quotes",
            "inherited_grid_share",
            "excluded",
        ] {
            assert!(s.get(field).is_some(), "slice without {field}: {s}");
        }
        assert!(s["g_min"].as_f64().expect("a number") >= 0.0);
        assert_eq!(s["calendar_violations"], 0);
        for p in ["a", "b", "rho", "m", "sigma"] {
            assert!(s["svi"][p].as_f64().is_some());
        }
    }
    assert_eq!(of(&records, "health").count(), 1);
    let deribit = deribit_mark_ivs(&file);
    let mut errors = Vec::new();
    for m in of(&records, "mark") {
        for field in [
            "instrument",
            "expiry",
            "strike",
            "type",
            "forward",
            "mark_iv",
            "mark_price_coin",
            "mark_price_usd",
            "delta",
            "gamma",
            "vega",
            "theta",
            "confidence",
        ] {
            assert!(m.get(field).is_some(), "mark without {field}: {m}");
        }
        let name = m["instrument"].as_str().expect("a name");
        let mark_iv = m["mark_iv"].as_f64().expect("a number");
        errors.push((100.0 * mark_iv - deribit[name]).abs());
    }
    assert_eq!(errors.len(), 520, "every instrument is marked");
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    eprintln!("rtm2m surface --marks on 2021-02-09 BTC: median |mark IV − Deribit| = {median:.3} vol points");
    assert!(median < 1.0, "{median}");
}

#[test]
fn surface_text_output_lists_every_expiry() {
    let Some(shared) = shared() else { return };
    let file =
        shared.join("data/deribit_svcj_snapshots/deribit_options_snapshot_20260105T153329Z.csv");
    let out = rtm2m(&["surface", "--chain", file.to_str().expect("a UTF-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    // BTC and ETH, 12 expiries each.
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("calendar_violations=0"))
            .count(),
        24,
        "{text}"
    );
    assert!(text.starts_with("BTC: "));
}

#[test]
fn malformed_chains_fail_with_the_field_and_the_reason() {
    let dir = std::env::temp_dir().join(format!("rtm2m-surface-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let events = dir.join("chain.jsonl");
    std::fs::write(
        &events,
        "{\"type\":\"option_quote\",\"ts\":\"2026-02-06T04:30:00Z\",\"venue\":\"deribit\",\"instrument\":\"BTC-27FEB26-70000-C\",\
         \"underlying\":\"BTC\",\"expiry\":\"2026-02-27T08:00:00Z\",\"strike\":70000,\"option_type\":\"call\",\
         \"price_currency\":\"BTC\",\"bid\":\"cheap\"}\n",
    )
    .expect("writable");
    let out = rtm2m(&[
        "surface",
        "--chain",
        events.to_str().expect("UTF-8"),
        "--format",
        "events",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1") && err.contains("bid"), "{err}");

    let missing = dir.join("absent.csv");
    let out = rtm2m(&[
        "surface",
        "--chain",
        missing.to_str().expect("UTF-8"),
        "--format",
        "deribit-snapshot",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.csv"));
    std::fs::remove_dir_all(&dir).ok();
}
