//! JSON to events, one field at a time, so that every error names the field and the reason.

use super::validate::shown;
use super::{
    Bar, Book, Event, EventError, Funding, IndexStatus, IndexUpdate, Level, Mark, OptionQuote,
    OptionType, OracleUpdate, Pair, Quote, Side, SignatureScheme, Trade, EVENT_TYPES,
    FORMAT_VERSION, MAX_BOOK_LEVELS,
};
use crate::time::Timestamp;
use serde_json::{Map, Value};

type Result<T> = std::result::Result<T, EventError>;

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(field: &str, expected: &str, found: &Value) -> EventError {
    EventError::new(
        field,
        format!("must be {expected}, found {}", describe(found)),
    )
}

/// The fields of one object, taken out one by one; what is left at the end is unknown.
struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    /// The value of `field`, treating `null` as absent.
    fn take(&mut self, field: &str) -> Option<Value> {
        match self.map.remove(field) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    fn required(&mut self, field: &str) -> Result<Value> {
        self.take(field)
            .ok_or_else(|| EventError::new(field, "is required"))
    }

    fn number(field: &str, value: &Value) -> Result<f64> {
        match value {
            Value::Number(n) => n
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| EventError::new(field, "must be a finite number")),
            other => Err(wrong_type(field, "a finite number", other)),
        }
    }

    fn f64(&mut self, field: &str) -> Result<f64> {
        let value = self.required(field)?;
        Fields::number(field, &value)
    }

    fn opt_f64(&mut self, field: &str) -> Result<Option<f64>> {
        self.take(field)
            .map(|value| Fields::number(field, &value))
            .transpose()
    }

    fn integer(field: &str, value: &Value) -> Result<u64> {
        match value {
            Value::Number(n) => n.as_u64().ok_or_else(|| {
                EventError::new(
                    field,
                    format!("must be an integer in 0..=2^64-1, found {n}"),
                )
            }),
            other => Err(wrong_type(field, "an integer", other)),
        }
    }

    fn u64(&mut self, field: &str) -> Result<u64> {
        let value = self.required(field)?;
        Fields::integer(field, &value)
    }

    fn opt_u64(&mut self, field: &str) -> Result<Option<u64>> {
        self.take(field)
            .map(|value| Fields::integer(field, &value))
            .transpose()
    }

    fn text(field: &str, value: Value) -> Result<String> {
        match value {
            Value::String(s) => Ok(s),
            other => Err(wrong_type(field, "a string", &other)),
        }
    }

    fn string(&mut self, field: &str) -> Result<String> {
        let value = self.required(field)?;
        Fields::text(field, value)
    }

    fn opt_string(&mut self, field: &str) -> Result<Option<String>> {
        self.take(field)
            .map(|value| Fields::text(field, value))
            .transpose()
    }

    fn timestamp(&mut self, field: &str) -> Result<Timestamp> {
        let text = self.string(field)?;
        Timestamp::parse_rfc3339(&text).map_err(|e| {
            EventError::new(
                field,
                format!("`{}` is not an RFC 3339 time: {e}", shown(&text)),
            )
        })
    }

    fn pair(&mut self, field: &str) -> Result<Pair> {
        let text = self.string(field)?;
        text.parse::<Pair>().map_err(|mut e| {
            e.field = field.to_owned();
            e
        })
    }

    /// One of `choices` (by its wire name), as the matching value.
    fn choice<T: Copy>(&mut self, field: &str, choices: &[(&str, T)]) -> Result<T> {
        let text = self.string(field)?;
        choices
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, value)| *value)
            .ok_or_else(|| unknown_choice(field, &text, choices))
    }

    fn opt_choice<T: Copy>(&mut self, field: &str, choices: &[(&str, T)]) -> Result<Option<T>> {
        if self.map.get(field).is_none_or(Value::is_null) {
            self.map.remove(field);
            return Ok(None);
        }
        self.choice(field, choices).map(Some)
    }

    fn levels(&mut self, field: &str) -> Result<Vec<Level>> {
        let value = self.required(field)?;
        let Value::Array(items) = value else {
            return Err(wrong_type(field, "an array of [price, size]", &value));
        };
        if items.len() > MAX_BOOK_LEVELS {
            return Err(EventError::new(
                field,
                format!("has {} levels; at most {MAX_BOOK_LEVELS}", items.len()),
            ));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{field}[{i}]");
                match item {
                    Value::Array(pair) if pair.len() == 2 => Ok(Level {
                        price: Fields::number(&format!("{at}.price"), &pair[0])?,
                        size: Fields::number(&format!("{at}.size"), &pair[1])?,
                    }),
                    other => Err(wrong_type(&at, "a [price, size] array", other)),
                }
            })
            .collect()
    }

    fn hex(&mut self, field: &str) -> Result<Vec<u8>> {
        let text = self.string(field)?;
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        if digits.len() % 2 != 0 {
            return Err(EventError::new(
                field,
                "hex must have an even number of digits",
            ));
        }
        let nibble = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        };
        digits
            .as_bytes()
            .chunks(2)
            .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
                (Some(high), Some(low)) => Ok(high << 4 | low),
                _ => Err(EventError::new(field, "must be hex digits (0-9, a-f)")),
            })
            .collect()
    }

    /// Fails on the first field nobody took.
    fn finish(self, type_name: &str) -> Result<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(EventError::new(
                shown(key),
                format!("is not a field of `{type_name}` events (version {FORMAT_VERSION})"),
            )),
        }
    }
}

