//! # rtm2m-funding
//!
//! Perpetual funding: what a perpetual position pays or receives as time passes, accrued continuously (as
//! Deribit does) or per period (the 8-hour premium-index formula with its clamp). Pure functions of rates,
//! prices and times passed in; it must never read a clock, and it owns no prices: marks, indices and funding
//! histories come in as `rtm2m-market` events.
//!
//! - [`rate`]: funding rates from prices — the premium index and the periodic formula
//!   `F = P + clamp(I − P, −c, +c)` (Binance, BitMEX), Deribit's premium rate with its dead zone, caps.
//! - [`accrual`]: rates over time ([`FundingCurve`], [`FundingHistory`]) and what a position
//!   ([`NotionalPath`]) pays over any interval, continuously or at settlements.
//!
//! Conventions (also in `docs/funding.md`): rates are fractions of notional (0.0001 is 0.01%) for the
//! period they are quoted over; a positive rate means longs pay shorts; notional is signed, in the quote
//! currency (long > 0); an amount "paid" is positive when the position pays and negative when it receives.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod accrual;
pub mod rate;

pub use accrual::{FundingCurve, FundingHistory, NotionalPath, PremiumObservation, RateSegment};
pub use rate::{
    average_premium_index, deribit_rate, implied_premium_range, periodic_rate, premium_index,
    premium_rate, DeribitParams, PeriodicParams, RateCap,
};

use thiserror::Error;

/// Nanoseconds in the 8 hours funding rates are quoted over (Deribit, Binance and most venues).
pub const EIGHT_HOURS_NS: i64 = 8 * 3600 * 1_000_000_000;

/// Bad input to a funding computation: the field at fault and why.
///
/// Displays as `index_price: must be > 0, found 0`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct FundingError {
    /// The argument or element at fault (`mark_price`, `history[12].ts`, `position[3].notional`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FundingError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> FundingError {
        FundingError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

pub(crate) fn finite(field: &str, x: f64) -> Result<f64, FundingError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(FundingError::new(
            field,
            format!("must be a finite number, found {x}"),
        ))
    }
}

pub(crate) fn positive(field: &str, x: f64) -> Result<f64, FundingError> {
    finite(field, x)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(FundingError::new(field, format!("must be > 0, found {x}")))
    }
}

pub(crate) fn non_negative(field: &str, x: f64) -> Result<f64, FundingError> {
    finite(field, x)?;
    if x >= 0.0 {
        Ok(x)
    } else {
        Err(FundingError::new(field, format!("must be ≥ 0, found {x}")))
    }
}
