//! Invariants of the event format: writing then reading is the identity on valid events, and no input bytes
//! make the reader panic or return an error without its line number.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use rtm2m_market::event::{
    read_events, write_event, write_events, Bar, Book, Event, Funding, IndexStatus, IndexUpdate,
    Level, Mark, OptionQuote, OptionType, OracleUpdate, Quote, Side, SignatureScheme, Trade,
};
use rtm2m_market::{Pair, Timestamp};

const GOLDEN: &str = include_str!("golden/events.jsonl");

fn timestamp() -> impl Strategy<Value = Timestamp> {
    any::<i64>().prop_map(Timestamp::from_unix_nanos)
}

fn venue() -> impl Strategy<Value = String> {
    "[a-z0-9._-]{1,32}"
}

/// Printable ASCII without spaces, including `"` and `\` that JSON must escape.
fn name(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!-~]{{1,{max}}}")).expect("a valid regex")
}

fn code() -> impl Strategy<Value = String> {
    "[A-Z0-9]{1,16}"
}

fn pair() -> impl Strategy<Value = Pair> {
    (code(), code()).prop_map(|(base, quote)| Pair { base, quote })
}

/// Finite and ≥ 0, across magnitudes (subnormals to 1e300), zero included.
fn non_negative() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        any::<f64>().prop_filter_map("finite", |x| x.is_finite().then_some(x.abs())),
        0.0..1e6,
    ]
}

fn positive() -> impl Strategy<Value = f64> {
    non_negative().prop_filter("positive", |x| *x > 0.0)
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |x| x.is_finite())
}

/// (bid, ask, bid_size, ask_size) with bid ≤ ask and a size only beside its price.
fn two_sided() -> impl Strategy<Value = (Option<f64>, Option<f64>, Option<f64>, Option<f64>)> {
    (
        option::of((non_negative(), option::of(non_negative()))),
        option::of((non_negative(), option::of(non_negative()))),
    )
        .prop_map(|(bid, ask)| {
            let (mut bid, mut ask) = (bid, ask);
            if let (Some(b), Some(a)) = (&mut bid, &mut ask) {
                if b.0 > a.0 {
                    std::mem::swap(&mut b.0, &mut a.0);
                }
            }
            (
                bid.map(|b| b.0),
                ask.map(|a| a.0),
                bid.and_then(|b| b.1),
                ask.and_then(|a| a.1),
            )
        })
}

fn quote() -> impl Strategy<Value = Event> {
    (timestamp(), venue(), pair(), two_sided())
        .prop_filter("a quote has a side", |(_, _, _, s)| {
            s.0.is_some() || s.1.is_some()
        })
        .prop_map(|(ts, venue, symbol, (bid, ask, bid_size, ask_size))| {
            Event::Quote(Quote {
                ts,
                venue,
                symbol,
                bid,
                ask,
                bid_size,
                ask_size,
            })
        })
}

fn trade() -> impl Strategy<Value = Event> {
    (
        timestamp(),
        venue(),
        pair(),
        non_negative(),
        non_negative(),
        option::of(prop_oneof![Just(Side::Buy), Just(Side::Sell)]),
    )
        .prop_map(|(ts, venue, symbol, price, size, side)| {
            Event::Trade(Trade {
                ts,
                venue,
                symbol,
                price,
                size,
                side,
            })
        })
}

fn bar() -> impl Strategy<Value = Event> {
    (
        (timestamp(), venue(), pair(), 1u64..=u64::MAX),
        (0.0..1e6f64, 0.0..1e6f64, 0.0..1.0f64, 0.0..1e3f64),
        (non_negative(), option::of(any::<u64>())),
    )
        .prop_map(
            |((ts, venue, symbol, interval_s), (open, close, down, up), (volume, trade_count))| {
                Event::Bar(Bar {
                    ts,
                    venue,
                    symbol,
                    interval_s,
                    open,
                    high: open.max(close) + up,
                    low: open.min(close) * down,
                    close,
                    volume,
                    trade_count,
                })
            },
        )
}

