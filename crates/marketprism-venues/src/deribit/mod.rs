//! Deribit market data over JSON-RPC v2 WebSocket: trades and books
//! (`book.{instrument}.100ms`, snapshot then changes chained by `prev_change_id`).
//!
//! Unauthenticated connections may subscribe to the aggregated `100ms` channels (the `raw`
//! ones need authorization). Subscriptions are confirmed by the reply to `public/subscribe`,
//! listing the channels. Prices and amounts are JSON numbers; they are read from the frame's
//! text, so no binary floating point sits between Deribit and the stored decimal.
//! DVOL history comes from `public/get_volatility_index_data` over REST.
//! Docs: <https://docs.deribit.com/#subscriptions>

mod history;
mod instruments;
mod normalize;
mod poll;
mod subscribe;
pub mod symbol;
mod wire;

use marketprism_book::SyncRule;
use marketprism_model::{Event, Exchange, Listing, MarketType, Symbol};

use crate::limits::SECOND;
use crate::{
    CountedMessages, Inbound, MessageScope, Poll, Rate, RequestCost, RestBucket, RestCall,
    RestLimits, SubscribeRequest, Subscription, VenueError, VenueProtocol, WsLimits,
};

/// Production WebSocket endpoint.
pub const WS_ENDPOINT: &str = "wss://www.deribit.com";

/// Production REST endpoint.
pub const REST_ENDPOINT: &str = "https://www.deribit.com";

/// Deribit's WebSocket limits, the same for every market of `/ws/api/v2`: at most 32
/// connections open per IP at once, HTTP requests included, the 33rd refused with a 429
/// (<https://docs.deribit.com/articles/connection-management-best-practices>); requests
/// other than orders cost credits refilled at 20 requests per second with bursts of 100,
/// heartbeats and test requests included, and a request finding no credit is answered
/// `too_many_requests` (10028) and its session terminated
/// (<https://support.deribit.com/hc/en-us/articles/25944617523357-Rate-Limits>); public
/// requests are counted per IP, so ours is 20 per second over every connection. Deribit
/// documents no number of channels per connection or per request, nor a connection rate:
/// ours are 500 channels per connection, 200 per `public/subscribe` and 5 new connections
/// per second.
pub(crate) const WS_LIMITS: WsLimits = WsLimits {
    name: "deribit",
    streams_per_connection: 500,
    args_per_request: 200,
    request_bytes: None,
    messages: Rate {
        limit: 20,
        window: SECOND,
    },
    counted: CountedMessages::EveryFrame,
    message_scope: MessageScope::Ip,
    connections: Rate {
        limit: 5,
        window: SECOND,
    },
    concurrent_connections: Some(32),
};

/// The Deribit protocol for one market.
#[derive(Debug, Clone)]
pub struct Deribit {
    market_type: MarketType,
}

impl Deribit {
    /// The protocol for `market_type` instruments.
    pub fn new(market_type: MarketType) -> Self {
        Deribit { market_type }
    }
}

impl VenueProtocol for Deribit {
    fn exchange(&self) -> Exchange {
        Exchange::Deribit
    }

    fn market_type(&self) -> MarketType {
        self.market_type
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::Deribit
    }

    fn connect_url(&self, endpoint: &str) -> String {
        format!("{}/ws/api/v2", endpoint.trim_end_matches('/'))
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol::to_native(self.market_type, symbol)
    }

    fn in_instrument_list(&self, symbol: &Symbol) -> bool {
        symbol::from_native(&self.native_symbol(symbol))
            .is_ok_and(|(market_type, _)| market_type == self.market_type)
    }

    /// Deribit meters non-matching-engine requests in credits: each costs 500, the pool
    /// holds 50,000 and refills 10,000 per second (<https://docs.deribit.com/#rate-limits>),
    /// i.e. 20 requests per second sustained, which is the budget kept here.
    /// `public/get_instruments` has a limit of its own: 1 request per second sustained
    /// (<https://docs.deribit.com/#public-get_instruments>).
    fn rest_limits(&self) -> RestLimits {
        const SECOND: std::time::Duration = std::time::Duration::from_secs(1);
        const LIMITS: RestLimits = RestLimits {
            name: "deribit",
            buckets: &[
                RestBucket {
                    name: "non_matching_engine",
                    limit: 20,
                    window: SECOND,
                },
                RestBucket {
                    name: "get_instruments",
                    limit: 1,
                    window: SECOND,
                },
            ],
            used_weight_header: None,
            ban: None,
        };
        LIMITS
    }

