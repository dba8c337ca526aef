//! The canonical JSON of each event: `type` first, then `v`, `ts`, and the fields in their documented order,
//! absent values omitted.

use super::{
    Bar, Book, Event, Funding, IndexUpdate, Level, Mark, OptionQuote, OracleUpdate, Pair, Quote,
    SignatureScheme, Trade, FORMAT_VERSION,
};
use crate::time::Timestamp;
use serde::ser::{SerializeTuple, Serializer};
use serde::Serialize;

pub(crate) fn scheme_name(scheme: SignatureScheme) -> &'static str {
    match scheme {
        SignatureScheme::Ed25519 => "ed25519",
        SignatureScheme::Secp256k1 => "secp256k1",
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.price)?;
        tuple.serialize_element(&self.size)?;
        tuple.end()
    }
}

/// Lower-case hex without a `0x` prefix.
fn hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let text: String = bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0x0f)]])
        .map(char::from)
        .collect();
    serializer.serialize_str(&text)
}

#[derive(Serialize)]
pub(crate) struct QuoteWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    symbol: &'a Pair,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_size: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask_size: Option<f64>,
}

#[derive(Serialize)]
pub(crate) struct TradeWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    symbol: &'a Pair,
    price: f64,
    size: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    side: Option<super::Side>,
}

#[derive(Serialize)]
pub(crate) struct BarWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    symbol: &'a Pair,
    interval_s: u64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    trade_count: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct OptionQuoteWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    instrument: &'a str,
    underlying: &'a str,
    expiry: Timestamp,
    strike: f64,
    option_type: super::OptionType,
    price_currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_size: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask_size: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bid_iv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ask_iv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mark_iv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mark_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    underlying_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    underlying_instrument: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_interest: Option<f64>,
}

#[derive(Serialize)]
pub(crate) struct BookWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    instrument: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    price_currency: Option<&'a str>,
    bids: &'a [Level],
    asks: &'a [Level],
}

#[derive(Serialize)]
pub(crate) struct FundingWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    symbol: &'a Pair,
    rate: f64,
    period_s: u64,
}

#[derive(Serialize)]
pub(crate) struct IndexWire<'a> {
    ts: Timestamp,
    underlying: &'a str,
    price: f64,
    confidence: f64,
    status: super::IndexStatus,
}

#[derive(Serialize)]
pub(crate) struct OracleUpdateWire<'a> {
    ts: Timestamp,
    publisher: &'a str,
    feed: &'a str,
    price: f64,
    confidence: f64,
    sequence: u64,
    scheme: SignatureScheme,
    #[serde(serialize_with = "hex")]
    signature: &'a [u8],
}

#[derive(Serialize)]
pub(crate) struct MarkWire<'a> {
    ts: Timestamp,
    venue: &'a str,
    instrument: &'a str,
    price_currency: &'a str,
    price: f64,
}

/// The tagged form: serde writes the `type` tag, then `v`, then the flattened fields in order.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Wire<'a> {
    Quote {
        v: u64,
        #[serde(flatten)]
        body: QuoteWire<'a>,
    },
    Trade {
        v: u64,
        #[serde(flatten)]
        body: TradeWire<'a>,
    },
    Bar {
        v: u64,
        #[serde(flatten)]
        body: BarWire<'a>,
    },
    OptionQuote {
        v: u64,
        #[serde(flatten)]
        body: OptionQuoteWire<'a>,
    },
    Book {
        v: u64,
        #[serde(flatten)]
        body: BookWire<'a>,
    },
    Funding {
        v: u64,
        #[serde(flatten)]
        body: FundingWire<'a>,
    },
    Index {
        v: u64,
        #[serde(flatten)]
        body: IndexWire<'a>,
    },
    OracleUpdate {
        v: u64,
        #[serde(flatten)]
        body: OracleUpdateWire<'a>,
    },
    Mark {
        v: u64,
        #[serde(flatten)]
        body: MarkWire<'a>,
    },
}

