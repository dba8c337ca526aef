//! Deribit `public/ticker` dumps (`*_option_data*.csv`) → one `option_quote` and one `book` per row.
//!
//! The files are Deribit's ticker JSON flattened, columns in varying order (found by name). Conventions:
//! - `timestamp` is Unix milliseconds.
//! - Prices are in coin; the currency is the instrument's prefix (`BTC-...`), or the part after `_` for
//!   linear options (`SOL_USDC-...` is priced in USDC). Strike, expiry (08:00 UTC) and type come from the
//!   instrument name, which is all the file has of them.
//! - `bid_iv`, `ask_iv`, `mark_iv` are percent: divided by 100 (decimally: see `iv_percent`). Deribit
//!   writes 0 when it has no IV (no bid, or a bid below intrinsic value), so 0 is absent.
//! - An empty book side shows `best_*_price` 0 with `best_*_amount` 0: the bid (or ask) is absent.
//! - `bids` and `asks` are JSON lists of `[price, amount]` levels, best first: the `book` event. A book with
//!   both sides empty is still written (it says the book was empty).
//! - `underlying_price` is the forward, `underlying_index` its name (verbatim, including Deribit's
//!   `index_price` for options priced on the index).

use super::table::{Csv, Row};
use super::Sink;
use crate::event::{Book, Event, EventError, Level, OptionQuote, OptionType, MAX_BOOK_LEVELS};
use crate::time::{parse_deribit_expiry, Timestamp};
use std::io::Read;

const COLUMNS: [&str; 15] = [
    "timestamp",
    "instrument_name",
    "underlying_price",
    "underlying_index",
    "index_price",
    "mark_price",
    "mark_iv",
    "bid_iv",
    "ask_iv",
    "best_bid_price",
    "best_bid_amount",
    "best_ask_price",
    "best_ask_amount",
    "bids",
    "asks",
];

/// What a Deribit option's name says: `BTC-24SEP21-7000-P`.
pub(crate) struct OptionName {
    pub(crate) underlying: String,
    pub(crate) price_currency: String,
    pub(crate) expiry: Timestamp,
    pub(crate) strike: f64,
    pub(crate) option_type: OptionType,
}

impl OptionName {
    pub(crate) fn parse(name: &str) -> Result<OptionName, String> {
        let parts: Vec<&str> = name.split('-').collect();
        let [prefix, expiry, strike, kind] = parts[..] else {
            return Err(format!(
                "`{name}` is not a Deribit option name (UNDERLYING-DMMMYY-STRIKE-C|P)"
            ));
        };
        let (underlying, price_currency) = match prefix.split_once('_') {
            Some((base, quote)) => (base, quote),
            None => (prefix, prefix),
        };
        if underlying.is_empty() || price_currency.is_empty() {
            return Err(format!("`{name}` has no underlying before the expiry"));
        }
        let expiry = parse_deribit_expiry(expiry).map_err(|e| format!("`{name}`: {e}"))?;
        // Deribit writes a decimal point in strikes as `d` (`0d625` is 0.625).
        let strike = strike
            .replace('d', ".")
            .parse::<f64>()
            .ok()
            .filter(|k| k.is_finite() && *k > 0.0)
            .ok_or_else(|| format!("`{name}`: strike `{strike}` is not a positive number"))?;
        let option_type = match kind {
            "C" => OptionType::Call,
            "P" => OptionType::Put,
            other => return Err(format!("`{name}`: `{other}` is not C or P")),
        };
        Ok(OptionName {
            underlying: underlying.to_owned(),
            price_currency: price_currency.to_owned(),
            expiry,
            strike,
            option_type,
        })
    }
}

/// A best price with its amount; Deribit's "0 at size 0" is no price at all.
fn best(
    row: &Row<'_>,
    price: usize,
    amount: usize,
) -> Result<(Option<f64>, Option<f64>), EventError> {
    let price = row.f64(price)?;
    let amount = row.f64(amount)?;
    if price == 0.0 && amount == 0.0 {
        Ok((None, None))
    } else {
        Ok((Some(price), Some(amount)))
    }
}

