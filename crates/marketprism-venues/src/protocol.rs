//! The interface between the collector's connection driver and a venue.

use marketprism_model::{Event, Exchange, MarketType, Symbol};

use crate::VenueError;

/// A data channel MarketPrism can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every individual trade.
    Trades,
    /// Trades aggregated per taker order and price (Binance `aggTrade`).
    AggregateTrades,
}

impl Channel {
    /// The configuration name of the channel.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Trades => "trades",
            Channel::AggregateTrades => "aggregate_trades",
        }
    }
}

/// One channel of one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subscription {
    /// What to receive.
    pub channel: Channel,
    /// Which instrument.
    pub symbol: Symbol,
}

/// A subscribe request frame and the id its reply will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The request id the venue echoes in its reply.
    pub request_id: u64,
    /// The text frame to send.
    pub frame: String,
}

/// What one inbound frame means.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Market data, normalized.
    Events(Vec<Event>),
    /// The venue accepted the subscribe request with this id.
    SubscribeAck {
        /// The request id.
        request_id: u64,
    },
    /// The venue refused a request.
    Rejected {
        /// The request id, when the venue echoed one.
        request_id: Option<u64>,
        /// The venue's explanation.
        reason: String,
    },
    /// A documented frame MarketPrism does not record (e.g. a channel the connection also
    /// carries for another consumer).
    Ignored,
}

/// A venue's protocol for one market, as the connection driver sees it.
pub trait VenueProtocol: Send + Sync {
    /// The venue.
    fn exchange(&self) -> Exchange;

    /// The market this protocol instance serves.
    fn market_type(&self) -> MarketType;

    /// The WebSocket URL to connect to, given the configured endpoint (scheme, host, port).
    fn connect_url(&self, endpoint: &str) -> String;

    /// The frames that subscribe to `subscriptions`, each with the request id its reply carries.
    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError>;

    /// Interprets one text frame received at `received_time_ms` (local Unix milliseconds).
    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError>;
}
