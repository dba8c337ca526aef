//! Malformed events and malformed source files: each is refused with its line, the field at fault and the
//! reason, in words a user can act on.

use rtm2m_market::event::{read_events, Event, EventError, MAX_LINE_BYTES};
use rtm2m_market::import::{import_reader, Format, ImportError};
use std::path::Path;

const QUOTE: &str = r#"{"type":"quote","ts":"2023-03-11T08:00:00Z","venue":"binanceus","symbol":"BTC/USDT","bid":20187.5,"ask":20188.25}"#;

/// The error `read_events` stops at, for a stream of valid quotes with `bad` on line 3.
fn error_on_line_3(bad: &str) -> EventError {
    let text = format!("{QUOTE}\n\n{bad}\n{QUOTE}\n");
    let mut reader = read_events(text.as_bytes());
    assert!(reader.next().expect("line 1").is_ok());
    let error = reader
        .next()
        .expect("line 3")
        .expect_err("line 3 is malformed");
    assert!(reader.next().is_none(), "reading stops at the first error");
    assert_eq!(error.line, Some(3), "{error}");
    error
}

fn with(field_and_value: &str) -> String {
    QUOTE.replacen('}', &format!(",{field_and_value}}}"), 1)
}

#[test]
fn malformed_events_name_line_field_and_reason() {
    let cases: Vec<(String, &str)> = vec![
        (
            QUOTE.replace("20187.5", "\"20187.5\""),
            "line 3: bid: must be a finite number, found a string",
        ),
        (
            QUOTE.replace("20187.5", "20189"),
            "line 3: bid: 20189 is above the ask 20188.25",
        ),
        (
            QUOTE.replace("20187.5", "-1"),
            "line 3: bid: must be ≥ 0, found -1",
        ),
        (
            QUOTE.replace("20187.5", "1e400"),
            "line 3: json: is not valid JSON at column 95: number out of range",
        ),
        (
            with("\"bidsize\":1"),
            "line 3: bidsize: is not a field of `quote` events (version 1)",
        ),
        (
            QUOTE.replace("\"quote\"", "\"qoute\""),
            "line 3: type: `qoute` is not an event type (one of quote, trade, bar, option_quote, book, funding, index, oracle_update, mark)",
        ),
        (
            with("\"v\":2"),
            "line 3: v: version 2 is not supported (this reader knows version 1)",
        ),
        (
            QUOTE.replace("\"ts\":\"2023-03-11T08:00:00Z\",", ""),
            "line 3: ts: is required",
        ),
        (
            QUOTE.replace("08:00:00Z", "08:00:00"),
            "line 3: ts: `2023-03-11T08:00:00` is not an RFC 3339 time: missing the UTC offset (`Z` or `±HH:MM`)",
        ),
        (
            QUOTE.replace("2023-03-11", "2023-02-29"),
            "line 3: ts: `2023-02-29T08:00:00Z` is not an RFC 3339 time: day 29 is not in 1..=28 for 2023-02",
        ),
        (
            QUOTE.replace("BTC/USDT", "btc-usdt"),
            "line 3: symbol: `btc-usdt` is not BASE/QUOTE (e.g. BTC/USDT)",
        ),
        (
            QUOTE.replace("binanceus", "Binance US"),
            "line 3: venue: `Binance US` must be 1 to 32 lower-case letters, digits, `.`, `_` or `-`",
        ),
        ("[1,2,3]".into(), "line 3: json: must be an object, found an array"),
        (
            "{\"type\":\"quote\"".into(),
            "line 3: json: is not valid JSON at column 15: EOF while parsing an object",
        ),
        (
            r#"{"type":"bar","ts":"2023-03-01T00:01:00Z","venue":"kraken","symbol":"BTC/USDC","interval_s":60.5,"open":1,"high":1,"low":1,"close":1,"volume":0}"#.into(),
            "line 3: interval_s: must be an integer in 0..=2^64-1, found 60.5",
        ),
        (
            r#"{"type":"bar","ts":"2023-03-01T00:01:00Z","venue":"kraken","symbol":"BTC/USDC","interval_s":60,"open":2,"high":3,"low":2.5,"close":3,"volume":0}"#.into(),
            "line 3: low: 2.5 is above the open 2 or the close 3",
        ),
        (
            r#"{"type":"book","ts":"2023-03-01T00:01:00Z","venue":"deribit","instrument":"BTC-24SEP21-7000-P","bids":[[0.002,1],[0.002,1]],"asks":[]}"#.into(),
            "line 3: bids[1]: price 0.002 after 0.002: bids must be strictly descending",
        ),
        (
            r#"{"type":"book","ts":"2023-03-01T00:01:00Z","venue":"deribit","instrument":"X","bids":[[0.002]],"asks":[]}"#.into(),
            "line 3: bids[0]: must be a [price, size] array, found an array",
        ),
        (
            r#"{"type":"oracle_update","ts":"2023-03-01T00:01:00Z","publisher":"p","feed":"BTC/USD","price":1,"confidence":0,"sequence":1,"scheme":"ed25519","signature":"00ff"}"#.into(),
            "line 3: signature: has 2 bytes; a ed25519 signature has 64",
        ),
        (
            r#"{"type":"oracle_update","ts":"2023-03-01T00:01:00Z","publisher":"p","feed":"BTC/USD","price":1,"confidence":0,"sequence":-1,"scheme":"ed25519","signature":"00"}"#.into(),
            "line 3: sequence: must be an integer in 0..=2^64-1, found -1",
        ),
        (
            r#"{"type":"funding","ts":"2023-03-01T00:01:00Z","venue":"binance","symbol":"BTC/USDT","rate":0.0001,"period_s":0}"#.into(),
            "line 3: period_s: must be > 0",
        ),
        (
            r#"{"type":"index","ts":"2023-03-01T00:01:00Z","underlying":"BTC","price":1,"confidence":0,"status":"stale"}"#.into(),
            "line 3: status: `stale` is not one of ok, degraded, halted",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(error_on_line_3(&line).to_string(), expected, "for {line}");
    }
}

#[test]
fn invalid_utf8_and_overlong_lines_are_refused_by_line() {
    let mut bytes = format!("{QUOTE}\n").into_bytes();
    bytes.extend_from_slice(b"{\"type\":\"quote\xff\"}\n");
    let error = read_events(&bytes[..])
        .nth(1)
        .expect("a second item")
        .expect_err("not UTF-8");
    assert_eq!(
        error.to_string(),
        "line 2: line: is not valid UTF-8 (byte 15)"
    );

    let long = format!("{QUOTE}\n{QUOTE}\n{}\n", " ".repeat(MAX_LINE_BYTES + 1));
    let error = read_events(long.as_bytes())
        .nth(2)
        .expect("a third item")
        .expect_err("too long");
    assert_eq!(
        error.to_string(),
        format!("line 3: line: is longer than {MAX_LINE_BYTES} bytes")
    );
}

#[test]
fn crlf_line_ends_and_blank_lines_are_accepted() {
    let text = format!("\r\n{QUOTE}\r\n \t\n{QUOTE}");
    let events: Vec<Event> = read_events(text.as_bytes())
        .collect::<Result<_, _>>()
        .expect("valid");
    assert_eq!(events.len(), 2);
}

fn import_text(format: Format, name: &str, text: &str) -> Result<u64, ImportError> {
    import_reader(format, Path::new(name), text.as_bytes()).map(|i| i.report.events)
}

fn malformed(format: Format, name: &str, text: &str) -> String {
    import_text(format, name, text)
        .expect_err("the file is malformed")
        .to_string()
}

#[test]
fn malformed_bar_files_name_file_line_and_column() {
    let name = "binanceus_BTCUSDT_1m_20230301_20230321.csv";
    let header = "open_time,open,high,low,close,volume\n";
    let good = "2023-03-01 00:00:00+00:00,23140.48,23150.77,23128.52,23142.31,2.131777\n";
    assert_eq!(
        import_text(Format::BinanceusBars, name, &format!("{header}{good}")),
        Ok(1)
    );
    assert_eq!(
        malformed(
            Format::BinanceusBars,
            name,
            &format!(
                "{header}{good}2023-03-01 00:01:00+00:00,23143.89,abc,23137.61,23137.77,0.88\n"
            )
        ),
        format!("{name}:3: high: `abc` is not a finite number")
    );
    assert_eq!(
        malformed(
            Format::BinanceusBars,
            name,
            &format!(
                "{header}{good}2023-03-01 00:01:00+00:00,23143.89,23148.8,23137.61,23137.77\n"
            )
        ),
        format!("{name}:3: row: expected 6 fields, found 5")
    );
    assert_eq!(
        malformed(
            Format::BinanceusBars,
            name,
            &format!("{header}2023-03-01 25:00:00+00:00,1,1,1,1,1\n")
        ),
        format!("{name}:2: open_time: `2023-03-01 25:00:00+00:00`: hour 25 is not in 0..=23")
    );
    assert_eq!(
        malformed(
            Format::BinanceusBars,
            name,
            &format!("{header}2023-03-01 00:00:00+00:00,10,12,11,10.5,1\n")
        ),
        format!("{name}:2: low: 11 is above the open 10 or the close 10.5")
    );
    assert_eq!(
        malformed(Format::BinanceusBars, name, "time,o,h,l,c,v\n"),
        format!("{name}:1: header: has no column `open_time`")
    );
    assert_eq!(
        malformed(Format::BinanceusBars, name, ""),
        format!("{name}:1: header: the file is empty")
    );
    assert_eq!(
        malformed(Format::BinanceusBars, "bars.csv", header),
        "bars.csv: file name `bars.csv` is not binanceus_<PAIR>_<interval>_....csv (e.g. binanceus_BTCUSDC_1m_20230301.csv)"
    );
    let kraken = "kraken_XBTUSDC_1m_20230301_20230321.csv";
    assert_eq!(
        malformed(
            Format::KrakenBars,
            kraken,
            "1677628800,23151.53,23151.53,23150.0,23150.0,0.02125883,2\n1677628860,1,1,1,1,1,-3\n"
        ),
        format!("{kraken}:2: column 7: must be ≥ 0")
    );
}

#[test]
fn malformed_funding_files_name_file_line_and_column() {
    let name = "BTC-USDT_binance_2020-01-01_2024-01-01_funding_history.csv";
    let header = "Symbol,Date,Funding Rate\n";
    assert_eq!(
        malformed(
            Format::Funding,
            name,
            &format!("{header}BTC-USDT,2020-01-01 03:00:00.000,-0.00012359\nBTC-USDT,2020-01-01 11:00:00.000,NaN\n")
        ),
        format!("{name}:3: Funding Rate: `NaN` is not a finite number")
    );
    assert_eq!(
        malformed(
            Format::Funding,
            name,
            &format!("{header}BTCUSDT,2020-01-01 03:00:00.000,0.0001\n")
        ),
        format!("{name}:2: Symbol: `BTCUSDT` is not BASE-QUOTE")
    );
    assert_eq!(
        malformed(
            Format::Funding,
            name,
            &format!("{header}BTC-USDT,2020-01-01T03:00:00Z,0.0001\n")
        ),
        format!(
            "{name}:2: Date: `2020-01-01T03:00:00Z`: unexpected `Z` after the time (expected no zone designator)"
        )
    );
    assert_eq!(
        malformed(
            Format::Funding,
            "BTC-USDT_okx_2020_funding_history.csv",
            header
        ),
        "BTC-USDT_okx_2020_funding_history.csv: venue `okx`: its time zone and funding period are not known (known: binance, bybit, htx, kucoin, mexc, gate, dydx)"
    );
}

#[test]
fn malformed_deribit_files_name_file_line_and_column() {
    let header = "underlying_price,underlying_index,timestamp,instrument_name,index_price,mark_price,mark_iv,bid_iv,ask_iv,best_bid_price,best_bid_amount,best_ask_price,best_ask_amount,bids,asks,open_interest\n";
    let row = "49869.55,BTC-24SEP21,1612877925407,BTC-24SEP21-7000-P,45793.62,0.00182796,116.39,107.13,125.66,0.001,0.1,0.003,0.1,\"[[0.001, 0.1]]\",\"[[0.003, 0.1], [0.018, 0.8]]\",143.4\n";
    let name = "btc_option_data_20210209.csv";
    assert_eq!(
        import_text(Format::DeribitTicker, name, &format!("{header}{row}")),
        Ok(2)
    );
    assert_eq!(
        malformed(
            Format::DeribitTicker,
            name,
            &format!(
                "{header}{}",
                row.replace("BTC-24SEP21-7000-P", "BTC-24SEP21-7000-X")
            )
        ),
        format!("{name}:2: instrument_name: `BTC-24SEP21-7000-X`: `X` is not C or P")
    );
    assert_eq!(
        malformed(
            Format::DeribitTicker,
            name,
            &format!("{header}{}", row.replace("[[0.001, 0.1]]", "[[0.001, 0.1"))
        ),
        format!("{name}:2: bids: is not a JSON list of [price, amount]: EOF while parsing a list at line 1 column 12")
    );
    assert_eq!(
        malformed(
            Format::DeribitTicker,
            name,
            &format!("{header}{}", row.replace("0.003,0.1,", "0.0005,0.1,"))
        ),
        format!("{name}:2: bid: 0.001 is above the ask 0.0005")
    );

    let snapshot = "deribit_options_snapshot_20260105T153329Z.csv";
    let header = "timestamp,instrument_name,underlying,underlying_name,option_type,strike,expiry_datetime,bid_price,ask_price,mark_price,implied_volatility,currency\n";
    let row = "2026-01-05T15:33:29.748387+00:00,BTC-16JAN26-82000-C,93758.42,BTC-16JAN26,call,82000.0,2026-01-16T08:00:00+00:00,0.1265,0.1295,0.12807512,0.531,BTC\n";
    assert_eq!(
        import_text(Format::DeribitSnapshot, snapshot, &format!("{header}{row}")),
        Ok(1)
    );
    assert_eq!(
        malformed(
            Format::DeribitSnapshot,
            snapshot,
            &format!("{header}{row}{}", row.replace(",call,", ",straddle,"))
        ),
        format!("{snapshot}:3: option_type: `straddle` is not call or put")
    );
    assert_eq!(
        malformed(
            Format::DeribitSnapshot,
            snapshot,
            &format!("{header}{}", row.replace("82000.0", "-5"))
        ),
        format!("{snapshot}:2: strike: must be > 0, found -5")
    );
}

#[test]
fn a_missing_file_is_named_with_the_reason() {
    let error = rtm2m_market::import::import_file(
        Format::KrakenBars,
        Path::new("/nonexistent/kraken_XBTUSDC_1m_x.csv"),
    )
    .expect_err("no such file");
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/kraken_XBTUSDC_1m_x.csv: cannot be read: "),
        "{error}"
    );
}
