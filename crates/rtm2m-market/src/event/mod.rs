//! The event format, version 1: every market fact rtm2m consumes, one JSON object per line.
//!
//! Each line is an object tagged by `"type"`, carrying `"v":1` (optional on input, default 1) and `"ts"`
//! (a [`Timestamp`], RFC 3339, written in UTC with nine fraction digits). The types and every field, with
//! units, are documented in `docs/events.md`; the canonical byte form is `tests/golden/events.jsonl`.
//!
//! Conventions, fixed once here:
//! - Prices are in the currency named by the event: the quote currency of a `symbol` (`BTC/USDT`: USDT
//!   per BTC), or `price_currency` where an instrument names none (Deribit options: coin per option).
//! - Sizes and volumes are in the base asset for spot pairs and in the venue's contracts for derivatives
//!   (Deribit options: one contract is one coin of the underlying). Sizes are never negative.
//! - Rates and implied volatilities are fractions (0.01 is 1%), never percent.
//! - A value a source does not give is absent from the object, never zero.
//! - Readers reject a field they do not know: a misspelt `bidsize` must not silently drop a size.
//!
//! Parsing checks types and ranges (finite numbers, bid ≤ ask, sizes ≥ 0, non-empty names) and reports
//! the field and the reason ([`EventError`]); [`read_events`] adds the 1-based line number.

mod jsonl;
mod oracle;
mod parse;
mod validate;
mod wire;

pub use jsonl::{read_events, write_event, write_events, EventReader, MAX_LINE_BYTES};
pub use oracle::ORACLE_DOMAIN_TAG;

use crate::time::Timestamp;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// The version of the event format this crate reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The most price levels a book side may hold: a bound on memory per event.
pub const MAX_BOOK_LEVELS: usize = 10_000;

/// A malformed event: the field at fault and why, with the 1-based line number when read from a stream.
///
/// Displays as `line 7: bid: must be a finite number` (or without the `line N: ` prefix).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{field}: {reason}", line_prefix(*.line))]
pub struct EventError {
    /// 1-based line number in the input, when the event came from a stream.
    pub line: Option<u64>,
    /// The field at fault (`bid`, `bids[2]`, `ts`), or `json` / `line` / `output` for the line as a whole.
    pub field: String,
    /// What is wrong, in words.
    pub reason: String,
}

fn line_prefix(line: Option<u64>) -> String {
    line.map(|n| format!("line {n}: ")).unwrap_or_default()
}

impl EventError {
    /// An error in `field`, not yet placed on a line.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> EventError {
        EventError {
            line: None,
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The same error placed on 1-based line `line`.
    pub fn at_line(mut self, line: u64) -> EventError {
        self.line = Some(line);
        self
    }
}

/// One market fact with the instant it became known.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Best bid and ask of a spot pair (`"type":"quote"`).
    Quote(Quote),
    /// One trade of a spot pair (`"type":"trade"`).
    Trade(Trade),
    /// An OHLCV bar of a spot pair (`"type":"bar"`).
    Bar(Bar),
    /// A quote of one option, with the venue's implied volatilities and reference prices (`"type":"option_quote"`).
    OptionQuote(OptionQuote),
    /// Order-book depth of one instrument (`"type":"book"`).
    Book(Book),
    /// A perpetual's funding rate for one period (`"type":"funding"`).
    Funding(Funding),
    /// An index price computed from several sources (`"type":"index"`).
    Index(IndexUpdate),
    /// A signed price from an oracle publisher (`"type":"oracle_update"`).
    OracleUpdate(OracleUpdate),
    /// A venue's price of a future or perpetual at an instant (`"type":"mark"`).
    Mark(Mark),
}

/// The `"type"` tags, in the order of [`Event`]'s variants.
pub const EVENT_TYPES: [&str; 9] = [
    "quote",
    "trade",
    "bar",
    "option_quote",
    "book",
    "funding",
    "index",
    "oracle_update",
    "mark",
];

