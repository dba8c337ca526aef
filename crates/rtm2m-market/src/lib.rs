//! # rtm2m-market
//!
//! Market data as rtm2m sees it: the versioned event format (JSON Lines for people, serde types for code)
//! and the importers that turn real exchange data into events. It owns parsing and validation of every
//! event; it must never compute prices, indices or margins.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
