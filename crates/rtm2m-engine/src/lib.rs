//! # rtm2m-engine
//!
//! The real-time engine of rtm2m. It owns the state of a margin system — accounts, positions, balances,
//! listed instruments, index prices, forwards and vols — and changes it only through input events (market
//! data, fills, deposits and withdrawals, new accounts), emitting output events (marks, margin updates,
//! status transitions, liquidation alerts, rejections). Work is incremental: an index tick re-prices the
//! instruments of its underlying and re-margins only the accounts exposed to it; a fill re-margins its
//! account. The same input events give byte-identical outputs and the same state hash whatever the thread
//! count. It must never read the clock (time comes from events), never do I/O (the journal and the CLI do),
//! and never apply an event it rejects.
//!
//! The event formats, the triggers and the state hash are documented in `docs/engine.md`.
//!
//! ## Contents
//! - [`config`]: the accounts file (genesis): grid underlyings, assets, engine parameters, accounts.
//! - [`event`]: input events (market events with `seq`, `fill`, `deposit`, `withdrawal`, `open_account`) and
//!   output events (`mark`, `margin`, `status`, `liquidation_alert`, `rejected`).
//! - [`engine`]: the [`Engine`]: apply, tick, re-margin, publish.
//! - [`codec`]: snapshots and the state hash.
//! - [`synthetic`]: seeded synthetic option chains and account populations for tests and benchmarks.
//! - [`chains`]: the Deribit chains of `../shared/data` (Feb-2026 crash) as a replayable event stream.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod chains;
pub mod codec;
pub mod config;
pub mod engine;
mod error;
pub mod event;
mod margin;
mod scan;
mod screen;
mod state;
pub mod synthetic;
mod workers;

pub use config::Genesis;
pub use engine::{confidence_of, AccountHint, Engine, Verdict};
pub use error::EngineError;
pub use event::{parse_input, Input, InputKind, Output, Status};
pub use state::{Computed, Figures};
pub use workers::Parallelism;
