//! Exchange protocols, one folder per venue.
//!
//! A venue module knows the venue's WebSocket URL layout, the frames that subscribe to its
//! channels, and how to turn the frames it sends into [`marketprism_model::Event`]s. It does no
//! I/O: the collector owns sockets, reconnects and timers, and drives any venue through
//! [`VenueProtocol`]. [`VenueKind`] lists the venues and markets a configuration can name and
//! builds their protocols.
//!
//! Each venue folder has the same files: `mod.rs` (the protocol type and its
//! [`VenueProtocol`] impl, production endpoints), `subscribe.rs` (subscribe frames),
//! `symbol.rs` (instrument names), `wire.rs` (serde mirrors of the venue's JSON),
//! `normalize.rs` (wire types to model events), `poll.rs` where the venue answers polled REST
//! series, `history.rs` (its public trade history, paged by a [`HistoryPager`]),
//! `instruments.rs` (its instrument list as [`marketprism_model::Listing`]s) and `tests.rs`; Binance adds `combined.rs`, its one-pass combined-stream decoder. Coinbase
//! has one such folder per API (`coinbase/advanced`, `coinbase/exchange`) beside the files
//! both share (symbols, times, trade sides, product listings).

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod concatenated;
mod decimal;
pub mod deribit;
mod envelope;
mod error;
pub mod history;
mod limits;
pub mod okx;
mod protocol;
mod registry;

pub use error::{VenueError, VenueErrorKind};
pub use history::{HistoryPager, HistoryRange, Wanted};
pub use limits::{
    BanAnswer, CountedMessages, MessageScope, Rate, RequestCost, RestBucket, RestCall, RestLimits,
    UsedWeightHeader, WsLimits,
};
pub use protocol::{
    refused_symbols, BookMessage, Channel, Inbound, Keepalive, Poll, PollKind, SubscribeRequest,
    Subscription, VenueProtocol,
};
pub use registry::VenueKind;