impl Event {
    /// The instant the event became known.
    pub fn ts(&self) -> Timestamp {
        match self {
            Event::Quote(e) => e.ts,
            Event::Trade(e) => e.ts,
            Event::Bar(e) => e.ts,
            Event::OptionQuote(e) => e.ts,
            Event::Book(e) => e.ts,
            Event::Funding(e) => e.ts,
            Event::Index(e) => e.ts,
            Event::OracleUpdate(e) => e.ts,
            Event::Mark(e) => e.ts,
        }
    }

    /// The `"type"` tag of this event (`quote`, `option_quote`, ...).
    pub fn type_name(&self) -> &'static str {
        let index = match self {
            Event::Quote(_) => 0,
            Event::Trade(_) => 1,
            Event::Bar(_) => 2,
            Event::OptionQuote(_) => 3,
            Event::Book(_) => 4,
            Event::Funding(_) => 5,
            Event::Index(_) => 6,
            Event::OracleUpdate(_) => 7,
            Event::Mark(_) => 8,
        };
        EVENT_TYPES[index]
    }

    /// Checks every range and consistency rule of the format (the same checks parsing applies).
    pub fn validate(&self) -> Result<(), EventError> {
        validate::event(self)
    }

    /// Parses one JSON object (one line, without its newline) into a validated event.
    pub fn from_json(text: &str) -> Result<Event, EventError> {
        parse::event_from_str(text)
    }

    /// The canonical JSON of this event, without a newline, after validating it.
    pub fn to_json(&self) -> Result<String, EventError> {
        self.validate()?;
        serde_json::to_string(self)
            .map_err(|e| EventError::new("json", format!("cannot be serialised: {e}")))
    }
}

impl serde::Serialize for Event {
    /// Writes the canonical object. It does not validate: a NaN would become `null`; use
    /// [`Event::to_json`] or [`write_event`], which do.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire::Wire::from(self).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        parse::event_from_value(value).map_err(serde::de::Error::custom)
    }
}

/// A spot pair, `BASE/QUOTE`: prices are in `quote` per one `base` (`BTC/USDT`: USDT per BTC).
///
/// Both codes are 1 to 16 upper-case ASCII letters or digits. Venue spellings are normalised by the
/// importers (Kraken's `XBT` is `BTC`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    /// The asset bought and sold, e.g. `BTC`.
    pub base: String,
    /// The asset prices are paid in, e.g. `USDT`.
    pub quote: String,
}

impl Pair {
    /// The pair `base/quote`, checked.
    pub fn new(base: &str, quote: &str) -> Result<Pair, EventError> {
        let pair = Pair {
            base: base.to_owned(),
            quote: quote.to_owned(),
        };
        validate::pair("symbol", &pair)?;
        Ok(pair)
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

impl FromStr for Pair {
    type Err = EventError;

    fn from_str(text: &str) -> Result<Pair, EventError> {
        match text.split_once('/') {
            Some((base, quote)) => Pair::new(base, quote),
            None => Err(EventError::new(
                "symbol",
                format!(
                    "`{}` is not BASE/QUOTE (e.g. BTC/USDT)",
                    validate::shown(text)
                ),
            )),
        }
    }
}

impl serde::Serialize for Pair {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Which side of the book a trade's taker was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The taker bought (lifted an ask).
    Buy,
    /// The taker sold (hit a bid).
    Sell,
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionType {
    /// The right to buy at the strike.
    Call,
    /// The right to sell at the strike.
    Put,
}

/// Health of an index price, as every consumer must be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexStatus {
    /// Enough fresh, agreeing sources.
    Ok,
    /// Published, but from fewer sources than the quorum or with sources excluded: use with care.
    Degraded,
    /// No trustworthy price: consumers must not mark against it.
    Halted,
}

/// Signature scheme of an oracle publisher (the signed bytes are in `docs/events.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// Ed25519 (RFC 8032) over the payload: 64-byte signature `R || S`.
    Ed25519,
    /// ECDSA on secp256k1 over keccak256(payload), Ethereum style: 65 bytes `r || s || v`.
    Secp256k1,
}

impl SignatureScheme {
    /// The length of a signature of this scheme in bytes.
    pub fn signature_len(self) -> usize {
        match self {
            SignatureScheme::Ed25519 => 64,
            SignatureScheme::Secp256k1 => 65,
        }
    }
}

/// Best bid and ask of a spot pair on one venue.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// When the quote was observed.
    pub ts: Timestamp,
    /// Venue, lower case (`binanceus`, `kraken`).
    pub venue: String,
    /// The pair; prices in its quote currency per base unit.
    pub symbol: Pair,
    /// Best bid, quote currency per base unit; absent when the book has no bid.
    pub bid: Option<f64>,
    /// Best ask, quote currency per base unit; absent when the book has no ask.
    pub ask: Option<f64>,
    /// Size at the best bid, base units.
    pub bid_size: Option<f64>,
    /// Size at the best ask, base units.
    pub ask_size: Option<f64>,
}