fn option_quote() -> impl Strategy<Value = Event> {
    (
        (timestamp(), venue(), name(64), name(32), timestamp()),
        (
            positive(),
            prop_oneof![Just(OptionType::Call), Just(OptionType::Put)],
            code(),
            two_sided(),
        ),
        (
            option::of(non_negative()),
            option::of(non_negative()),
            option::of(non_negative()),
            option::of(non_negative()),
        ),
        (
            option::of(positive()),
            option::of(name(64)),
            option::of(positive()),
            option::of(non_negative()),
        ),
    )
        .prop_map(
            |(
                (ts, venue, instrument, underlying, expiry),
                (strike, option_type, price_currency, (bid, ask, bid_size, ask_size)),
                (bid_iv, ask_iv, mark_iv, mark_price),
                (underlying_price, underlying_instrument, index_price, open_interest),
            )| {
                Event::OptionQuote(OptionQuote {
                    ts,
                    venue,
                    instrument,
                    underlying,
                    expiry,
                    strike,
                    option_type,
                    price_currency,
                    bid,
                    ask,
                    bid_size,
                    ask_size,
                    bid_iv,
                    ask_iv,
                    mark_iv,
                    mark_price,
                    underlying_price,
                    underlying_instrument,
                    index_price,
                    open_interest,
                })
            },
        )
}

/// Strictly ordered levels: bids below 1000 descending, asks from 1000 ascending.
fn book() -> impl Strategy<Value = Event> {
    (
        timestamp(),
        venue(),
        name(64),
        option::of(code()),
        vec((0.0..1000.0f64, positive()), 0..20),
        vec((1000.0..2000.0f64, positive()), 0..20),
    )
        .prop_map(|(ts, venue, instrument, price_currency, bids, asks)| {
            let mut bids: Vec<Level> = bids
                .into_iter()
                .map(|(price, size)| Level { price, size })
                .collect();
            bids.sort_by(|a, b| b.price.total_cmp(&a.price));
            bids.dedup_by(|a, b| a.price == b.price);
            let mut asks: Vec<Level> = asks
                .into_iter()
                .map(|(price, size)| Level { price, size })
                .collect();
            asks.sort_by(|a, b| a.price.total_cmp(&b.price));
            asks.dedup_by(|a, b| a.price == b.price);
            Event::Book(Book {
                ts,
                venue,
                instrument,
                price_currency,
                bids,
                asks,
            })
        })
}

fn funding() -> impl Strategy<Value = Event> {
    (timestamp(), venue(), pair(), finite(), 1u64..=u64::MAX).prop_map(
        |(ts, venue, symbol, rate, period_s)| {
            Event::Funding(Funding {
                ts,
                venue,
                symbol,
                rate,
                period_s,
            })
        },
    )
}

fn index() -> impl Strategy<Value = Event> {
    (
        timestamp(),
        name(32),
        non_negative(),
        non_negative(),
        prop_oneof![
            Just(IndexStatus::Ok),
            Just(IndexStatus::Degraded),
            Just(IndexStatus::Halted)
        ],
    )
        .prop_map(|(ts, underlying, price, confidence, status)| {
            Event::Index(IndexUpdate {
                ts,
                underlying,
                price,
                confidence,
                status,
            })
        })
}

fn oracle_update() -> impl Strategy<Value = Event> {
    (
        (timestamp(), name(128), name(64), finite(), non_negative()),
        any::<u64>(),
        prop_oneof![
            vec(any::<u8>(), 64).prop_map(|s| (SignatureScheme::Ed25519, s)),
            vec(any::<u8>(), 65).prop_map(|s| (SignatureScheme::Secp256k1, s)),
        ],
    )
        .prop_map(
            |((ts, publisher, feed, price, confidence), sequence, (scheme, signature))| {
                Event::OracleUpdate(OracleUpdate {
                    ts,
                    publisher,
                    feed,
                    price,
                    confidence,
                    sequence,
                    scheme,
                    signature,
                })
            },
        )
}

fn mark() -> impl Strategy<Value = Event> {
    (timestamp(), venue(), name(64), code(), non_negative()).prop_map(
        |(ts, venue, instrument, price_currency, price)| {
            Event::Mark(Mark {
                ts,
                venue,
                instrument,
                price_currency,
                price,
            })
        },
    )
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        quote(),
        trade(),
        bar(),
        option_quote(),
        book(),
        funding(),
        index(),
        oracle_update(),
        mark(),
    ]
}

