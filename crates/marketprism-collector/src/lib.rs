//! The collector: connects to venues, normalizes their frames and publishes the events to
//! JetStream.
//!
//! A venue's instruments are spread over as few connections as its WebSocket limits allow
//! (`sharding.rs`), and each connection sends at the venue's pace. One connection task per
//! venue connection reads frames, parses them with the venue's
//! [`marketprism_venues::VenueProtocol`] and hands events to the publisher over a bounded
//! channel. Connections reconnect with capped, jittered exponential backoff, replace a socket
//! that stays silent past the watchdog, and emit a `gap` event for every subscribed symbol
//! covering each interruption. Order-book messages go through a
//! [`marketprism_book::BookTracker`]: only books the sequencer vouches for are published, and a
//! break is repaired from a REST snapshot or by resubscribing, with a gap over the window.
//! Where a venue numbers trades without holes, a jump is a `trade_id_gap` naming the missing
//! ids. The publisher keeps a bounded window of unacknowledged publishes and republishes (same
//! `Nats-Msg-Id`) until JetStream acknowledges each one.

mod batcher;
mod books;
mod config;
mod connection;
mod continuity;
mod discovery;
mod feed;
mod instruments;
mod metrics;
mod pollers;
mod publisher;
mod resume;
mod service;
mod sharding;
mod snapshots;
pub mod spool;
#[cfg(test)]
mod test_server;

pub use config::{
    BooksConfig, Config, ConnectionConfig, DiscoverConfig, PollConfig, PublishConfig, RestConfig,
    SelectRule, ShardConfig, SpoolConfig, VenueConfig, WhenFull,
};
pub use instruments::{check_symbols, SymbolCheck};
pub use metrics::metrics_exposition;
pub use publisher::PublisherError;
pub use service::{check_configured_symbols, publish_events, publish_with, run, CollectorError};
