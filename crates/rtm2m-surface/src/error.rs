//! The crate's error type: what went wrong, in the user's terms.

use thiserror::Error;

/// An input the surface cannot use, or a request it cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SurfaceError {
    /// A field of an input failed validation.
    #[error("{field}: {reason}")]
    Input {
        /// The offending field, as the input spells it (`strike`, `price_currency`, ...).
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A parameter of the configuration is out of its domain.
    #[error("config: {field}: {reason}")]
    Config {
        /// The parameter.
        field: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Nothing to fit: the underlying has no live expiry with quotes.
    #[error("{underlying}: no live expiry with quotes")]
    NoExpiry {
        /// The underlying asset.
        underlying: String,
    },
}