impl Quote {
    /// The parsed pair `{ base, quote }`.
    pub fn pair(&self) -> &Pair {
        &self.symbol
    }
}

/// One trade of a spot pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    /// When the trade happened.
    pub ts: Timestamp,
    /// Venue, lower case.
    pub venue: String,
    /// The pair traded.
    pub symbol: Pair,
    /// Price, quote currency per base unit.
    pub price: f64,
    /// Size, base units.
    pub size: f64,
    /// The taker's side, when the venue says.
    pub side: Option<Side>,
}

impl Trade {
    /// The parsed pair `{ base, quote }`.
    pub fn pair(&self) -> &Pair {
        &self.symbol
    }
}

/// An OHLCV bar: the trades of one interval, published when the interval ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The END of the interval (start + `interval_s`): the instant the close is known.
    pub ts: Timestamp,
    /// Venue, lower case.
    pub venue: String,
    /// The pair.
    pub symbol: Pair,
    /// Length of the interval in seconds (60 for 1-minute bars).
    pub interval_s: u64,
    /// First price of the interval, quote currency per base unit.
    pub open: f64,
    /// Highest price, quote currency per base unit.
    pub high: f64,
    /// Lowest price, quote currency per base unit.
    pub low: f64,
    /// Last price, quote currency per base unit.
    pub close: f64,
    /// Traded volume in base units (0 when nothing traded and the venue repeated the last price).
    pub volume: f64,
    /// Number of trades in the interval, when the venue says.
    pub trade_count: Option<u64>,
}

impl Bar {
    /// The parsed pair `{ base, quote }`.
    pub fn pair(&self) -> &Pair {
        &self.symbol
    }

    /// The start of the interval, `ts - interval_s`.
    pub fn start(&self) -> Option<Timestamp> {
        let seconds = i64::try_from(self.interval_s).ok()?;
        self.ts.checked_add_seconds(-seconds)
    }
}

/// A quote of one option: venue prices, sizes, implied volatilities and the reference prices used.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionQuote {
    /// When the quote was observed.
    pub ts: Timestamp,
    /// Venue, lower case (`deribit`).
    pub venue: String,
    /// The venue's instrument name, e.g. `BTC-27MAR26-80000-C`.
    pub instrument: String,
    /// The underlying asset, e.g. `BTC`.
    pub underlying: String,
    /// Expiry instant (Deribit: 08:00 UTC on the expiry date).
    pub expiry: Timestamp,
    /// Strike, in the underlying's quote currency (USD for Deribit BTC and ETH options).
    pub strike: f64,
    /// Call or put.
    pub option_type: OptionType,
    /// The currency of `bid`, `ask` and `mark_price` (`BTC` or `ETH` for Deribit's coin-settled options).
    pub price_currency: String,
    /// Best bid, `price_currency` per option; absent when there is no bid.
    pub bid: Option<f64>,
    /// Best ask, `price_currency` per option; absent when there is no ask.
    pub ask: Option<f64>,
    /// Size at the best bid, contracts.
    pub bid_size: Option<f64>,
    /// Size at the best ask, contracts.
    pub ask_size: Option<f64>,
    /// Venue's implied volatility of the bid, fraction per √year (0.8 is 80%).
    pub bid_iv: Option<f64>,
    /// Venue's implied volatility of the ask, fraction per √year.
    pub ask_iv: Option<f64>,
    /// Venue's mark implied volatility, fraction per √year.
    pub mark_iv: Option<f64>,
    /// Venue's mark price, `price_currency` per option.
    pub mark_price: Option<f64>,
    /// The forward the venue prices this expiry on, in the strike's currency.
    pub underlying_price: Option<f64>,
    /// The venue's name for that forward (`BTC-27MAR26`, synthetic `SYN.BTC-7FEB26`, or `index_price`).
    pub underlying_instrument: Option<String>,
    /// The venue's spot index, in the strike's currency.
    pub index_price: Option<f64>,
    /// Open interest, contracts.
    pub open_interest: Option<f64>,
}

