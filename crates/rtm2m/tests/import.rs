//! `rtm2m import` end to end: formats listed in `--help`, several files merged in time order, events on stdout
//! or in `--out`, the summary line on stderr, and malformed files refused with exit status 2 and no output.

use rtm2m_market::event::{read_events, Event};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rtm2m(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtm2m"))
        .args(args)
        .output()
        .expect("the rtm2m binary runs")
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtm2m-import-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file is writable");
    path.display().to_string()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 output")
}

const BINANCEUS: &str = "open_time,open,high,low,close,volume
2023-03-01 00:00:00+00:00,23140.48,23150.77,23128.52,23142.31,2.131777
2023-03-01 00:01:00+00:00,23143.89,23148.8,23137.61,23137.77,0.881378
";

const KRAKEN: &str = "1677628800,23151.53,23151.53,23150.0,23150.0,0.02125883,2
1677628860,23148.36,23148.36,23148.36,23148.36,0.00491792,1
";

#[test]
fn help_lists_every_format() {
    let out = rtm2m(&["import", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for name in [
        "auto",
        "deribit-snapshot",
        "deribit-ticker",
        "deribit-perpetual",
        "deribit-futures",
        "binanceus-bars",
        "kraken-bars",
        "funding",
    ] {
        assert!(
            help.contains(&format!("- {name}:")),
            "{name} missing in\n{help}"
        );
    }
    assert!(help.contains("--out <FILE>"));
}

#[test]
fn two_venues_merge_in_time_order_on_stdout_with_a_summary() {
    let dir = scratch("merge");
    let binanceus = write(&dir, "binanceus_BTCUSDT_1m_20230301.csv", BINANCEUS);
    let kraken = write(&dir, "kraken_XBTUSDC_1m_20230301.csv", KRAKEN);
    let out = rtm2m(&["import", "auto", &binanceus, &kraken]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Written by hand from the rows above: each bar at the end of its minute, Binance.US before Kraken on
    // equal instants (the order of the paths).
    let expected = [
        r#"{"type":"bar","v":1,"ts":"2023-03-01T00:01:00.000000000Z","venue":"binanceus","symbol":"BTC/USDT","interval_s":60,"open":23140.48,"high":23150.77,"low":23128.52,"close":23142.31,"volume":2.131777}"#,
        r#"{"type":"bar","v":1,"ts":"2023-03-01T00:01:00.000000000Z","venue":"kraken","symbol":"BTC/USDC","interval_s":60,"open":23151.53,"high":23151.53,"low":23150.0,"close":23150.0,"volume":0.02125883,"trade_count":2}"#,
        r#"{"type":"bar","v":1,"ts":"2023-03-01T00:02:00.000000000Z","venue":"binanceus","symbol":"BTC/USDT","interval_s":60,"open":23143.89,"high":23148.8,"low":23137.61,"close":23137.77,"volume":0.881378}"#,
        r#"{"type":"bar","v":1,"ts":"2023-03-01T00:02:00.000000000Z","venue":"kraken","symbol":"BTC/USDC","interval_s":60,"open":23148.36,"high":23148.36,"low":23148.36,"close":23148.36,"volume":0.00491792,"trade_count":1}"#,
    ];
    assert_eq!(
        text(&out.stdout),
        expected.map(|l| format!("{l}\n")).concat()
    );
    // stderr is not a terminal here: no progress bar, only the summary.
    assert_eq!(
        text(&out.stderr),
        "rtm2m import: 4 events written to stdout (bar 4)\n"
    );
}

#[test]
fn out_writes_the_file_and_nothing_to_stdout() {
    let dir = scratch("out");
    let funding = write(
        &dir,
        "BTC-USDT_binance_2020_funding_history.csv",
        "Symbol,Date,Funding Rate\nBTC-USDT,2020-01-01 03:00:00.000,-0.00012359\nBTC-USDT,2020-01-01 11:00:00.000,-0.00012383\n",
    );
    let ticker = write(
        &dir,
        "btc_option_data.csv",
        "timestamp,instrument_name,underlying_price,underlying_index,index_price,mark_price,mark_iv,bid_iv,ask_iv,best_bid_price,best_bid_amount,best_ask_price,best_ask_amount,bids,asks\n\
         1577836800000,BTC-27MAR20-8000-C,7300.5,BTC-27MAR20,7200.25,0.0395,55.5,0.0,60.25,0.0,0.0,0.04,2.0,[],\"[[0.04, 2.0]]\"\n",
    );
    let out_path = dir.join("events.jsonl");
    let out_arg = out_path.display().to_string();
    let out = rtm2m(&["import", "funding", &funding, "--out", &out_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        format!("rtm2m import: 2 events written to {out_arg} (funding 2)\n")
    );
    let written = std::fs::read_to_string(&out_path).expect("the output exists");
    assert_eq!(
        written,
        "{\"type\":\"funding\",\"v\":1,\"ts\":\"2020-01-01T00:00:00.000000000Z\",\"venue\":\"binance\",\"symbol\":\"BTC/USDT\",\"rate\":-0.00012359,\"period_s\":28800}\n\
         {\"type\":\"funding\",\"v\":1,\"ts\":\"2020-01-01T08:00:00.000000000Z\",\"venue\":\"binance\",\"symbol\":\"BTC/USDT\",\"rate\":-0.00012383,\"period_s\":28800}\n"
    );

    // The ticker row at 2020-01-01T00:00:00Z sorts between nothing and the funding rows: equal instants keep
    // the order of the paths (ticker first here).
    let out = rtm2m(&["import", "auto", &ticker, &funding, "--out", &out_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "rtm2m import: 4 events written to {out_arg} (option_quote 1, book 1, funding 2)\n"
        )
    );
    let written = std::fs::read_to_string(&out_path).expect("the output exists");
    let types: Vec<&str> = written
        .lines()
        .map(|l| Event::from_json(l).expect("valid events").type_name())
        .collect();
    assert_eq!(types, ["option_quote", "book", "funding", "funding"]);
    let first = written.lines().next().expect("a first line");
    assert!(
        first.contains(r#""ask_iv":0.6025,"mark_iv":0.555,"#),
        "{first}"
    );
    assert!(!first.contains("bid"), "no bid in {first}");
}

#[test]
fn a_malformed_row_fails_with_status_2_naming_file_line_and_column_and_writes_nothing() {
    let dir = scratch("malformed");
    let good = write(&dir, "kraken_XBTUSDC_1m_20230301.csv", KRAKEN);
    let bad = write(
        &dir,
        "binanceus_BTCUSDT_1m_20230301.csv",
        &BINANCEUS.replace("23148.8", "abc"),
    );
    let out_path = dir.join("events.jsonl");
    let out_arg = out_path.display().to_string();
    let out = rtm2m(&["import", "auto", &good, &bad, "--out", &out_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("rtm2m: {bad}:3: high: `abc` is not a finite number\n")
    );
    assert!(!out_path.exists(), "no partial output");

    let unknown = write(&dir, "notes.csv", "a,b\n");
    let out = rtm2m(&["import", "auto", &unknown]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("rtm2m: {unknown}: cannot tell the format from the file name; name it (see `rtm2m import --help`)\n")
    );

    let out = rtm2m(&[
        "import",
        "kraken-bars",
        "/nonexistent/kraken_XBTUSDC_1m_x.csv",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr)
        .starts_with("rtm2m: /nonexistent/kraken_XBTUSDC_1m_x.csv: cannot be read: "));

    let out = rtm2m(&["import", "bitmex", &good]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown format");
    assert!(text(&out.stderr).contains("invalid value 'bitmex'"));
}

#[test]
fn real_funding_histories_merge_into_one_time_ordered_stream() {
    let shared = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
    if !shared.is_dir() {
        eprintln!("note: ../shared absent, skipping the real-data import test");
        return;
    }
    let data = shared.join("data/funding_rates_supervik");
    let binance = data.join("BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv");
    let dydx = data.join("BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv");
    let out = rtm2m(&[
        "import",
        "funding",
        &binance.display().to_string(),
        &dydx.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // 4,384 and 17,521 lines, less their headers.
    assert_eq!(
        text(&out.stderr),
        "rtm2m import: 21903 events written to stdout (funding 21903)\n"
    );
    let events: Vec<Event> = read_events(&out.stdout[..])
        .collect::<Result<_, _>>()
        .expect("valid JSON Lines");
    assert_eq!(events.len(), 21_903);
    assert!(events.windows(2).all(|w| w[0].ts() <= w[1].ts()));
    // The first dYdX row (2022-01-01 00:00 UTC, 0.0000058615) comes before Binance's settlement of that
    // midnight, which the file stamps 6 ms late (`2022-01-01 03:00:00.006` at UTC+3, rate 0.0001).
    let at_2022 = events
        .iter()
        .position(|e| e.ts().to_string() == "2022-01-01T00:00:00.000000000Z")
        .expect("a 2022-01-01 settlement");
    let venue_rate = |e: &Event| match e {
        Event::Funding(f) => (f.venue.clone(), f.rate),
        other => panic!("expected funding, found {other:?}"),
    };
    assert_eq!(
        venue_rate(&events[at_2022]),
        ("dydx".to_owned(), 0.0000058615)
    );
    assert_eq!(
        events[at_2022 + 1].ts().to_string(),
        "2022-01-01T00:00:00.006000000Z"
    );
    assert_eq!(
        venue_rate(&events[at_2022 + 1]),
        ("binance".to_owned(), 0.0001)
    );
}
