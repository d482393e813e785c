//! Coinbase Exchange (formerly Coinbase Pro) public market data over WebSocket: trades
//! (`matches`) and books (`level2_batch`: a snapshot, then `l2update`s).
//!
//! Which channels are public: `matches`, `level2_batch`, `ticker` and `heartbeat` need no
//! authentication; `level2`, `level3` and `full` have needed it since August 2023
//! (<https://forums.coinbasecloud.dev/t/level2-level3-and-full-channels-now-require-authentication/4742>,
//! <https://docs.cdp.coinbase.com/exchange/websocket-feed/authentication>). The capture
//! `coinbase.20210417T1643Z` (`wss://ws-feed.pro.coinbase.com`, 2021, before that change)
//! holds `level2` (10 snapshots, 2,414 `l2update`s), `matches` (20 `match`, 10 `last_match`)
//! and `ticker` (30) of ten products; `level2_batch` sends the same messages.
//!
//! Book updates carry no sequence number: Coinbase delivers `level2` in order and drops a
//! connection that falls behind, so every update follows the one before
//! ([`marketprism_book::SyncRule::CoinbaseExchange`]); a lost connection is the only gap.
//! An update is named by its time, raised above the book's last id.
//! `match` carries the product's `sequence` (counting every order event of the product, so
//! it jumps between matches) and `trade_id`, which counts the product's trades without holes.
//! Docs: <https://docs.cdp.coinbase.com/exchange/websocket-feed/channels>

mod normalize;
mod subscribe;
mod wire;

use std::sync::{Mutex, MutexGuard, PoisonError};

use marketprism_book::SyncRule;
use marketprism_model::{Event, Exchange, Listing, MarketType, Symbol};

use crate::coinbase::listing::listing;
use crate::coinbase::symbol;
use crate::{
    CountedMessages, Inbound, MessageScope, Rate, RequestCost, RestBucket, RestCall, RestLimits,
    SubscribeRequest, Subscription, VenueError, VenueProtocol, WsLimits,
};

use wire::Frame;

/// Production public WebSocket endpoint:
/// <https://docs.cdp.coinbase.com/exchange/websocket-feed/overview>.
pub const WS_ENDPOINT: &str = "wss://ws-feed.exchange.coinbase.com";

/// Production REST endpoint: <https://docs.cdp.coinbase.com/exchange/rest-api/requests>.
pub const REST_ENDPOINT: &str = "https://api.exchange.coinbase.com";

/// Coinbase Exchange's WebSocket limits
/// (<https://docs.cdp.coinbase.com/exchange/websocket-feed/rate-limits>): 8 requests per
/// second per IP (bursts up to 20), read as connection requests, and 100 messages sent by
/// the client per second per IP. Its 10 subscriptions per product and channel count
/// duplicates across connections, which a plan never makes. Coinbase documents no number of
/// subscriptions per connection: ours is 100 streams, and as many arguments per request,
/// since the one request of a connection lists each of its streams once.
const WS_LIMITS: WsLimits = WsLimits {
    name: "coinbase_exchange",
    streams_per_connection: 100,
    args_per_request: 100,
    request_bytes: None,
    messages: Rate {
        limit: 100,
        window: std::time::Duration::from_secs(1),
    },
    counted: CountedMessages::EveryFrame,
    message_scope: MessageScope::Ip,
    connections: Rate {
        limit: 8,
        window: std::time::Duration::from_secs(1),
    },
    concurrent_connections: None,
};

/// The Coinbase Exchange protocol for spot products.
///
/// It keeps each book's last id on the connection whose frames it parses, to raise an
/// update's time above it, so each connection needs an instance of its own, as the collector
/// builds them.
#[derive(Debug, Default)]
pub struct CoinbaseExchange {
    ids: Mutex<normalize::BookIds>,
}

impl CoinbaseExchange {
    /// A protocol instance for one connection.
    pub fn new() -> Self {
        CoinbaseExchange::default()
    }

    /// Each book's last id on the connection.
    fn ids(&self) -> MutexGuard<'_, normalize::BookIds> {
        self.ids
            .lock()
            // The last ids are integers, consistent after any panic.
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl VenueProtocol for CoinbaseExchange {
    fn exchange(&self) -> Exchange {
        Exchange::Coinbase
    }

    fn market_type(&self) -> MarketType {
        MarketType::Spot
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::CoinbaseExchange
    }

    fn connect_url(&self, endpoint: &str) -> String {
        endpoint.trim_end_matches('/').to_owned()
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol::to_native(symbol)
    }

    /// Public endpoints allow 10 requests per second per IP (bursts of 15); beyond that
    /// Coinbase answers 429 (<https://docs.cdp.coinbase.com/exchange/rest-api/rate-limits>).
    fn rest_limits(&self) -> RestLimits {
        const LIMITS: RestLimits = RestLimits {
            name: "coinbase_exchange",
            buckets: &[RestBucket {
                name: "public",
                limit: 10,
                window: std::time::Duration::from_secs(1),
            }],
            used_weight_header: None,
            ban: None,
        };
        LIMITS
    }

    fn request_cost(&self, _call: RestCall) -> RequestCost {
        RequestCost {
            bucket: "public",
            weight: 1,
        }
    }

    /// `GET /products`: every product, unpaged.
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        Some(format!("{}/products", rest_endpoint.trim_end_matches('/')))
    }

    /// Every product, trading (`online` and not `trading_disabled`) or not; ids that are
    /// not `BASE-QUOTE` are left out.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let products: Vec<wire::Product<'_>> = serde_json::from_str(body)?;
        Ok(products
            .iter()
            .filter_map(|product| {
                listing(
                    &product.id,
                    &product.base_currency,
                    &product.quote_currency,
                    product.status == "online" && !product.trading_disabled,
                    received_time_ms,
                )
            })
            .collect())
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        subscribe::subscribe_requests(subscriptions)
    }

    fn unsubscribe_frames(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<String>, VenueError> {
        subscribe::unsubscribe_frames(subscriptions)
    }

    fn streams(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        subscribe::streams(subscription)
    }

    fn ws_limits(&self) -> WsLimits {
        WS_LIMITS
    }

    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        subscribe::resubscribe_frames(subscription)
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        match serde_json::from_str(frame)? {
            Frame::Match(trade) | Frame::LastMatch(trade) => {
                let trade = normalize::trade(&trade, received_time_ms)?;
                Ok(Inbound::Events(vec![Event::Trade(trade)]))
            }
            Frame::Snapshot(snapshot) => {
                normalize::snapshot(&snapshot, &mut self.ids(), received_time_ms).map(Inbound::Book)
            }
            Frame::L2update(update) => {
                normalize::update(&update, &mut self.ids(), received_time_ms).map(Inbound::Book)
            }
            Frame::Subscriptions => Ok(Inbound::SubscribeAck {
                request_id: subscribe::SUBSCRIBE_ACK,
            }),
            Frame::Error(error) => Ok(Inbound::Rejected {
                request_id: None,
                reason: match error.reason {
                    Some(reason) => format!("{}: {reason}", error.message),
                    None => error.message,
                },
            }),
            Frame::Other => Ok(Inbound::Ignored),
        }
    }
}

#[cfg(test)]
mod tests;
