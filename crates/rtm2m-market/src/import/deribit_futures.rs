//! Deribit perpetual and dated-future prices per chain snapshot → one `mark` per row.
//!
//! - `perpetual_futures_prices.csv`: `ts` = `obs_datetime` (the snapshot), `instrument` = `instrument_name`
//!   (`BTC-PERPETUAL`), `price` = `perp_futures_mark_price`, the collector's price: the open or close of the
//!   Deribit 1-minute candle nearest the snapshot (`candle_price_choice`).
//! - `term_futures_marks.csv`: `ts` = `timestamp`, `instrument` = `futures_instrument_name`
//!   (`BTC-27FEB26`), `price` = `term_mark_price_final`, chosen the same way. (The forward Deribit used for
//!   options on that future is in each `option_quote`'s `underlying_price`.)
//!
//! Prices are USD per coin (the quote currency after `_` for linear instruments, e.g. `BTC_USDC-PERPETUAL`).
//! A row whose price is empty, or that the collector flagged as too far from the snapshot
//! (`accepted_under_max_gap` False), is skipped and counted.

use super::table::{Csv, Row};
use super::Sink;
use crate::event::{Event, EventError, Mark};
use std::io::Read;

/// The column names of one of the two files.
struct Layout {
    ts: &'static str,
    instrument: &'static str,
    price: &'static str,
    accepted: &'static str,
}

const PERPETUAL: Layout = Layout {
    ts: "obs_datetime",
    instrument: "instrument_name",
    price: "perp_futures_mark_price",
    accepted: "accepted_under_max_gap",
};

const TERM: Layout = Layout {
    ts: "timestamp",
    instrument: "futures_instrument_name",
    price: "term_mark_price_final",
    accepted: "term_candle_accepted_under_max_gap",
};

/// `USD` for Deribit's inverse instruments; the quote after `_` for linear ones (`BTC_USDC-...`).
fn price_currency(row: &Row<'_>, column: usize, instrument: &str) -> Result<String, EventError> {
    let prefix = instrument.split('-').next().unwrap_or(instrument);
    match prefix.split_once('_') {
        None => Ok("USD".into()),
        Some((_, quote)) if !quote.is_empty() => Ok(quote.to_owned()),
        Some(_) => Err(row.fault(
            column,
            format!("`{instrument}` has an empty quote currency"),
        )),
    }
}

fn import(layout: &Layout, reader: impl Read, sink: &mut Sink) -> Result<(), EventError> {
    let mut csv = Csv::with_header(
        reader,
        &[layout.ts, layout.instrument, layout.price, layout.accepted],
    )?;
    let [ts, instrument, price, accepted] =
        [layout.ts, layout.instrument, layout.price, layout.accepted].map(|c| csv.column(c));
    while let Some(row) = csv.next_row()? {
        sink.row();
        if !row.flag(accepted)? {
            sink.skip("price too far from the snapshot (accepted_under_max_gap False)");
            continue;
        }
        let Some(price) = row.opt_f64(price)? else {
            sink.skip("no price");
            continue;
        };
        let name = row.required_text(instrument)?;
        let event = Event::Mark(Mark {
            ts: row.timestamp(ts)?,
            venue: "deribit".into(),
            instrument: name.to_owned(),
            price_currency: price_currency(&row, instrument, name)?,
            price,
        });
        let line = row.line;
        sink.push(line, event)?;
    }
    Ok(())
}

pub(crate) fn import_perpetual(reader: impl Read, sink: &mut Sink) -> Result<(), EventError> {
    import(&PERPETUAL, reader, sink)
}

pub(crate) fn import_term(reader: impl Read, sink: &mut Sink) -> Result<(), EventError> {
    import(&TERM, reader, sink)
}
