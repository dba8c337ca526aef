//! # rtm2m-oracle
//!
//! Index prices and oracle messages. It owns the aggregation of per-venue prices into one index per
//! underlying (normalised to USD, robust to outliers, de-pegged stablecoins and stale venues, with a
//! confidence interval and an explicit status) and the verification of signed oracle messages. It must never
//! let an unverified message or a degraded index pass as a healthy price, and it never reads a clock: time
//! comes only from the events it is given, so a replay is bit for bit the same.
//!
//! - [`index`]: the incremental index engine ([`index::IndexEngine`]), its configuration, the aggregation
//!   methods (capped median, median, volume-weighted) and the Pyth-style confidence, as pure functions in
//!   [`index::aggregate`]. Design and defaults: `docs/index.md`.
//! - [`signed`]: verification of signed oracle updates ([`signed::Verifier`]): a publisher registry,
//!   Ed25519 and Ethereum-style secp256k1 signatures, freshness and sequence checks, each rejection with a
//!   stable reason code. Signed bytes and codes: `docs/oracle-messages.md`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod error;
pub mod index;
pub mod signed;

pub use error::OracleError;
