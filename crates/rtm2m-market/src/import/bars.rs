//! Binance.US and Kraken OHLCV bars → one `bar` per row, stamped at the END of the interval.
//!
//! The venue, pair and interval come from the file name, `<venue>_<PAIR>_<interval>_...csv`
//! (`binanceus_BTCUSDC_1m_20230301_20230321.csv`): the pair is split before a known quote currency
//! (`USDT`, `USDC`, `USD`, ...) and Kraken's `XBT` is written `BTC`; the interval is `<n>s|m|h|d`.
//! - Binance.US: header `open_time,open,high,low,close,volume`, `open_time` RFC 3339 (space separator).
//! - Kraken: no header; Unix seconds of the interval's start, open, high, low, close, volume, trade count.
//!
//! Volume is in the base asset. Minutes without trades are whatever the venue wrote: Binance.US repeats
//! the last price with volume 0; Kraken leaves the minute out.

use super::table::Csv;
use super::{file_name, Format, Sink};
use crate::event::{Bar, Event, EventError, Pair};
use crate::time::Timestamp;
use std::io::Read;
use std::path::Path;

/// Quote currencies a concatenated pair may end with, longest first so `USDT` wins over `USD`.
const QUOTES: [&str; 11] = [
    "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "JPY", "DAI", "BTC", "ETH",
];

/// What a bar file's name says.
pub(crate) struct BarFile {
    format: Format,
    venue: &'static str,
    symbol: Pair,
    interval_s: u64,
}

/// `BTCUSDC` → `BTC/USDC`; Kraken's `XBT` and `XDG` are `BTC` and `DOGE`.
fn split_pair(text: &str, kraken: bool) -> Result<Pair, String> {
    let normal = |code: &str| -> String {
        match (kraken, code) {
            (true, "XBT") => "BTC".into(),
            (true, "XDG") => "DOGE".into(),
            _ => code.to_owned(),
        }
    };
    for quote in QUOTES {
        if let Some(base) = text.strip_suffix(quote).filter(|b| !b.is_empty()) {
            return Pair::new(&normal(base), &normal(quote)).map_err(|e| e.reason);
        }
    }
    Err(format!(
        "pair `{text}` does not end with a known quote currency ({})",
        QUOTES.join(", ")
    ))
}

/// `1m` → 60, `4h` → 14400.
fn interval_seconds(text: &str) -> Result<u64, String> {
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        Some('d') => 86_400,
        _ => return Err(format!("interval `{text}` is not <n>s, <n>m, <n>h or <n>d")),
    };
    text[..text.len() - 1]
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= 366 * 86_400 / unit)
        .map(|n| n * unit)
        .ok_or_else(|| format!("interval `{text}` is not a positive count of s, m, h or d"))
}

impl BarFile {
    pub(crate) fn from_path(format: Format, path: &Path) -> Result<BarFile, String> {
        let name = file_name(path)?;
        let (venue, kraken) = match format {
            Format::KrakenBars => ("kraken", true),
            _ => ("binanceus", false),
        };
        let parts: Vec<&str> = name.trim_end_matches(".csv").split('_').collect();
        let [prefix, pair, interval, ..] = parts[..] else {
            return Err(format!(
                "file name `{name}` is not {venue}_<PAIR>_<interval>_....csv (e.g. {venue}_BTCUSDC_1m_20230301.csv)"
            ));
        };
        if prefix != venue {
            return Err(format!("file name `{name}` does not start with `{venue}_`"));
        }
        Ok(BarFile {
            format,
            venue,
            symbol: split_pair(pair, kraken)?,
            interval_s: interval_seconds(interval)?,
        })
    }
}

pub(crate) fn import(spec: &BarFile, reader: impl Read, sink: &mut Sink) -> Result<(), EventError> {
    let interval = i64::try_from(spec.interval_s).expect("interval bounded by a year");
    let mut csv = match spec.format {
        Format::KrakenBars => Csv::without_header(reader, 7),
        _ => Csv::with_exact_header(
            reader,
            &["open_time", "open", "high", "low", "close", "volume"],
        )?,
    };
    while let Some(row) = csv.next_row()? {
        sink.row();
        let start = match spec.format {
            Format::KrakenBars => {
                let seconds = row.i64(0)?;
                Timestamp::from_unix_seconds(seconds)
                    .ok_or_else(|| row.fault(0, format!("{seconds} s is out of range")))?
            }
            _ => row.timestamp(0)?,
        };
        let end = start
            .checked_add_seconds(interval)
            .ok_or_else(|| row.fault(0, "the end of the interval is out of range"))?;
        let trade_count = match spec.format {
            Format::KrakenBars => {
                let count = row.i64(6)?;
                Some(u64::try_from(count).map_err(|_| row.fault(6, "must be ≥ 0"))?)
            }
            _ => None,
        };
        let event = Event::Bar(Bar {
            ts: end,
            venue: spec.venue.into(),
            symbol: spec.symbol.clone(),
            interval_s: spec.interval_s,
            open: row.f64(1)?,
            high: row.f64(2)?,
            low: row.f64(3)?,
            close: row.f64(4)?,
            volume: row.f64(5)?,
            trade_count,
        });
        let line = row.line;
        sink.push(line, event)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_before_the_longest_known_quote() {
        let pair = |t: &str, k: bool| split_pair(t, k).map(|p| p.to_string());
        assert_eq!(pair("BTCUSDT", false).as_deref(), Ok("BTC/USDT"));
        assert_eq!(pair("BTCUSD", false).as_deref(), Ok("BTC/USD"));
        assert_eq!(pair("XBTUSDC", true).as_deref(), Ok("BTC/USDC"));
        assert_eq!(pair("ETHBTC", false).as_deref(), Ok("ETH/BTC"));
        assert!(pair("USDT", false).is_err());
        assert!(pair("BTCXYZ", false).is_err());
    }

    #[test]
    fn intervals_are_read_in_seconds() {
        assert_eq!(interval_seconds("1m"), Ok(60));
        assert_eq!(interval_seconds("4h"), Ok(14_400));
        assert_eq!(interval_seconds("1d"), Ok(86_400));
        assert!(interval_seconds("0m").is_err());
        assert!(interval_seconds("m").is_err());
        assert!(interval_seconds("1w").is_err());
        assert!(interval_seconds("é").is_err());
    }
}