fn unknown_choice<T>(field: &str, found: &str, choices: &[(&str, T)]) -> EventError {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    EventError::new(
        field,
        format!("`{}` is not one of {}", shown(found), names.join(", ")),
    )
}

const SIDES: [(&str, Side); 2] = [("buy", Side::Buy), ("sell", Side::Sell)];
const OPTION_TYPES: [(&str, OptionType); 2] =
    [("call", OptionType::Call), ("put", OptionType::Put)];
const STATUSES: [(&str, IndexStatus); 3] = [
    ("ok", IndexStatus::Ok),
    ("degraded", IndexStatus::Degraded),
    ("halted", IndexStatus::Halted),
];
const SCHEMES: [(&str, SignatureScheme); 2] = [
    ("ed25519", SignatureScheme::Ed25519),
    ("secp256k1", SignatureScheme::Secp256k1),
];

fn body(type_name: &str, ts: Timestamp, f: &mut Fields) -> Result<Event> {
    Ok(match type_name {
        "quote" => Event::Quote(Quote {
            ts,
            venue: f.string("venue")?,
            symbol: f.pair("symbol")?,
            bid: f.opt_f64("bid")?,
            ask: f.opt_f64("ask")?,
            bid_size: f.opt_f64("bid_size")?,
            ask_size: f.opt_f64("ask_size")?,
        }),
        "trade" => Event::Trade(Trade {
            ts,
            venue: f.string("venue")?,
            symbol: f.pair("symbol")?,
            price: f.f64("price")?,
            size: f.f64("size")?,
            side: f.opt_choice("side", &SIDES)?,
        }),
        "bar" => Event::Bar(Bar {
            ts,
            venue: f.string("venue")?,
            symbol: f.pair("symbol")?,
            interval_s: f.u64("interval_s")?,
            open: f.f64("open")?,
            high: f.f64("high")?,
            low: f.f64("low")?,
            close: f.f64("close")?,
            volume: f.f64("volume")?,
            trade_count: f.opt_u64("trade_count")?,
        }),
        "option_quote" => Event::OptionQuote(OptionQuote {
            ts,
            venue: f.string("venue")?,
            instrument: f.string("instrument")?,
            underlying: f.string("underlying")?,
            expiry: f.timestamp("expiry")?,
            strike: f.f64("strike")?,
            option_type: f.choice("option_type", &OPTION_TYPES)?,
            price_currency: f.string("price_currency")?,
            bid: f.opt_f64("bid")?,
            ask: f.opt_f64("ask")?,
            bid_size: f.opt_f64("bid_size")?,
            ask_size: f.opt_f64("ask_size")?,
            bid_iv: f.opt_f64("bid_iv")?,
            ask_iv: f.opt_f64("ask_iv")?,
            mark_iv: f.opt_f64("mark_iv")?,
            mark_price: f.opt_f64("mark_price")?,
            underlying_price: f.opt_f64("underlying_price")?,
            underlying_instrument: f.opt_string("underlying_instrument")?,
            index_price: f.opt_f64("index_price")?,
            open_interest: f.opt_f64("open_interest")?,
        }),
        "book" => Event::Book(Book {
            ts,
            venue: f.string("venue")?,
            instrument: f.string("instrument")?,
            price_currency: f.opt_string("price_currency")?,
            bids: f.levels("bids")?,
            asks: f.levels("asks")?,
        }),
        "funding" => Event::Funding(Funding {
            ts,
            venue: f.string("venue")?,
            symbol: f.pair("symbol")?,
            rate: f.f64("rate")?,
            period_s: f.u64("period_s")?,
        }),
        "index" => Event::Index(IndexUpdate {
            ts,
            underlying: f.string("underlying")?,
            price: f.f64("price")?,
            confidence: f.f64("confidence")?,
            status: f.choice("status", &STATUSES)?,
        }),
        "oracle_update" => Event::OracleUpdate(OracleUpdate {
            ts,
            publisher: f.string("publisher")?,
            feed: f.string("feed")?,
            price: f.f64("price")?,
            confidence: f.f64("confidence")?,
            sequence: f.u64("sequence")?,
            scheme: f.choice("scheme", &SCHEMES)?,
            signature: f.hex("signature")?,
        }),
        "mark" => Event::Mark(Mark {
            ts,
            venue: f.string("venue")?,
            instrument: f.string("instrument")?,
            price_currency: f.string("price_currency")?,
            price: f.f64("price")?,
        }),
        other => {
            return Err(EventError::new(
                "type",
                format!(
                    "`{}` is not an event type (one of {})",
                    shown(other),
                    EVENT_TYPES.join(", ")
                ),
            ))
        }
    })
}

pub(crate) fn event_from_value(value: Value) -> Result<Event> {
    let Value::Object(map) = value else {
        return Err(wrong_type("json", "an object", &value));
    };
    let mut fields = Fields { map };
    let type_name = fields.string("type")?;
    if let Some(v) = fields.opt_u64("v")? {
        if v != FORMAT_VERSION {
            return Err(EventError::new(
                "v",
                format!(
                    "version {v} is not supported (this reader knows version {FORMAT_VERSION})"
                ),
            ));
        }
    }
    let ts = fields.timestamp("ts")?;
    let event = body(&type_name, ts, &mut fields)?;
    fields.finish(&type_name)?;
    event.validate()?;
    Ok(event)
}

pub(crate) fn event_from_str(text: &str) -> Result<Event> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json appends " at line 1 column N"; within one line only the column is news.
        let message = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = message.strip_suffix(&suffix).unwrap_or(&message);
        EventError::new(
            "json",
            format!("is not valid JSON at column {}: {message}", e.column()),
        )
    })?;
    event_from_value(value)
}
