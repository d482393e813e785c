//! The gateway: MarketPrism's read API over ClickHouse, a service of its own (`marketprism
//! gateway`) with its port, configuration, logs and metrics.
//!
//! * `GET /v1/instruments`: what is recorded, per venue, market and symbol ([`instruments`]);
//! * `GET /v1/coverage`: how complete one feed is in a range, minute by minute, with its gaps
//!   ([`coverage`]);
//! * `GET /v1/replay`: the rows of a range in venue-time order, streamed as NDJSON or CSV,
//!   with gap rows where data is missing ([`replay`]);
//! * `WS /v1/stream`: live events from the event stream, optionally from a time in the
//!   past first, with heartbeats and a bounded buffer per client ([`stream`]);
//! * `GET /v1/status`: each feed's rate and last event, the consumers' lag, open and recent
//!   gaps and the top of each book ([`status`]);
//! * `GET /`: the status page, which shows `/v1/status` and updates every second;
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
mod page;
pub mod params;
pub mod replay;
mod service;
pub mod source;
pub mod status;
pub mod stream;
pub mod tables;

pub use config::{Config, QueryConfig};
pub use error::ApiError;
pub use service::{bind, run, GatewayError};
pub use status::StatusConfig;
pub use stream::LiveConfig;
