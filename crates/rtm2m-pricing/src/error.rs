//! The crate's error types: what went wrong, in the user's terms.

/// An input that has no meaning for pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A field failed validation.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The name of the offending input, as the caller spells it (`spot`, `vol`, ...).
        field: &'static str,
        /// Why it was rejected (`must be positive`, ...).
        reason: &'static str,
    },
}

/// Why a premium has no implied volatility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IvError {
    /// The premium is below the discounted intrinsic value: no volatility, however small, reproduces it.
    #[error("below_intrinsic")]
    BelowIntrinsic,
    /// The premium is at or above the no-arbitrage upper bound (the discounted forward for a call, the
    /// discounted strike for a put), which is reached only with infinite volatility.
    #[error("above_upper_bound")]
    AboveUpperBound,
    /// An input (other than the premium's level) is invalid.
    #[error("invalid: {field}: {reason}")]
    Invalid {
        /// The offending input.
        field: &'static str,
        /// Why it was rejected.
        reason: &'static str,
    },
}

impl IvError {
    /// The short machine-readable reason code (`below_intrinsic`, `above_upper_bound`, `invalid`).
    pub fn code(&self) -> &'static str {
        match self {
            IvError::BelowIntrinsic => "below_intrinsic",
            IvError::AboveUpperBound => "above_upper_bound",
            IvError::Invalid { .. } => "invalid",
        }
    }
}

/// Checks that `value` is finite, naming `field` otherwise.
pub(crate) fn require_finite(field: &'static str, value: f64) -> Result<f64, PricingError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(PricingError::InvalidInput {
            field,
            reason: "must be a finite number",
        })
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn require_positive(field: &'static str, value: f64) -> Result<f64, PricingError> {
    require_finite(field, value)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(PricingError::InvalidInput {
            field,
            reason: "must be positive",
        })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn require_non_negative(field: &'static str, value: f64) -> Result<f64, PricingError> {
    require_finite(field, value)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(PricingError::InvalidInput {
            field,
            reason: "must not be negative",
        })
    }
}

impl From<PricingError> for IvError {
    fn from(e: PricingError) -> Self {
        match e {
            PricingError::InvalidInput { field, reason } => IvError::Invalid { field, reason },
        }
    }
}
