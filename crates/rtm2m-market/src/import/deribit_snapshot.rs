//! Deribit option-chain snapshots (`deribit_options_snapshot_<UTC>.csv`) → one `option_quote` per row.
//!
//! Prices (`bid_price`, `ask_price`, `mark_price`) are in coin (`currency`: BTC or ETH per option);
//! `implied_volatility` is Deribit's mark IV as a fraction; `underlying` is the forward Deribit prices the
//! expiry on (a future or a synthetic `SYN.*`, named in `underlying_name`). Empty bids or asks are absent.
//! The file has no sizes and no bid/ask IVs; `delta`, `vega`, `time_to_maturity` and the volume columns are
//! not carried (they are derived or statistics, recomputed downstream).

use super::table::Csv;
use super::Sink;
use crate::event::{Event, EventError, OptionQuote, OptionType};
use std::io::Read;

const COLUMNS: [&str; 12] = [
    "timestamp",
    "instrument_name",
    "underlying",
    "underlying_name",
    "option_type",
    "strike",
    "expiry_datetime",
    "bid_price",
    "ask_price",
    "mark_price",
    "implied_volatility",
    "currency",
];

pub(crate) fn import(reader: impl Read, sink: &mut Sink) -> Result<(), EventError> {
    let mut csv = Csv::with_header(reader, &COLUMNS)?;
    let [timestamp, instrument, underlying, underlying_name, option_type, strike, expiry, bid, ask, mark, iv, currency] =
        COLUMNS.map(|c| csv.column(c));
    let open_interest = csv.optional_column("open_interest");
    let index_price = csv.optional_column("index_price");
    while let Some(row) = csv.next_row()? {
        sink.row();
        let option_type = match row.required_text(option_type)? {
            "call" | "C" => OptionType::Call,
            "put" | "P" => OptionType::Put,
            other => return Err(row.fault(option_type, format!("`{other}` is not call or put"))),
        };
        let currency = row.required_text(currency)?.to_owned();
        let event = Event::OptionQuote(OptionQuote {
            ts: row.timestamp(timestamp)?,
            venue: "deribit".into(),
            instrument: row.required_text(instrument)?.to_owned(),
            underlying: currency.clone(),
            expiry: row.timestamp(expiry)?,
            strike: row.f64(strike)?,
            option_type,
            price_currency: currency,
            bid: row.opt_f64(bid)?,
            ask: row.opt_f64(ask)?,
            bid_size: None,
            ask_size: None,
            bid_iv: None,
            ask_iv: None,
            mark_iv: row.opt_f64(iv)?,
            mark_price: row.opt_f64(mark)?,
            underlying_price: row.opt_f64(underlying)?,
            underlying_instrument: row.opt_text(underlying_name),
            index_price: index_price.map(|c| row.opt_f64(c)).transpose()?.flatten(),
            open_interest: open_interest.map(|c| row.opt_f64(c)).transpose()?.flatten(),
        });
        let line = row.line;
        sink.push(line, event)?;
    }
    Ok(())
}
