//! # rtm2m-margin
//!
//! The margin models of rtm2m. This crate owns the arithmetic that turns an account (positions, collateral,
//! cash) and its market data (spot, forwards, rates, vols, oracle confidences) into a maintenance and an
//! initial margin, and it owns the readers of other venues' published test vectors, so that each model can be
//! shown to reproduce that venue's numbers to the last digits. Everything here is a pure function of its
//! inputs: no clock, no randomness, no global state; files are read only by the `vectors` readers and the
//! [`conformance`] runners, at the edge.
//!
//! It must never guess: a missing forward, a non-finite price, an SVI slice with no vol at a strike give a
//! [`MarginError`] naming the account, the position and the reason, never a NaN margin and never a panic.
//! Margins are signed, in the account's quote currency: ≥ 0 is healthy (the Derive convention), except the
//! Deribit portfolio margin, which reports requirements (≥ 0) in coin as Deribit does.
//!
//! The formulas, with each venue's parameter names, are documented in `docs/margin.md`.
//!
//! ## Contents
//! - [`pmrm2`]: Derive v2 PMRM_2 portfolio margin (SVI vols, spot × vol scenarios, skew scenarios, static
//!   discounting, basis, perp, collateral and oracle contingencies) and the reader of its case files.
//! - [`standard`]: per-position standard margin in Derive's SRM shape, with Derive's and Deribit's parameter
//!   presets, and the reader of Derive's SRM test cases.
//! - [`deribit_pm`]: Deribit's portfolio-margin risk matrix (risk vectors, aggregation, pnl offset, worst case,
//!   roll shock, MM and IM) and the reader of `private/pme/simulate` responses.
//! - [`risk_array`]: per-instrument risk arrays over a scenario grid and their position-weighted sum.
//! - [`instrument`]: instrument names (Deribit naming) and expiry calendar arithmetic.
//! - [`market`]: the market snapshot (oracle prices, forwards, rates, mark IVs) and the [`market::VolSource`]
//!   trait.
//! - [`account`]: accounts and portfolios as read from JSON.
//! - [`scenario`]: the `rtm2m` scenario grid (spot × vol, tails, cross-asset joint moves).
//! - [`market_risk`]: per-instrument values, Greeks and risk arrays over the grid, once per market update.
//! - [`haircut`]: dynamic collateral haircuts (EWMA vol, liquidity, concentration).
//! - [`engine`]: equity, the `rtm2m` and standard requirements, status and the per-account report.
//! - [`conformance`]: runs a venue's vector files through the matching model and compares with the published
//!   results.
//! - [`num`]: numbers as the vector files write them (decimal strings, 18-decimal fixed point).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod account;
pub mod conformance;
pub mod deribit_pm;
pub mod engine;
mod error;
pub mod haircut;
pub mod instrument;
pub mod market;
pub mod market_risk;
pub mod num;
pub mod pmrm2;
pub mod risk_array;
pub mod scenario;
pub mod standard;

pub use error::MarginError;
