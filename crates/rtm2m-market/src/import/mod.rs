//! Importers: real exchange files into events, one submodule per source format.
//!
//! Each importer reads one file, checks every row, and returns its events in file order with an
//! [`ImportReport`] (rows read, events made, rows skipped and why). A malformed row stops the import with
//! `path:line: field: reason` ([`ImportError`]); nothing is guessed: a value the file leaves empty becomes an
//! absent field, and a row that cannot make an event at all is skipped and counted with its reason.
//! [`merge_by_time`] merges the events of several files in timestamp order, stably (ties keep file order,
//! then row order). How each format maps to events is documented in `docs/events.md` §Importers.

mod bars;
mod deribit_futures;
mod deribit_snapshot;
mod deribit_ticker;
mod funding;
mod table;

use crate::event::{Event, EventError};
use std::fmt;
use std::io::Read;
use std::path::Path;
use thiserror::Error;

/// A source format that can be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Deribit option-chain snapshots (`deribit_options_snapshot_*.csv`) → `option_quote`.
    DeribitSnapshot,
    /// Deribit `public/ticker` dumps (`*_option_data*.csv`) → `option_quote` and `book`.
    DeribitTicker,
    /// Deribit perpetual prices per snapshot (`perpetual_futures_prices.csv`) → `mark`.
    DeribitPerpetual,
    /// Deribit dated-future marks per snapshot (`term_futures_marks.csv`) → `mark`.
    DeribitFutures,
    /// Binance.US 1-minute bars (`binanceus_<PAIR>_<interval>_*.csv`) → `bar`.
    BinanceusBars,
    /// Kraken OHLC bars, headerless (`kraken_<PAIR>_<interval>_*.csv`) → `bar`.
    KrakenBars,
    /// Perpetual funding histories (`<BASE>-<QUOTE>_<venue>_*_funding_history.csv`) → `funding`.
    Funding,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Format; 7] = [
        Format::DeribitSnapshot,
        Format::DeribitTicker,
        Format::DeribitPerpetual,
        Format::DeribitFutures,
        Format::BinanceusBars,
        Format::KrakenBars,
        Format::Funding,
    ];

    /// The CLI name of the format (`deribit-snapshot`, `binanceus-bars`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Format::DeribitSnapshot => "deribit-snapshot",
            Format::DeribitTicker => "deribit-ticker",
            Format::DeribitPerpetual => "deribit-perpetual",
            Format::DeribitFutures => "deribit-futures",
            Format::BinanceusBars => "binanceus-bars",
            Format::KrakenBars => "kraken-bars",
            Format::Funding => "funding",
        }
    }

    /// The format a file's name says it has, or `None` when the name matches none of the patterns above.
    pub fn detect(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        let csv = name.strip_suffix(".csv")?;
        if csv.starts_with("deribit_options_snapshot_") {
            Some(Format::DeribitSnapshot)
        } else if csv.contains("_option_data") {
            Some(Format::DeribitTicker)
        } else if csv == "perpetual_futures_prices" {
            Some(Format::DeribitPerpetual)
        } else if csv == "term_futures_marks" {
            Some(Format::DeribitFutures)
        } else if csv.starts_with("binanceus_") && csv != "binanceus_metadata" {
            Some(Format::BinanceusBars)
        } else if csv.starts_with("kraken_") {
            Some(Format::KrakenBars)
        } else if csv.ends_with("_funding_history") {
            Some(Format::Funding)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a file could not be imported. Displays as `path: ...` or `path:line: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    /// The file cannot be opened or read.
    #[error("{path}: cannot be read: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A row (or the header) is malformed.
    #[error("{path}:{line}: {field}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line number of the row.
        line: u64,
        /// The column (or `header`, `row`) at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file's name does not say what the importer needs (venue, pair, interval, format).
    #[error("{path}: {reason}")]
    Unrecognised {
        /// The file.
        path: String,
        /// What the name lacks.
        reason: String,
    },
}

/// Rows of one reason skipped by an importer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Why the rows made no event.
    pub reason: String,
    /// How many rows.
    pub rows: u64,
}

/// What an importer did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The file, as given.
    pub path: String,
    /// The format it was read as.
    pub format: Format,
    /// Data rows read (header excluded).
    pub rows: u64,
    /// Events made.
    pub events: u64,
    /// Rows that made no event, by reason.
    pub skipped: Vec<Skipped>,
}

impl ImportReport {
    /// Counts one row skipped for `reason`.
    fn skip(&mut self, reason: &str) {
        match self.skipped.iter_mut().find(|s| s.reason == reason) {
            Some(s) => s.rows += 1,
            None => self.skipped.push(Skipped {
                reason: reason.to_owned(),
                rows: 1,
            }),
        }
    }

    /// Rows skipped, all reasons together.
    pub fn skipped_rows(&self) -> u64 {
        self.skipped.iter().map(|s| s.rows).sum()
    }
}

impl fmt::Display for ImportReport {
    /// `path: format: R rows, E events, S skipped (reason: n; ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {} rows, {} events, {} skipped",
            self.path,
            self.format,
            self.rows,
            self.events,
            self.skipped_rows()
        )?;
        if !self.skipped.is_empty() {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|s| format!("{}: {}", s.reason, s.rows))
                .collect();
            write!(f, " ({})", reasons.join("; "))?;
        }
        Ok(())
    }
}

