//! # rtm2m-oracle
//!
//! Index prices and oracle messages. It owns the aggregation of per-venue prices into one index per
//! underlying (normalised to USD, robust to outliers, de-pegged stablecoins and stale venues, with a
//! confidence interval and an explicit status) and the verification of signed oracle messages. It must never
//! let an unverified message or a degraded index pass as a healthy price.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod index;
pub mod signed;
