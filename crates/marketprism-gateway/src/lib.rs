//! The gateway: MarketPrism's read API over ClickHouse, a service of its own (`marketprism
//! gateway`) with its port, configuration, logs and metrics.
//!
//! * `GET /v1/instruments`: what is recorded, per venue, market and symbol ([`instruments`]);
//! * `GET /v1/coverage`: how complete one feed is in a range, minute by minute, with its gaps
//!   ([`coverage`]);
//! * `GET /v1/replay`: the rows of a range in venue-time order, streamed as NDJSON or CSV,
//!   with gap rows where data is missing ([`replay`]);
//! * `/health` (NATS and ClickHouse), `/ready` and `/metrics`, as every service has them.
//!
//! It only reads: every query runs with `readonly = 1` (or as a user read-only by its
//! profile) and the configured limits ([`source`]). It listens on loopback by default;
//! elsewhere it requires API keys, each with an optional limit ([`auth`]). Parameters are checked before any query ([`params`]); a bad one is answered
//! 400 with a JSON message naming it.

pub mod auth;
mod config;
pub mod coverage;
mod error;
pub mod gaps;
pub mod instruments;
pub mod kind;
mod metrics;
pub mod params;
pub mod replay;
mod service;
pub mod source;
pub mod tables;

pub use config::{Config, QueryConfig};
pub use error::ApiError;
pub use service::{bind, run, GatewayError};