/// Reads everything; returns the events and the error that ended the stream, if any.
fn read_all(bytes: &[u8]) -> (Vec<Event>, Option<rtm2m_market::EventError>) {
    let mut events = Vec::new();
    for item in read_events(bytes) {
        match item {
            Ok(event) => events.push(event),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn writing_then_reading_gives_back_the_same_events(events in vec(event(), 0..20)) {
        let mut bytes = Vec::new();
        write_events(&mut bytes, &events).expect("generated events are valid");
        let (read, error) = read_all(&bytes);
        prop_assert_eq!(error, None);
        prop_assert_eq!(&read, &events);
        // And the bytes are canonical: writing what was read gives the same bytes.
        let mut again = Vec::new();
        write_events(&mut again, &read).expect("valid");
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_carry_their_line(bytes in vec(any::<u8>(), 0..2000)) {
        let lines = bytes.split(|b| *b == b'\n').count() as u64;
        let (_, error) = read_all(&bytes);
        if let Some(e) = error {
            let line = e.line.expect("a reading error names its line");
            prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
            prop_assert!(!e.field.is_empty() && !e.reason.is_empty());
        }
    }

    #[test]
    fn arbitrary_json_like_text_never_panics(text in r#"\{("[a-z_]{1,12}":("[ -~]{0,20}"|-?[0-9]{1,20}(\.[0-9]{1,20})?(e-?[0-9]{1,3})?|null|true|\[\]|\{\}),?){0,12}\}"#) {
        if let Err(e) = Event::from_json(&text) {
            prop_assert!(!e.field.is_empty() && !e.reason.is_empty());
        }
    }

    /// One golden line mutated (bytes replaced, inserted or removed): everything before it still reads, and
    /// an error, if any, is on the mutated line (or after it, when a newline was inserted).
    #[test]
    fn a_mutated_golden_line_fails_on_its_own_line(
        target in 0usize..18,
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut lines: Vec<Vec<u8>> = GOLDEN.lines().map(|l| l.as_bytes().to_vec()).collect();
        let target = target % lines.len();
        let mut inserted_newlines = 0u64;
        for (at, byte, kind) in edits {
            let line = &mut lines[target];
            match kind {
                0 if !line.is_empty() => { let i = at.index(line.len()); line[i] = byte; }
                1 => { let i = at.index(line.len() + 1); line.insert(i, byte); }
                _ if !line.is_empty() => { let i = at.index(line.len()); line.remove(i); }
                _ => {}
            }
        }
        inserted_newlines += lines[target].iter().filter(|b| **b == b'\n').count() as u64;
        let bytes = lines.join(&b'\n');
        let (events, error) = read_all(&bytes);
        prop_assert!(events.len() >= target);
        if let Some(e) = error {
            let line = e.line.expect("a reading error names its line");
            let first = target as u64 + 1;
            prop_assert!(line >= first && line <= first + inserted_newlines,
                "error on line {} for a mutation of line {}: {}", line, first, e);
        }
    }

    #[test]
    fn an_invalid_event_is_refused_by_the_writer_with_its_position(
        events in vec(event(), 1..10),
        bad in any::<prop::sample::Index>(),
    ) {
        let mut events = events;
        let at = bad.index(events.len());
        if let Event::Funding(f) = &mut events[at] { f.rate = f64::NAN; }
        else { events[at] = Event::Trade(Trade {
            ts: Timestamp::UNIX_EPOCH, venue: "x".into(), symbol: Pair::new("BTC", "USD").expect("valid"),
            price: f64::INFINITY, size: 1.0, side: None }); }
        let mut bytes = Vec::new();
        let error = write_events(&mut bytes, &events).expect_err("one event is invalid");
        prop_assert_eq!(error.line, Some(at as u64 + 1));
        prop_assert!(error.field == "rate" || error.field == "price");
        // Nothing of the invalid event reached the output.
        prop_assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), at);
    }
}

#[test]
fn write_event_rejects_nan_before_writing_anything() {
    let event = Event::Index(IndexUpdate {
        ts: Timestamp::UNIX_EPOCH,
        underlying: "BTC".into(),
        price: f64::NAN,
        confidence: 1.0,
        status: IndexStatus::Ok,
    });
    let mut out = Vec::new();
    let error = write_event(&mut out, &event).expect_err("NaN is not a price");
    assert_eq!(error.to_string(), "price: must be a finite number");
    assert!(out.is_empty());
}

/// File names each importer accepts, with a valid first data row to mutate.
const IMPORTER_SAMPLES: [(rtm2m_market::import::Format, &str, &str); 5] = [
    (
        rtm2m_market::import::Format::BinanceusBars,
        "binanceus_BTCUSDT_1m_20230301.csv",
        "open_time,open,high,low,close,volume\n2023-03-01 00:00:00+00:00,23140.48,23150.77,23128.52,23142.31,2.131777\n",
    ),
    (
        rtm2m_market::import::Format::KrakenBars,
        "kraken_XBTUSDC_1m_20230301.csv",
        "1677628800,23151.53,23151.53,23150.0,23150.0,0.02125883,2\n",
    ),
    (
        rtm2m_market::import::Format::Funding,
        "BTC-USDT_binance_2020_funding_history.csv",
        "Symbol,Date,Funding Rate\nBTC-USDT,2020-01-01 03:00:00.000,-0.00012359\n",
    ),
    (
        rtm2m_market::import::Format::DeribitTicker,
        "btc_option_data.csv",
        "timestamp,instrument_name,underlying_price,underlying_index,index_price,mark_price,mark_iv,bid_iv,ask_iv,best_bid_price,best_bid_amount,best_ask_price,best_ask_amount,bids,asks\n1612877925407,BTC-24SEP21-7000-P,49869.55,BTC-24SEP21,45793.62,0.00182796,116.39,107.13,125.66,0.001,0.1,0.003,0.1,\"[[0.001, 0.1]]\",\"[[0.003, 0.1]]\"\n",
    ),
    (
        rtm2m_market::import::Format::DeribitSnapshot,
        "deribit_options_snapshot_20260105T153329Z.csv",
        "timestamp,instrument_name,underlying,underlying_name,option_type,strike,expiry_datetime,bid_price,ask_price,mark_price,implied_volatility,currency\n2026-01-05T15:33:29.748387+00:00,BTC-16JAN26-82000-C,93758.42,BTC-16JAN26,call,82000.0,2026-01-16T08:00:00+00:00,0.1265,0.1295,0.12807512,0.531,BTC\n",
    ),
];

proptest! {
    /// Importers on arbitrary bytes and on mutated valid rows: an error or events, never a panic; a row error
    /// names a line of the input and a field.
    #[test]
    fn importers_never_panic_on_mutated_or_arbitrary_input(
        which in 0usize..5,
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..8),
        noise in vec(any::<u8>(), 0..300),
        use_noise in any::<bool>(),
    ) {
        let (format, name, sample) = IMPORTER_SAMPLES[which];
        let mut bytes = if use_noise { noise } else { sample.as_bytes().to_vec() };
        for (at, byte, kind) in edits {
            match kind {
                0 if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes[i] = byte; }
                1 => { let i = at.index(bytes.len() + 1); bytes.insert(i, byte); }
                _ if !bytes.is_empty() => { let i = at.index(bytes.len()); bytes.remove(i); }
                _ => {}
            }
        }
        let lines = bytes.split(|b| *b == b'\n').count() as u64;
        match rtm2m_market::import::import_reader(format, std::path::Path::new(name), &bytes[..]) {
            Ok(imported) => {
                for event in &imported.events {
                    prop_assert!(event.validate().is_ok());
                }
            }
            Err(rtm2m_market::import::ImportError::Malformed { line, field, reason, .. }) => {
                prop_assert!((1..=lines.max(1)).contains(&line), "line {} of {}", line, lines);
                prop_assert!(!field.is_empty() && !reason.is_empty());
            }
            Err(other) => prop_assert!(false, "unexpected {}", other),
        }
    }
}
