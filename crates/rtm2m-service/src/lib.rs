//! # rtm2m-service
//!
//! The service of rtm2m: the real-time engine (`rtm2m-engine`) behind an HTTP + WebSocket API. It owns the
//! edges around the engine — the sockets, the scoped API tokens, the metrics, the embedded dashboard, the
//! journal of applied inputs in the data directory, and the seeded market simulator that feeds a new user's
//! first run — and it must never compute a margin itself (the engine and `rtm2m-margin` do), never log a
//! token, and never panic on a request: bad input gets a JSON error naming the field and the reason, with a
//! 4xx status.
//!
//! One writer thread owns the [`rtm2m_engine::Engine`]; requests and the feeders reach it through a bounded
//! queue; after each batch it publishes an immutable [`view::View`] (read APIs serve from it without
//! touching the engine) and fans the engine's outputs out to WebSocket clients on a broadcast channel.
//!
//! The API, the WebSocket topics, the tokens and the metrics are documented in `docs/service.md`.
//!
//! ## Contents
//! - [`config`]: the service's configuration (`rtm2m.toml`) and its embedded default.
//! - [`auth`]: API tokens with scopes, stored as SHA-256 hashes, compared in constant time.
//! - [`sim`]: the seeded market simulator (jump-diffusion index with volatility regimes, venues of which one
//!   misbehaves, SVI-shaped smiles, trades and account activity).
//! - [`feed`]: what feeds the engine: the simulator, a replayed file or folder, or nothing but the API.
//! - [`writer`]: the writer thread: applies inputs, keeps the market shadow used for account detail, publishes
//!   views and outputs.
//! - [`view`]: the read-only snapshot the API serves.
//! - [`journal`]: the append-only journal of applied inputs in the data directory.
//! - [`metrics`]: counters and histograms in the Prometheus text format.
//! - [`api`]: the HTTP routes; [`ws`]: the WebSocket subscriptions; [`openapi`]: the OpenAPI document and a
//!   checker of JSON values against its schemas.
//! - [`dashboard`]: the embedded dashboard assets.
//! - [`client`]: a small blocking HTTP/1.1 client (CLI, tests, load benchmark); [`bench`]: the load benchmark.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod bench;
pub mod client;
pub mod config;
pub mod dashboard;
mod error;
pub mod feed;
pub mod journal;
pub mod metrics;
pub mod openapi;
pub mod server;
pub mod sim;
pub mod view;
pub mod writer;
pub mod ws;

pub use config::ServiceConfig;
pub use error::ServiceError;
pub use server::{run_blocking, start, Running};
