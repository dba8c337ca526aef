//! # rtm2m-surface
//!
//! The implied-volatility surface of rtm2m. It owns the step from option quotes to marks: forwards per
//! expiry (futures, else put–call parity, else the interpolated basis), implied volatilities of bid, ask
//! and mid (coin-quoted premiums included), one raw SVI slice per expiry fitted by quasi-explicit
//! calibration on the arbitrage-aware domain, repairs that leave no butterfly or calendar arbitrage on a
//! dense grid, marks with Greeks and a confidence, and the surface's health (age, coverage, index move,
//! `stale` with a stressed add-on). Everything is a pure function of the events and of the valuation times
//! passed in: no clock, no I/O, no randomness.
//!
//! It must never mark against a surface it knows to be stale without saying so, and never turn a quote it
//! cannot invert into a NaN: such quotes are left out with their reason.
//!
//! The method and its choices are documented in `docs/surface.md`.
//!
//! ## Contents
//! - [`svi`]: raw SVI, its derivatives, Durrleman's `g`, Lee's wing bound, the butterfly repair.
//! - [`correction`]: the local B-spline correction of a slice toward the quotes its SVI misses.
//! - [`calibrate`]: the quasi-explicit calibration (exact inner least squares, bounded Nelder–Mead).
//! - [`quotes`]: quotes as the surface keeps them, their implied volatilities and exclusion reasons.
//! - [`forward`]: forwards from futures, put–call parity and basis interpolation.
//! - [`slice`]: one expiry: weights, SVI fit, fit quality.
//! - [`surface`]: one underlying: incremental refits, fallbacks, calendar and butterfly repairs,
//!   interpolation in total variance.
//! - [`health`]: age, coverage, index move, staleness and the stressed add-on.
//! - [`marks`]: marks per instrument with Greeks and confidence.
//! - [`engine`]: events in, surfaces of every underlying out.
//! - [`report`]: per-expiry reports as the CLI writes them.
//! - [`config`]: every tunable, with its default.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod calibrate;
pub mod config;
pub mod correction;
pub mod engine;
pub mod envelope;
mod error;
pub mod forward;
pub mod health;
pub mod marks;
pub mod quotes;
pub mod report;
pub mod slice;
pub mod surface;
pub mod svi;

pub use config::{FitTarget, StaleParams, SurfaceConfig};
pub use engine::{Applied, SurfaceEngine};
pub use error::SurfaceError;
pub use health::SurfaceHealth;
pub use marks::{Mark, MarkBand, Unmarked};
pub use report::SliceReport;
pub use surface::UnderlyingSurface;
pub use svi::SviRaw;
