//! The crate's error type: bad configuration or a key that cannot be read, named by field.

use thiserror::Error;

/// What went wrong, in the user's terms: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OracleError {
    /// A configuration value is out of range (`cap_band: must be in (0, 0.5), found 2`).
    #[error("{field}: {reason}")]
    InvalidConfig {
        /// The configuration field (`staleness_ns`, `quorum`, ...).
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A publisher key cannot be read (`publishers[2].key: expected 64 hex digits, found 63`).
    #[error("{field}: {reason}")]
    InvalidKey {
        /// Where the key came from.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A new source beyond the engine's bound on sources.
    #[error(
        "venue/symbol: `{name}` would be source number {limit} + 1; at most {limit} are tracked"
    )]
    TooManySources {
        /// `venue:BASE/QUOTE` of the source refused.
        name: String,
        /// The bound.
        limit: usize,
    },
    /// Events went back in time: the engine only moves forward, as replays must be deterministic.
    #[error("ts: {ts} is before {previous}, the last event seen: events must be in time order")]
    OutOfOrder {
        /// The offending event's instant.
        ts: String,
        /// The latest instant seen before it.
        previous: String,
    },
}

impl OracleError {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> OracleError {
        OracleError::InvalidConfig {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn key(field: &str, reason: impl Into<String>) -> OracleError {
        OracleError::InvalidKey {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
