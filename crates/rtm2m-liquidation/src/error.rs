//! The one error type of the crate.

use rtm2m_margin::MarginError;
use std::path::PathBuf;

/// What went wrong while planning, auctioning or simulating a liquidation, or reading a vector file.
///
/// Every variant names what it concerns (an account, a parameter, a file) and the reason, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum LiquidationError {
    /// An input value has no meaning (non-finite, out of its range, …).
    #[error("{context}: {field}: {reason}")]
    InvalidInput {
        /// What the value belongs to: an account, `auction parameters`, `cascade parameters`, …
        context: String,
        /// Field name, e.g. `buffer_margin_percentage`.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// An auction cannot do what was asked (start above maintenance margin, bid after it ended, …).
    #[error("auction of account {account}: {reason}")]
    Auction {
        /// Account being liquidated.
        account: String,
        /// Why the request is refused.
        reason: String,
    },
    /// The margin engine failed on an account or a market.
    #[error("margin engine: {0}")]
    Margin(#[from] MarginError),
    /// A vector file could not be read or does not have the expected shape.
    #[error("{}: {reason}", path.display())]
    Vectors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Shorthand for [`LiquidationError::InvalidInput`].
pub(crate) fn invalid(context: &str, field: &'static str, reason: String) -> LiquidationError {
    LiquidationError::InvalidInput {
        context: context.to_owned(),
        field,
        reason,
    }
}

/// `value` if finite, else an error naming the field.
pub(crate) fn require_finite(
    context: &str,
    field: &'static str,
    value: f64,
) -> Result<f64, LiquidationError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid(
            context,
            field,
            format!("must be finite, got {value}"),
        ))
    }
}

/// `value` if finite and within `[lo, hi]`, else an error naming the field and the range.
pub(crate) fn require_in(
    context: &str,
    field: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
) -> Result<f64, LiquidationError> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            context,
            field,
            format!("must be finite and in [{lo}, {hi}], got {value}"),
        ))
    }
}

/// `value` if finite and > 0, else an error naming the field.
pub(crate) fn require_positive(
    context: &str,
    field: &'static str,
    value: f64,
) -> Result<f64, LiquidationError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            context,
            field,
            format!("must be finite and positive, got {value}"),
        ))
    }
}
