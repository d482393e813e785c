//! Exchange protocols, one folder per venue.
//!
//! A venue module knows the venue's WebSocket URL layout, the frames that subscribe to its
//! channels, and how to turn the frames it sends into [`marketprism_model::Event`]s. It does no
//! I/O: the collector owns sockets, reconnects and timers, and drives any venue through
//! [`VenueProtocol`].

pub mod binance;
pub mod bybit;
pub mod concatenated;
mod decimal;
pub mod deribit;
mod envelope;
mod error;
pub mod okx;
mod protocol;

pub use error::{VenueError, VenueErrorKind};
pub use protocol::{
    BookMessage, Channel, Inbound, Keepalive, Poll, PollKind, SubscribeRequest, Subscription,
    VenueProtocol,
};
