//! The golden file `tests/golden/events.jsonl`, written by hand from `docs/events.md`: every event type, with
//! optional fields present and absent. Reading it and writing it back must give the same bytes, and the
//! values read must be the ones written by hand.

use rtm2m_market::event::{
    read_events, write_events, Event, IndexStatus, OptionType, Side, SignatureScheme, EVENT_TYPES,
};
use rtm2m_market::Timestamp;

const GOLDEN: &str = include_str!("golden/events.jsonl");

fn golden_events() -> Vec<Event> {
    read_events(GOLDEN.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("the golden file is valid")
}

/// Unix seconds as `date -u -d <time> +%s` prints them, plus nanoseconds.
fn unix(seconds: i64, nanos: i64) -> Timestamp {
    Timestamp::from_unix_nanos(seconds * 1_000_000_000 + nanos)
}

#[test]
fn golden_file_reads_and_writes_back_byte_identically() {
    let events = golden_events();
    assert_eq!(events.len(), GOLDEN.lines().count());
    let mut out = Vec::new();
    let written = write_events(&mut out, &events).expect("golden events are valid");
    assert_eq!(written, events.len() as u64);
    let out = String::from_utf8(out).expect("writer emits UTF-8");
    for (i, (expected, actual)) in GOLDEN.lines().zip(out.lines()).enumerate() {
        assert_eq!(actual, expected, "line {}", i + 1);
    }
    assert_eq!(out, GOLDEN);
}

#[test]
fn golden_file_covers_every_event_type() {
    let events = golden_events();
    for type_name in EVENT_TYPES {
        assert!(
            events.iter().any(|e| e.type_name() == type_name),
            "no `{type_name}` in the golden file"
        );
    }
}

#[test]
fn golden_values_are_the_ones_written_by_hand() {
    let events = golden_events();

    let Event::Quote(q) = &events[0] else {
        panic!("line 1 is a quote")
    };
    assert_eq!(q.ts, unix(1_678_521_600, 0));
    assert_eq!(q.venue, "binanceus");
    assert_eq!(
        (q.symbol.base.as_str(), q.symbol.quote.as_str()),
        ("BTC", "USDT")
    );
    assert_eq!(
        (q.bid, q.ask, q.bid_size, q.ask_size),
        (Some(20187.5), Some(20188.25), Some(0.5), Some(1.25))
    );

    let Event::Quote(q) = &events[1] else {
        panic!("line 2 is a quote")
    };
    assert_eq!(q.ts, unix(1_678_521_600, 1));
    assert_eq!(
        (q.bid, q.ask, q.bid_size, q.ask_size),
        (None, Some(22950.0), None, None)
    );

    let Event::Trade(t) = &events[2] else {
        panic!("line 3 is a trade")
    };
    assert_eq!(t.ts, unix(1_678_521_600, 123_456_789));
    assert_eq!(
        (t.price, t.size, t.side),
        (20201.37, 0.003, Some(Side::Buy))
    );
    let Event::Trade(t) = &events[3] else {
        panic!("line 4 is a trade")
    };
    assert_eq!((t.size, t.side), (0.00001, None));

    let Event::Bar(b) = &events[4] else {
        panic!("line 5 is a bar")
    };
    // Kraken's first bar of 2023-03-01 starts at 1677628800 (`date -u -d 2023-03-01 +%s`) and ends 60 s later.
    assert_eq!(b.ts, unix(1_677_628_860, 0));
    assert_eq!(b.start(), Some(unix(1_677_628_800, 0)));
    assert_eq!(b.trade_count, Some(2));
    assert_eq!((b.open, b.low, b.volume), (23151.53, 23150.0, 0.02125883));

    let Event::OptionQuote(o) = &events[6] else {
        panic!("line 7 is an option quote")
    };
    assert_eq!(o.ts, unix(1_612_877_925, 407_000_000));
    assert_eq!(o.expiry, unix(1_632_470_400, 0));
    assert_eq!((o.strike, o.option_type), (7000.0, OptionType::Put));
    assert_eq!(
        (o.bid_iv, o.ask_iv, o.mark_iv),
        (Some(1.0713), Some(1.2566), Some(1.1639))
    );
    assert_eq!(o.underlying_instrument.as_deref(), Some("BTC-24SEP21"));
    assert_eq!(o.open_interest, Some(143.4));
    let Event::OptionQuote(o) = &events[7] else {
        panic!("line 8 is an option quote")
    };
    assert_eq!(
        (o.bid, o.ask, o.mark_iv, o.index_price),
        (None, None, None, None)
    );

    let Event::Book(book) = &events[8] else {
        panic!("line 9 is a book")
    };
    assert_eq!(book.bids.len(), 1);
    assert_eq!((book.asks[1].price, book.asks[1].size), (0.018, 0.8));
    let Event::Book(book) = &events[9] else {
        panic!("line 10 is a book")
    };
    assert!(book.bids.is_empty() && book.asks.is_empty() && book.price_currency.is_none());

    let Event::Funding(f) = &events[10] else {
        panic!("line 11 is a funding")
    };
    assert_eq!(f.ts, unix(1_577_836_800, 0));
    assert_eq!((f.rate, f.period_s), (-0.00012359, 28_800));
    let Event::Funding(f) = &events[11] else {
        panic!("line 12 is a funding")
    };
    assert_eq!((f.rate, f.period_s), (0.0000058615, 3_600));

    let statuses: Vec<IndexStatus> = events[12..15]
        .iter()
        .map(|e| match e {
            Event::Index(i) => i.status,
            other => panic!("expected an index, found {other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        [IndexStatus::Ok, IndexStatus::Degraded, IndexStatus::Halted]
    );

    let Event::OracleUpdate(u) = &events[15] else {
        panic!("line 16 is an oracle update")
    };
    assert_eq!(u.scheme, SignatureScheme::Ed25519);
    assert_eq!(u.signature, (0u8..64).collect::<Vec<u8>>());
    assert_eq!(u.sequence, 42);
    let Event::OracleUpdate(u) = &events[16] else {
        panic!("line 17 is an oracle update")
    };
    assert_eq!(u.scheme, SignatureScheme::Secp256k1);
    assert_eq!(u.sequence, u64::MAX);
    assert_eq!(u.signature.len(), 65);
    assert_eq!((u.signature[0], u.signature[64]), (0xa0, 0xe0));

    let Event::Mark(m) = &events[17] else {
        panic!("line 18 is a mark")
    };
    assert_eq!(m.ts, unix(1_767_115_875, 944_181_000));
    assert_eq!((m.instrument.as_str(), m.price), ("BTC-PERPETUAL", 88539.0));
}

#[test]
fn non_canonical_spellings_read_as_the_canonical_event() {
    // Same quote as golden line 1: fields reordered, no `v`, an offset instead of Z, spaces, an exponent.
    let loose = r#"{ "ask": 20188.25, "symbol": "BTC/USDT", "ts": "2023-03-11T11:00:00+03:00", "type": "quote",
        "venue": "binanceus", "bid": 2.01875e4, "bid_size": 0.5, "ask_size": 1.25 }"#
        .replace('\n', " ");
    let event = Event::from_json(&loose).expect("a valid quote");
    assert_eq!(
        event.to_json().expect("valid"),
        GOLDEN.lines().next().expect("golden line 1")
    );
    // A null optional is an absent one (golden line 2).
    let with_null = r#"{"type":"quote","v":1,"ts":"2023-03-11T08:00:00.000000001Z","venue":"kraken","symbol":"BTC/USDC","bid":null,"ask":22950,"bid_size":null}"#;
    assert_eq!(
        Event::from_json(with_null)
            .expect("a valid quote")
            .to_json()
            .expect("valid"),
        GOLDEN.lines().nth(1).expect("golden line 2")
    );
}
