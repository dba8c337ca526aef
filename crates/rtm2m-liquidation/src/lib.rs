//! # rtm2m-liquidation
//!
//! Liquidation in rtm2m: what happens to an account once the margin engine finds it below maintenance.
//! This crate owns the decisions — how much of the account to sell, to whom, at what price, who pays when
//! the account's collateral does not cover its losses — and the simulation that measures how liquidations
//! feed back into prices. It must never clock, guess or hide: time enters only through the arguments,
//! randomness only through a seed, every decision comes out as a serde-serialisable
//! [`events::LiquidationEvent`] for the engine to journal, and bad input is an error naming the field, never a
//! NaN and never a panic. It margins with `rtm2m-margin` and never edits an account's risk model.
//!
//! Sign conventions: Derive's signed margins (`margin = equity − requirement`, ≥ 0 healthy) in [`auction`];
//! rtm2m's requirements (≥ 0, `liquidatable` when equity < MM) in [`planner`] and [`cascade`]. The formulas
//! and the event format are documented in `docs/liquidation.md`.
//!
//! ## Contents
//! - [`auction`]: Derive v2's Dutch auction (buffer margin, fee, discount schedule, maximum fraction, bid,
//!   insolvent payout), reproducing Derive's published liquidation vectors.
//! - [`conformance`]: the runner of those vectors.
//! - [`planner`]: liquidation in the market on the `rtm2m` engine: the positions whose closure lowers the
//!   requirement most per unit of cost (spread and price impact), down to a buffer above maintenance.
//! - [`impact`]: price-impact models (linear book depth, square-root law).
//! - [`insurance`]: the insurance fund, bad debt and socialised loss.
//! - [`events`]: the liquidation events.
//! - [`synthetic`]: a synthetic BTC market and a seeded synthetic population of accounts.
//! - [`cascade`]: the liquidation-cascade simulation, continuous against periodic marking.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod auction;
pub mod cascade;
pub mod conformance;
mod error;
pub mod events;
pub mod impact;
pub mod insurance;
pub mod planner;
pub mod synthetic;

pub use error::LiquidationError;
