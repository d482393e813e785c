//! The interface between the collector's connection driver and a venue.

use marketprism_book::{BookUpdate, SyncRule};
use marketprism_model::{Event, Exchange, MarketType, RatioKind, Symbol};

use crate::VenueError;

/// A data channel MarketPrism can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Every individual trade.
    Trades,
    /// Trades aggregated per taker order and price (Binance `aggTrade`).
    AggregateTrades,
    /// Order-book snapshots and deltas, for the sequencer.
    OrderBook,
    /// Funding rates of perpetuals (with mark and index prices where the venue sends them).
    FundingRate,
    /// Open interest.
    OpenInterest,
    /// Forced liquidations.
    Liquidations,
    /// Volatility indices (Deribit DVOL); the symbol is the currency.
    VolatilityIndex,
}

impl Channel {
    /// The configuration name of the channel.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Trades => "trades",
            Channel::AggregateTrades => "aggregate_trades",
            Channel::OrderBook => "orderbook",
            Channel::FundingRate => "funding_rate",
            Channel::OpenInterest => "open_interest",
            Channel::Liquidations => "liquidations",
            Channel::VolatilityIndex => "volatility_index",
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

/// A subscribe request frame and the acknowledgements that confirm it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The ids of the [`Inbound::SubscribeAck`]s confirming this frame: one request id for
    /// venues that reply once per request, one id per channel for venues that reply per
    /// channel (OKX).
    pub acks: Vec<u64>,
    /// The text frame to send.
    pub frame: String,
}

/// One order-book message of one instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookMessage {
    /// The instrument's market.
    pub market_type: MarketType,
    /// The instrument.
    pub symbol: Symbol,
    /// The snapshot or delta with the venue's sequence ids.
    pub update: BookUpdate,
}

impl SubscribeRequest {
    /// One request per chunk of `items` (at most `per_request` each), numbered from 1, each
    /// confirmed by the reply that echoes its number; `request` builds the frame's body.
    pub(crate) fn numbered<'a, T, R: serde::Serialize>(
        items: &'a [T],
        per_request: usize,
        request: impl Fn(&'a [T], u64) -> R,
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        items
            .chunks(per_request)
            .zip(1..)
            .map(|(chunk, id)| {
                Ok(SubscribeRequest {
                    acks: vec![id],
                    frame: serde_json::to_string(&request(chunk, id))?,
                })
            })
            .collect()
    }
}

/// What one inbound frame means.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// Market data, normalized.
    Events(Vec<Event>),
    /// An order-book message, to be sequenced before anything is published.
    Book(BookMessage),
    /// The venue confirmed a subscription.
    SubscribeAck {
        /// One of the ids of [`SubscribeRequest::acks`].
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

/// Data a venue publishes over REST only, fetched by polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollKind {
    /// The current funding rate (with mark and index price).
    FundingRate,
    /// Current open interest.
    OpenInterest,
    /// The latest long/short ratio of a period.
    LongShortRatio(RatioKind),
    /// Volatility-index history (Deribit DVOL candles at the `period` resolution).
    VolatilityIndex,
}

impl PollKind {
    /// The configuration name.
    pub const fn as_str(self) -> &'static str {
        match self {
            PollKind::FundingRate => "funding_rate",
            PollKind::OpenInterest => "open_interest",
            PollKind::LongShortRatio(RatioKind::TopPositions) => "long_short_top_positions",
            PollKind::LongShortRatio(RatioKind::TopAccounts) => "long_short_top_accounts",
            PollKind::LongShortRatio(RatioKind::AllAccounts) => "long_short_all_accounts",
            PollKind::VolatilityIndex => "volatility_index",
        }
    }
}

/// One polled series: what, for which instrument, over which statistics period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Poll {
    /// What to fetch.
    pub kind: PollKind,
    /// The instrument.
    pub symbol: Symbol,
    /// Period in Binance notation (`1s`, `5m`, `1h`, `1d`): the statistics period of
    /// long/short ratios, the candle resolution of volatility-index history.
    pub period: String,
}

/// An application-level keepalive frame and its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Send the frame this often.
    pub every: std::time::Duration,
    /// The text frame.
    pub frame: &'static str,
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

    /// How this venue's book messages chain.
    fn sync_rule(&self) -> SyncRule;

    /// An application-level keepalive the venue requires: the frame to send and how often.
    /// WebSocket pings are answered by the connection itself.
    fn keepalive(&self) -> Option<Keepalive> {
        None
    }

    /// Frames that drop and re-establish one subscription, so that a venue sending book
    /// snapshots in the stream sends a fresh one. Replies to them need not be awaited.
    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        let _ = subscription;
        Ok(Vec::new())
    }

    /// For venues whose books start from a REST snapshot ([`SyncRule::snapshot_in_stream`] is
    /// false): the URL of `symbol`'s snapshot covering at least `depth` levels, given the
    /// configured REST endpoint.
    fn book_snapshot_url(
        &self,
        _rest_endpoint: &str,
        _symbol: &Symbol,
        _depth: usize,
    ) -> Option<String> {
        None
    }

    /// The URL that answers `poll` at `now_ms` (history endpoints ask for a window ending
    /// then), given the configured REST endpoint.
    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        now_ms: i64,
    ) -> Result<String, VenueError> {
        let _ = (rest_endpoint, now_ms);
        Err(VenueError::UnsupportedChannel {
            venue: format!("{} {}", self.exchange(), self.market_type()),
            channel: poll.kind.as_str(),
        })
    }

    /// Parses the answer to `poll` into events stamped with the venue's times.
    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        let _ = (poll, received_time_ms);
        Err(VenueError::unrecognized(body))
    }

    /// Parses the body of a REST book snapshot fetched from [`Self::book_snapshot_url`].
    fn parse_book_snapshot(
        &self,
        body: &str,
        _received_time_ms: i64,
    ) -> Result<BookUpdate, VenueError> {
        Err(VenueError::unrecognized(body))
    }
}
