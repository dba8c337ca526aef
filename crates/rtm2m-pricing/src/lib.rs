//! # rtm2m-pricing
//!
//! The option-pricing core of rtm2m. It owns the mathematics that turns market inputs (spot or forward,
//! strike, expiry, volatility, rates) into premiums and sensitivities, and the inverse map from premiums back
//! to implied volatility. Everything here is a pure function of its arguments: no clock, no I/O, no global
//! state, and randomness only from a seed the caller passes in.
//!
//! It must never guess: inputs that have no meaning give a [`PricingError`] naming the field and the reason,
//! and prices with no implied volatility give an explicit [`IvError`], never a NaN.
//!
//! Units and conventions are documented once, in [`conventions`].
//!
//! ## Contents
//! - [`special`]: error functions (erfc, erfcx), the normal CDF and its inverse, accurate in the tails.
//! - [`black`]: normalised Black, Black-76 and generalised Black–Scholes prices and analytic Greeks.
//! - [`implied_vol`]: implied volatility to machine precision in a few Householder steps.
//! - [`inverse`]: coin-settled (inverse) options as Deribit quotes them.
//! - [`american`]: American options (Leisen–Reimer binomial tree with Richardson extrapolation).
//! - [`monte_carlo`]: seeded Monte Carlo with antithetic and control variates, incl. TWAP settlement.
//! - [`batch`]: struct-of-arrays batch pricing with runtime-dispatched SIMD and multi-core execution.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod american;
pub mod batch;
pub mod black;
pub mod conventions;
mod error;
pub mod implied_vol;
pub mod inverse;
pub mod monte_carlo;
pub mod special;

pub use black::{
    black76_price, black_scholes, black_scholes_price, normalised_black, BsInputs, Greeks,
};
pub use error::{IvError, PricingError};
pub use implied_vol::{implied_vol_black76, implied_vol_black_scholes, implied_vol_normalised};

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionKind {
    /// The right to buy at the strike.
    Call,
    /// The right to sell at the strike.
    Put,
}

impl OptionKind {
    /// +1 for a call, −1 for a put (the θ of Jäckel's notation).
    #[inline]
    pub fn sign(self) -> f64 {
        match self {
            OptionKind::Call => 1.0,
            OptionKind::Put => -1.0,
        }
    }
}