/// One price level of a book: `[price, size]` on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Price of the level, in the book's price currency.
    pub price: f64,
    /// Size resting at the level (> 0), base units or contracts.
    pub size: f64,
}

/// Order-book depth of one instrument: bids best (highest) first, asks best (lowest) first.
#[derive(Debug, Clone, PartialEq)]
pub struct Book {
    /// When the book was observed.
    pub ts: Timestamp,
    /// Venue, lower case.
    pub venue: String,
    /// `BASE/QUOTE` for a spot pair, else the venue's instrument name (`BTC-24SEP21-7000-P`).
    pub instrument: String,
    /// The currency of the level prices when `instrument` is not a spot pair (Deribit options: `BTC`).
    pub price_currency: Option<String>,
    /// Bid levels, prices strictly descending. Empty when there is no bid.
    pub bids: Vec<Level>,
    /// Ask levels, prices strictly ascending. Empty when there is no ask.
    pub asks: Vec<Level>,
}

/// The funding rate of a perpetual for one funding period.
#[derive(Debug, Clone, PartialEq)]
pub struct Funding {
    /// When the period settled (the venue's funding time, in UTC).
    pub ts: Timestamp,
    /// Venue, lower case (`binance`, `dydx`).
    pub venue: String,
    /// The perpetual's pair (`BTC/USDT` for the BTC-USDT perpetual).
    pub symbol: Pair,
    /// Funding rate for one period, fraction of notional (0.0001 is 0.01%); longs pay shorts when positive.
    pub rate: f64,
    /// The venue's funding period in seconds (28800 for 8-hourly, 3600 for hourly).
    pub period_s: u64,
}

impl Funding {
    /// The parsed pair `{ base, quote }`.
    pub fn pair(&self) -> &Pair {
        &self.symbol
    }
}

/// An index price computed from several venues.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexUpdate {
    /// When the index was computed.
    pub ts: Timestamp,
    /// The asset indexed, e.g. `BTC`; the price is in USD per unit.
    pub underlying: String,
    /// Index price, USD per unit of `underlying`.
    pub price: f64,
    /// Half-width of the confidence interval around `price`, USD (Pyth style).
    pub confidence: f64,
    /// Whether consumers may use it.
    pub status: IndexStatus,
}

/// A price signed by an oracle publisher. The signed bytes are [`OracleUpdate::signing_payload`].
#[derive(Debug, Clone, PartialEq)]
pub struct OracleUpdate {
    /// The instant the publisher vouches for (part of the signed payload).
    pub ts: Timestamp,
    /// The publisher's identifier, looked up in the configured keys.
    pub publisher: String,
    /// What is priced, e.g. `BTC/USD`: price in the quote currency per base unit.
    pub feed: String,
    /// Price, in the feed's quote currency per base unit.
    pub price: f64,
    /// Half-width of the publisher's confidence interval, same unit as `price` (≥ 0).
    pub confidence: f64,
    /// The publisher's sequence number; each update of a feed must exceed the last one accepted.
    pub sequence: u64,
    /// The signature scheme of `signature`.
    pub scheme: SignatureScheme,
    /// The signature bytes (hex on the wire): 64 for Ed25519, 65 for secp256k1.
    pub signature: Vec<u8>,
}

/// A venue's price of a future or perpetual at an instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// The instant the price stands for.
    pub ts: Timestamp,
    /// Venue, lower case (`deribit`).
    pub venue: String,
    /// The venue's instrument name (`BTC-PERPETUAL`, `BTC-27MAR26`).
    pub instrument: String,
    /// The currency of `price` (`USD` for Deribit's BTC and ETH futures).
    pub price_currency: String,
    /// Price, `price_currency` per unit of the underlying.
    pub price: f64,
}
