//! The one error type of the crate.

use rtm2m_pricing::PricingError;
use std::path::PathBuf;

/// What went wrong while margining an account or reading a venue's vector file.
///
/// Every variant names the account (a case name for conformance vectors), the position or field
/// concerned, and the reason, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum MarginError {
    /// An input value has no meaning (non-finite, negative where it must not be, …).
    #[error("account {account}: {position}: {field}: {reason}")]
    InvalidInput {
        /// Account or case name.
        account: String,
        /// Position or part of the account, e.g. `expiry 2 option 0` or `portfolio`.
        position: String,
        /// Field name, e.g. `strike`.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// Market data needed by a position is missing.
    #[error("account {account}: {position}: missing market data: {what}")]
    MissingMarketData {
        /// Account or case name.
        account: String,
        /// Position that needs the data.
        position: String,
        /// What is missing, e.g. `forward for ETH expiry 500400 s`.
        what: String,
    },
    /// Pricing a position failed.
    #[error("account {account}: {position}: pricing failed: {source}")]
    Pricing {
        /// Account or case name.
        account: String,
        /// Position that was being priced.
        position: String,
        /// The pricing core's reason.
        #[source]
        source: PricingError,
    },
    /// A position names an instrument that cannot be parsed or that the market does not know.
    #[error("account {account}: {position}: unknown instrument: {reason}")]
    UnknownInstrument {
        /// Account name.
        account: String,
        /// Position (instrument name as given).
        position: String,
        /// Why the instrument is unknown.
        reason: String,
    },
    /// A position is in an option or future at or past its expiry, which has no settlement in the snapshot.
    #[error("account {account}: {position}: expired without settlement: {reason}")]
    Expired {
        /// Account name.
        account: String,
        /// Position (instrument name).
        position: String,
        /// Expiry and snapshot time.
        reason: String,
    },
    /// A vector file could not be read or does not have the expected shape.
    #[error("{path}: {reason}")]
    VectorFile {
        /// File that was being read.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks that `value` is finite, naming `field` of `position` in `account` otherwise.
pub(crate) fn require_finite(
    account: &str,
    position: &str,
    field: &'static str,
    value: f64,
) -> Result<f64, MarginError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid(
            account,
            position,
            field,
            format!("must be finite, got {value}"),
        ))
    }
}

/// Checks that `value` is finite and ≥ 0.
pub(crate) fn require_non_negative(
    account: &str,
    position: &str,
    field: &'static str,
    value: f64,
) -> Result<f64, MarginError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            account,
            position,
            field,
            format!("must be finite and non-negative, got {value}"),
        ))
    }
}

/// Checks that `value` is finite and > 0.
pub(crate) fn require_positive(
    account: &str,
    position: &str,
    field: &'static str,
    value: f64,
) -> Result<f64, MarginError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            account,
            position,
            field,
            format!("must be finite and positive, got {value}"),
        ))
    }
}

/// Builds an [`MarginError::InvalidInput`].
pub(crate) fn invalid(
    account: &str,
    position: &str,
    field: &'static str,
    reason: String,
) -> MarginError {
    MarginError::InvalidInput {
        account: account.to_owned(),
        position: position.to_owned(),
        field,
        reason,
    }
}
