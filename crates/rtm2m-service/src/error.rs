//! The one error type of the crate.

/// What stopped the service from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The configuration is malformed: names the field and the reason.
    #[error("config: {field}: {reason}")]
    Config {
        /// The field at fault (`listen`, `tokens[2].scope`, ...).
        field: String,
        /// Why.
        reason: String,
    },
    /// The engine refused its setup (accounts file, thread pool).
    #[error("engine: {0}")]
    Engine(#[from] rtm2m_engine::EngineError),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`binding 127.0.0.1:8080`, `creating the data directory`).
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The feeder could not be set up (replay file unreadable, simulator setup).
    #[error("feed: {0}")]
    Feed(String),
    /// A request of the HTTP client or the load benchmark failed.
    #[error("client: {0}")]
    Client(String),
}

pub(crate) fn config_error(field: impl Into<String>, reason: impl Into<String>) -> ServiceError {
    ServiceError::Config {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let what = what.into();
    move |source| ServiceError::Io { what, source }
}