    fn request_cost(&self, call: RestCall) -> RequestCost {
        let bucket = match call {
            RestCall::Instruments => "get_instruments",
            _ => "non_matching_engine",
        };
        RequestCost { bucket, weight: 1 }
    }

    /// `GET /api/v2/public/get_instruments` of every currency and the market's kind:
    /// `future` (perpetuals are futures on Deribit), `option` or `spot`.
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        let kind = match self.market_type {
            MarketType::Perpetual | MarketType::Futures => "future",
            MarketType::Options => "option",
            MarketType::Spot => "spot",
        };
        Some(format!(
            "{}/api/v2/public/get_instruments?currency=any&kind={kind}",
            rest_endpoint.trim_end_matches('/')
        ))
    }

    /// The instruments of this market, active (`is_active`) or not: of the futures answer,
    /// the perpetuals for the perpetual market and the dated futures for the futures market,
    /// as their names tell ([`symbol::from_native`]); `instruments.rs` reads them.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let result = wire::rest_result(body)?;
        let instruments: Vec<wire::Instrument<'_>> = serde_json::from_str(result.get())?;
        instruments::listings(&instruments, self.market_type, received_time_ms)
    }

    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        now_ms: i64,
    ) -> Result<String, VenueError> {
        poll::url(self.market_type, rest_endpoint, poll, now_ms)
    }

    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        poll::parse(poll, body, received_time_ms)
    }

    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        subscribe::resubscribe_frames(self.market_type, subscription)
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        subscribe::subscribe_requests(self.market_type, subscriptions)
    }

    fn unsubscribe_frames(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<String>, VenueError> {
        subscribe::unsubscribe_frames(self.market_type, subscriptions)
    }

    fn streams(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        Ok(vec![subscribe::channel(self.market_type, subscription)?])
    }

    fn ws_limits(&self) -> WsLimits {
        WS_LIMITS
    }

    fn trade_history(
        &self,
        rest_endpoint: &str,
        range: crate::HistoryRange,
    ) -> Result<Box<dyn crate::HistoryPager>, VenueError> {
        Ok(Box::new(history::DeribitPager::new(
            rest_endpoint,
            self.market_type,
            range,
        )))
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        let envelope: wire::Envelope<'_> = serde_json::from_str(frame)?;
        if let Some(error) = envelope.error {
            return Ok(Inbound::Rejected {
                request_id: envelope.id,
                reason: format!("code {}: {}", error.code, error.message),
            });
        }
        if let (Some(request_id), Some(_)) = (envelope.id, envelope.result) {
            return Ok(Inbound::SubscribeAck { request_id });
        }
        match (envelope.method.as_deref(), envelope.params) {
            (Some("subscription"), Some(params)) => {
                let (Some(channel), Some(data)) = (params.channel, params.data) else {
                    return Err(VenueError::unrecognized(frame));
                };
                if channel.starts_with("trades.") {
                    let trades: Vec<wire::Trade<'_>> = serde_json::from_str(data.get())?;
                    Inbound::events_of(
                        &trades,
                        |trade| normalize::trade(trade, received_time_ms),
                        Event::Trade,
                    )
                } else if channel.starts_with("deribit_volatility_index.") {
                    let index: wire::VolatilityIndex<'_> = serde_json::from_str(data.get())?;
                    normalize::volatility_index(&index, received_time_ms)
                        .map(|index| Inbound::Events(vec![Event::VolatilityIndex(index)]))
                } else if channel.starts_with("book.") {
                    let book: wire::Book<'_> = serde_json::from_str(data.get())?;
                    normalize::book(&book, received_time_ms).map(Inbound::Book)
                } else {
                    Ok(Inbound::Ignored)
                }
            }
            // `heartbeat` notifications; the connection driver answers test requests.
            (Some(_), _) => Ok(Inbound::Ignored),
            _ => Err(VenueError::unrecognized(frame)),
        }
    }
}

#[cfg(test)]
mod tests;