fn quote(e: &Quote) -> QuoteWire<'_> {
    QuoteWire {
        ts: e.ts,
        venue: &e.venue,
        symbol: &e.symbol,
        bid: e.bid,
        ask: e.ask,
        bid_size: e.bid_size,
        ask_size: e.ask_size,
    }
}

fn trade(e: &Trade) -> TradeWire<'_> {
    TradeWire {
        ts: e.ts,
        venue: &e.venue,
        symbol: &e.symbol,
        price: e.price,
        size: e.size,
        side: e.side,
    }
}

fn bar(e: &Bar) -> BarWire<'_> {
    BarWire {
        ts: e.ts,
        venue: &e.venue,
        symbol: &e.symbol,
        interval_s: e.interval_s,
        open: e.open,
        high: e.high,
        low: e.low,
        close: e.close,
        volume: e.volume,
        trade_count: e.trade_count,
    }
}

fn option_quote(e: &OptionQuote) -> OptionQuoteWire<'_> {
    OptionQuoteWire {
        ts: e.ts,
        venue: &e.venue,
        instrument: &e.instrument,
        underlying: &e.underlying,
        expiry: e.expiry,
        strike: e.strike,
        option_type: e.option_type,
        price_currency: &e.price_currency,
        bid: e.bid,
        ask: e.ask,
        bid_size: e.bid_size,
        ask_size: e.ask_size,
        bid_iv: e.bid_iv,
        ask_iv: e.ask_iv,
        mark_iv: e.mark_iv,
        mark_price: e.mark_price,
        underlying_price: e.underlying_price,
        underlying_instrument: e.underlying_instrument.as_deref(),
        index_price: e.index_price,
        open_interest: e.open_interest,
    }
}

fn book(e: &Book) -> BookWire<'_> {
    BookWire {
        ts: e.ts,
        venue: &e.venue,
        instrument: &e.instrument,
        price_currency: e.price_currency.as_deref(),
        bids: &e.bids,
        asks: &e.asks,
    }
}

fn funding(e: &Funding) -> FundingWire<'_> {
    FundingWire {
        ts: e.ts,
        venue: &e.venue,
        symbol: &e.symbol,
        rate: e.rate,
        period_s: e.period_s,
    }
}

fn index(e: &IndexUpdate) -> IndexWire<'_> {
    IndexWire {
        ts: e.ts,
        underlying: &e.underlying,
        price: e.price,
        confidence: e.confidence,
        status: e.status,
    }
}

fn oracle_update(e: &OracleUpdate) -> OracleUpdateWire<'_> {
    OracleUpdateWire {
        ts: e.ts,
        publisher: &e.publisher,
        feed: &e.feed,
        price: e.price,
        confidence: e.confidence,
        sequence: e.sequence,
        scheme: e.scheme,
        signature: &e.signature,
    }
}

fn mark(e: &Mark) -> MarkWire<'_> {
    MarkWire {
        ts: e.ts,
        venue: &e.venue,
        instrument: &e.instrument,
        price_currency: &e.price_currency,
        price: e.price,
    }
}

impl<'a> From<&'a Event> for Wire<'a> {
    fn from(event: &'a Event) -> Wire<'a> {
        let v = FORMAT_VERSION;
        match event {
            Event::Quote(e) => Wire::Quote { v, body: quote(e) },
            Event::Trade(e) => Wire::Trade { v, body: trade(e) },
            Event::Bar(e) => Wire::Bar { v, body: bar(e) },
            Event::OptionQuote(e) => Wire::OptionQuote {
                v,
                body: option_quote(e),
            },
            Event::Book(e) => Wire::Book { v, body: book(e) },
            Event::Funding(e) => Wire::Funding {
                v,
                body: funding(e),
            },
            Event::Index(e) => Wire::Index { v, body: index(e) },
            Event::OracleUpdate(e) => Wire::OracleUpdate {
                v,
                body: oracle_update(e),
            },
            Event::Mark(e) => Wire::Mark { v, body: mark(e) },
        }
    }
}
