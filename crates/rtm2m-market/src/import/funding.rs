//! Perpetual funding histories (`<BASE>-<QUOTE>_<venue>_<from>_<to>_funding_history.csv`, columns
//! `Symbol,Date,Funding Rate`) → one `funding` per row, venue from the file name.
//!
//! `Date` has no zone designator. The collector wrote Binance, Bybit, HTX, KuCoin and MEXC times in UTC+3
//! (3 hours are subtracted) and Gate and dYdX times in UTC; dYdX funds hourly, the others every 8 hours.
//! A venue not in that table is refused rather than guessed. `Funding Rate` is a fraction per period.
//! `Symbol` is `BASE-QUOTE` (`BTC-USDT`). The period is the venue's nominal one even where the history
//! has gaps or an off-schedule settlement (HTX has a few).

use super::table::Csv;
use super::{file_name, Sink};
use crate::event::{Event, EventError, Funding, Pair};
use crate::time::Timestamp;
use std::io::Read;
use std::path::Path;

/// Per venue: hours the file's times are ahead of UTC, and the funding period in seconds.
const VENUES: [(&str, i32, u64); 7] = [
    ("binance", 3, 28_800),
    ("bybit", 3, 28_800),
    ("htx", 3, 28_800),
    ("kucoin", 3, 28_800),
    ("mexc", 3, 28_800),
    ("gate", 0, 28_800),
    ("dydx", 0, 3_600),
];

/// What a funding file's name says.
pub(crate) struct FundingFile {
    venue: String,
    offset_seconds: i32,
    period_s: u64,
}

impl FundingFile {
    pub(crate) fn from_path(path: &Path) -> Result<FundingFile, String> {
        let name = file_name(path)?;
        let parts: Vec<&str> = name.split('_').collect();
        let Some(venue) = parts
            .get(1)
            .filter(|_| name.ends_with("_funding_history.csv"))
        else {
            return Err(format!(
                "file name `{name}` is not <BASE>-<QUOTE>_<venue>_..._funding_history.csv"
            ));
        };
        let venue = venue.to_ascii_lowercase();
        let Some(&(_, offset_hours, period_s)) = VENUES.iter().find(|(v, _, _)| *v == venue) else {
            let known: Vec<&str> = VENUES.iter().map(|(v, _, _)| *v).collect();
            return Err(format!(
                "venue `{venue}`: its time zone and funding period are not known (known: {})",
                known.join(", ")
            ));
        };
        Ok(FundingFile {
            venue,
            offset_seconds: offset_hours * 3600,
            period_s,
        })
    }
}

pub(crate) fn import(
    spec: &FundingFile,
    reader: impl Read,
    sink: &mut Sink,
) -> Result<(), EventError> {
    let columns = ["Symbol", "Date", "Funding Rate"];
    let mut csv = Csv::with_exact_header(reader, &columns)?;
    while let Some(row) = csv.next_row()? {
        sink.row();
        let symbol_text = row.required_text(0)?;
        let symbol = match symbol_text.split_once(['-', '/']) {
            Some((base, quote)) => Pair::new(base, quote).map_err(|e| row.fault(0, e.reason))?,
            None => return Err(row.fault(0, format!("`{symbol_text}` is not BASE-QUOTE"))),
        };
        let date = row.required_text(1)?;
        let ts = Timestamp::parse_naive(date, spec.offset_seconds)
            .map_err(|e| row.fault(1, format!("`{date}`: {e}")))?;
        let Some(rate) = row.opt_f64(2)? else {
            sink.skip("no funding rate");
            continue;
        };
        let event = Event::Funding(Funding {
            ts,
            venue: spec.venue.clone(),
            symbol,
            rate,
            period_s: spec.period_s,
        });
        let line = row.line;
        sink.push(line, event)?;
    }
    Ok(())
}
