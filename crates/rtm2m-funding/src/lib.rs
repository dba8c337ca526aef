//! # rtm2m-funding
//!
//! Perpetual funding: what a perpetual position pays or receives as time passes, accrued continuously (as
//! Deribit does) or per period (the 8-hour premium-index formula with its clamp). Pure functions of rates,
//! prices and times passed in; it must never read a clock.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