/// The events of one file and what the importer did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Events in file order, each validated.
    pub events: Vec<Event>,
    /// Counts.
    pub report: ImportReport,
}

/// Where an importer puts its events and counts.
pub(crate) struct Sink {
    events: Vec<Event>,
    report: ImportReport,
}

impl Sink {
    /// Counts a data row read.
    pub(crate) fn row(&mut self) {
        self.report.rows += 1;
    }

    /// Adds an event made from the row at `line`, validating it first.
    pub(crate) fn push(&mut self, line: u64, event: Event) -> Result<(), EventError> {
        event.validate().map_err(|e| e.at_line(line))?;
        self.events.push(event);
        self.report.events += 1;
        Ok(())
    }

    /// Counts a row skipped for `reason`.
    pub(crate) fn skip(&mut self, reason: &str) {
        self.report.skip(reason);
    }
}

/// The file name of `path`, which importers read venue, pair and interval from.
pub(crate) fn file_name(path: &Path) -> Result<&str, String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| "has no UTF-8 file name".to_owned())
}

/// Imports one file's bytes from `reader`; `path` names it in errors and gives the venue, pair or
/// interval that some formats take from the file name.
pub fn import_reader(
    format: Format,
    path: &Path,
    reader: impl Read,
) -> Result<Imported, ImportError> {
    let shown = path.display().to_string();
    let mut sink = Sink {
        events: Vec::new(),
        report: ImportReport {
            path: shown.clone(),
            format,
            rows: 0,
            events: 0,
            skipped: Vec::new(),
        },
    };
    let outcome = match format {
        Format::DeribitSnapshot => deribit_snapshot::import(reader, &mut sink),
        Format::DeribitTicker => deribit_ticker::import(reader, &mut sink),
        Format::DeribitPerpetual => deribit_futures::import_perpetual(reader, &mut sink),
        Format::DeribitFutures => deribit_futures::import_term(reader, &mut sink),
        Format::BinanceusBars | Format::KrakenBars => {
            let spec = bars::BarFile::from_path(format, path).map_err(|reason| {
                ImportError::Unrecognised {
                    path: shown.clone(),
                    reason,
                }
            })?;
            bars::import(&spec, reader, &mut sink)
        }
        Format::Funding => {
            let spec = funding::FundingFile::from_path(path).map_err(|reason| {
                ImportError::Unrecognised {
                    path: shown.clone(),
                    reason,
                }
            })?;
            funding::import(&spec, reader, &mut sink)
        }
    };
    match outcome {
        Ok(()) => Ok(Imported {
            events: sink.events,
            report: sink.report,
        }),
        Err(e) => Err(ImportError::Malformed {
            path: shown,
            line: e.line.unwrap_or(0),
            field: e.field,
            reason: e.reason,
        }),
    }
}

/// Opens and imports one file.
pub fn import_file(format: Format, path: &Path) -> Result<Imported, ImportError> {
    let file = std::fs::File::open(path).map_err(|e| ImportError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    import_reader(format, path, std::io::BufReader::new(file))
}

/// The events of several files in one stream, in timestamp order; ties keep the order of `batches`, then
/// the order within each batch (a stable sort).
pub fn merge_by_time(batches: Vec<Vec<Event>>) -> Vec<Event> {
    let mut events: Vec<Event> = batches.into_iter().flatten().collect();
    events.sort_by_key(Event::ts);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_of_the_shared_data_detect_their_formats() {
        let cases = [
            (
                "deribit_options_snapshot_20260105T153329Z.csv",
                Some(Format::DeribitSnapshot),
            ),
            ("btc_option_data_20210209.csv", Some(Format::DeribitTicker)),
            ("eth_option_data.csv", Some(Format::DeribitTicker)),
            (
                "perpetual_futures_prices.csv",
                Some(Format::DeribitPerpetual),
            ),
            ("term_futures_marks.csv", Some(Format::DeribitFutures)),
            (
                "binanceus_BTCUSDC_1m_20230301_20230321.csv",
                Some(Format::BinanceusBars),
            ),
            (
                "kraken_XBTUSDC_1m_20230301_20230321.csv",
                Some(Format::KrakenBars),
            ),
            (
                "BTC-USDT_dydx_2022-01-01_2024-01-01_funding_history.csv",
                Some(Format::Funding),
            ),
            ("binanceus_metadata.csv", None),
            ("snapshot_currency_combos.csv", None),
            ("notes.txt", None),
        ];
        for (name, expected) in cases {
            assert_eq!(Format::detect(Path::new(name)), expected, "{name}");
        }
    }

    #[test]
    fn report_lists_skipped_rows_by_reason() {
        let mut report = ImportReport {
            path: "f.csv".into(),
            format: Format::DeribitPerpetual,
            rows: 3,
            events: 1,
            skipped: Vec::new(),
        };
        report.skip("no price");
        report.skip("no price");
        assert_eq!(
            report.to_string(),
            "f.csv: deribit-perpetual: 3 rows, 1 events, 2 skipped (no price: 2)"
        );
    }
}
