//! The one error type of the crate.

use thiserror::Error;

/// What went wrong, in the user's terms: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// A field of the input is missing, malformed or out of range.
    #[error("{field}: {reason}")]
    InvalidField {
        /// Where: `account acc-1 equity_usd`, `line 3`, `signature`, ...
        field: String,
        /// Why, in words.
        reason: String,
    },
    /// The state has no account with this id.
    #[error("account `{0}` is not in the margin state")]
    UnknownAccount(String),
    /// Two accounts of the state share an id.
    #[error("account `{0}` appears twice in the margin state")]
    DuplicateAccount(String),
    /// A commitment over no account.
    #[error("the margin state has no account")]
    EmptyState,
    /// The liabilities add up past the largest sum a node can carry.
    #[error("total liabilities overflow {max} units (10^-18 USD)")]
    SumOverflow {
        /// The largest sum, units.
        max: u128,
    },
}

impl ProofError {
    /// An [`ProofError::InvalidField`].
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> ProofError {
        ProofError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
