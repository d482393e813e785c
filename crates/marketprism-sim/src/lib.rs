//! A local Binance spot market-data server for tests, demos and offline runs.
//!
//! It speaks the real protocol: raw streams at `/ws/<stream>` (and `/ws` with live
//! subscriptions), combined streams at `/stream?streams=a/b` (and `/stream`), `SUBSCRIBE`,
//! `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS` method frames with their replies, and server pings.
//! Data comes from a deterministic trade generator (seeded) or from a capture file. A small
//! HTTP control API drops connections on command and reports exactly which trades were
//! written to an open connection, so tests can hold the pipeline to them:
//!
//! * `POST /control/disconnect`: close every open connection;
//! * `GET /control/report`: the [`Report`] as JSON.
//!
//! The simulator shares no code with the collector's parsers, so one cannot hide the other's
//! mistakes.

mod config;
mod generator;
mod protocol;
mod replay;
mod report;
mod server;

pub use config::Config;
pub use report::{Report, SimTrade};
pub use server::{bind, run, SimError};
