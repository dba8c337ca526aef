//! The one error type of the crate.

/// What went wrong while setting up, running, snapshotting or restoring an engine.
///
/// Rejections of individual input events are not errors: they are output events ([`crate::Rejection`]).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The accounts (genesis) file is malformed: names the place and the reason.
    #[error("accounts file: {place}: {reason}")]
    Genesis {
        /// Where in the file, e.g. `accounts[3] (id desk): positions[0]` or `assets.GOV`.
        place: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A snapshot cannot be decoded (truncated, wrong version, inconsistent).
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// The margin library refused the market built for a tick (a malformed valuation time).
    #[error("market: {0}")]
    Market(String),
    /// Input data (the shared chain files) cannot be read or converted.
    #[error("data: {0}")]
    Data(String),
    /// The worker thread pool could not be built.
    #[error("thread pool: {0}")]
    Threads(String),
}

pub(crate) fn genesis(place: impl Into<String>, reason: impl Into<String>) -> EngineError {
    EngineError::Genesis {
        place: place.into(),
        reason: reason.into(),
    }
}
