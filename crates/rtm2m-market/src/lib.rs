//! # rtm2m-market
//!
//! Market data as rtm2m sees it: the versioned event format (JSON Lines for people, serde types for code)
//! and the importers that turn real exchange data into events. It owns parsing and validation of every
//! event; it must never compute prices, indices or margins.
//!
//! - [`time`]: UTC instants with nanosecond resolution ([`Timestamp`]) and their canonical text.
//! - [`event`]: the event types, their validation, and JSON Lines reading and writing
//!   (format in `docs/events.md`).
//! - [`import`]: one importer per source format (Deribit snapshots, tickers and futures, Binance.US and
//!   Kraken bars, funding histories), and the merge of several files in time order.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod event;
pub mod import;
pub mod time;

pub use event::{read_events, write_event, write_events, Event, EventError, Pair};
pub use time::Timestamp;