/// A venue IV in percent as a fraction; 0 (Deribit's "none") is absent.
///
/// The decimal text is read with its exponent lowered by 2 (`116.39` as `116.39e-2`), so the result is the
/// double nearest to 1.1639, the same as writing the fraction by hand; dividing the double of 116.39 by 100
/// can land one unit in the last place away (77.07 / 100 gives 0.7706999999999999).
fn iv_percent(row: &Row<'_>, column: usize) -> Result<Option<f64>, EventError> {
    if row.opt_f64(column)?.is_none_or(|iv| iv == 0.0) {
        return Ok(None);
    }
    let text = row.text(column);
    let fraction = if text.contains(['e', 'E']) {
        // Already has an exponent: fall back to the division (no such value in Deribit's tickers).
        text.parse::<f64>().map(|iv| iv / 100.0)
    } else {
        format!("{text}e-2").parse::<f64>()
    };
    fraction
        .ok()
        .filter(|iv| iv.is_finite())
        .map(Some)
        .ok_or_else(|| row.fault(column, format!("`{text}` is not a finite number")))
}

fn levels(row: &Row<'_>, column: usize) -> Result<Vec<Level>, EventError> {
    let text = row.required_text(column)?;
    let parsed: Vec<(f64, f64)> = serde_json::from_str(text).map_err(|e| {
        row.fault(
            column,
            format!("is not a JSON list of [price, amount]: {e}"),
        )
    })?;
    if parsed.len() > MAX_BOOK_LEVELS {
        return Err(row.fault(
            column,
            format!("has {} levels; at most {MAX_BOOK_LEVELS}", parsed.len()),
        ));
    }
    Ok(parsed
        .into_iter()
        .map(|(price, size)| Level { price, size })
        .collect())
}

pub(crate) fn import(reader: impl Read, sink: &mut Sink) -> Result<(), EventError> {
    let mut csv = Csv::with_header(reader, &COLUMNS)?;
    let [timestamp, instrument, forward, forward_name, index, mark, mark_iv, bid_iv, ask_iv, bid, bid_amount, ask, ask_amount, bids, asks] =
        COLUMNS.map(|c| csv.column(c));
    let open_interest = csv.optional_column("open_interest");
    while let Some(row) = csv.next_row()? {
        sink.row();
        let millis = row.i64(timestamp)?;
        let ts = Timestamp::from_unix_millis(millis)
            .ok_or_else(|| row.fault(timestamp, format!("{millis} ms is out of range")))?;
        let name = row.required_text(instrument)?;
        let option = OptionName::parse(name).map_err(|reason| row.fault(instrument, reason))?;
        let (bid, bid_size) = best(&row, bid, bid_amount)?;
        let (ask, ask_size) = best(&row, ask, ask_amount)?;
        let quote = Event::OptionQuote(OptionQuote {
            ts,
            venue: "deribit".into(),
            instrument: name.to_owned(),
            underlying: option.underlying,
            expiry: option.expiry,
            strike: option.strike,
            option_type: option.option_type,
            price_currency: option.price_currency.clone(),
            bid,
            ask,
            bid_size,
            ask_size,
            bid_iv: iv_percent(&row, bid_iv)?,
            ask_iv: iv_percent(&row, ask_iv)?,
            mark_iv: iv_percent(&row, mark_iv)?,
            mark_price: row.opt_f64(mark)?,
            underlying_price: row.opt_f64(forward)?,
            underlying_instrument: row.opt_text(forward_name),
            index_price: row.opt_f64(index)?,
            open_interest: open_interest.map(|c| row.opt_f64(c)).transpose()?.flatten(),
        });
        let book = Event::Book(Book {
            ts,
            venue: "deribit".into(),
            instrument: name.to_owned(),
            price_currency: Some(option.price_currency),
            bids: levels(&row, bids)?,
            asks: levels(&row, asks)?,
        });
        let line = row.line;
        sink.push(line, quote)?;
        sink.push(line, book)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deribit_option_names_give_underlying_expiry_strike_and_type() {
        let o = OptionName::parse("BTC-24SEP21-7000-P").expect("valid name");
        assert_eq!(
            (o.underlying.as_str(), o.price_currency.as_str()),
            ("BTC", "BTC")
        );
        assert_eq!(o.expiry.to_string(), "2021-09-24T08:00:00.000000000Z");
        assert_eq!(o.strike, 7000.0);
        assert_eq!(o.option_type, OptionType::Put);
        let linear = OptionName::parse("XRP_USDC-7FEB26-0d625-C").expect("valid name");
        assert_eq!(
            (linear.underlying.as_str(), linear.price_currency.as_str()),
            ("XRP", "USDC")
        );
        assert_eq!(linear.strike, 0.625);
        assert!(OptionName::parse("BTC-PERPETUAL").is_err());
        assert!(OptionName::parse("BTC-24SEP21-0-C").is_err());
        assert!(OptionName::parse("BTC-24SEP21-7000-X").is_err());
    }
}
