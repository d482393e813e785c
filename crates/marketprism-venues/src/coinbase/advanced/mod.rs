//! Coinbase Advanced Trade public market data over WebSocket: trades (`market_trades`), books
//! (`level2`, answered as `l2_data`: a snapshot, then updates) and `heartbeats`.
//!
//! Every message carries `sequence_num`, numbered per connection across every channel and
//! product (see the module `numbering`): a hole means lost messages, and every book of the
//! connection then resynchronizes by resubscribing its `level2`, which brings a fresh snapshot; the
//! outage is recorded as a gap. Book updates are named by their send time, raised above the
//! book's previous id, since numbers restart on every connection. Trade ids count each
//! product's trades, so a hole in them is a trade gap. Public channels need no
//! authentication; USDC products (`BTC-USDC`) are aliases whose data Coinbase publishes
//! under the USD product (`BTC-USD`), so they are not listed.
//! Docs: <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels>

mod normalize;
mod numbering;
mod subscribe;
mod wire;

use std::sync::{Mutex, MutexGuard, PoisonError};

use marketprism_book::SyncRule;
use marketprism_model::{Exchange, Listing, MarketType, Symbol};

use crate::coinbase::listing::listing;
use crate::coinbase::symbol;
use crate::coinbase::time::{millis, nanos};
use crate::{
    CountedMessages, Inbound, MessageScope, Rate, RequestCost, RestBucket, RestCall, RestLimits,
    SubscribeRequest, Subscription, VenueError, VenueProtocol, WsLimits,
};

use numbering::Numbering;

/// Production public WebSocket endpoint (market data):
/// <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-overview>.
pub const WS_ENDPOINT: &str = "wss://advanced-trade-ws.coinbase.com";

/// Production REST endpoint: <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/rest-api>.
pub const REST_ENDPOINT: &str = "https://api.coinbase.com";

/// Coinbase Advanced Trade's WebSocket limits
/// (<https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-rate-limits>):
/// 8 connections per second per IP, and 8 unauthenticated messages per second per IP.
/// Coinbase documents no number of subscriptions per connection or products per request:
/// ours is 100 streams per connection, and as many products per request, since one request
/// per channel lists at most the connection's products.
const WS_LIMITS: WsLimits = WsLimits {
    name: "coinbase_advanced",
    streams_per_connection: 100,
    args_per_request: 100,
    request_bytes: None,
    messages: Rate {
        limit: 8,
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

/// The Coinbase Advanced Trade protocol for spot products.
///
/// It follows the message numbering of the one connection whose frames it parses, so each
/// connection needs an instance of its own (the collector builds one per connection). Frames
/// of two live connections parsed by one instance would interleave two numberings: books
/// would resynchronize needlessly, and a loss on one connection could be hidden by the
/// other's numbers.
#[derive(Debug, Default)]
pub struct CoinbaseAdvanced {
    numbering: Mutex<Numbering>,
}

impl CoinbaseAdvanced {
    /// A protocol that has seen no message yet.
    pub fn new() -> Self {
        CoinbaseAdvanced::default()
    }

    /// The connection's numbering.
    fn numbering(&self) -> MutexGuard<'_, Numbering> {
        self.numbering
            .lock()
            // The numbering is integers, each book's a pair of them, consistent after any
            // panic.
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl VenueProtocol for CoinbaseAdvanced {
    fn exchange(&self) -> Exchange {
        Exchange::Coinbase
    }

    fn market_type(&self) -> MarketType {
        MarketType::Spot
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::CoinbaseAdvanced
    }

    fn connect_url(&self, endpoint: &str) -> String {
        endpoint.trim_end_matches('/').to_owned()
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol::to_native(symbol)
    }

    /// Public endpoints allow 10 requests per second per IP; beyond that Coinbase answers 429
    /// (<https://docs.cloud.coinbase.com/advanced-trade/docs/rest-api-rate-limits>).
    fn rest_limits(&self) -> RestLimits {
        const LIMITS: RestLimits = RestLimits {
            name: "coinbase_advanced",
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

    /// `GET /api/v3/brokerage/market/products`, public and unpaged unless asked for a limit.
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        Some(format!(
            "{}/api/v3/brokerage/market/products",
            rest_endpoint.trim_end_matches('/')
        ))
    }

    /// Every product, trading (`online`, neither `trading_disabled` nor `is_disabled`) or
    /// not, aliases left out (their data comes under the product they alias, `BTC-USDC`
    /// under `BTC-USD`), as are ids that are not `BASE-QUOTE`. An answer with a next page
    /// lists only part of the market and is an error.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let answer: wire::ProductsAnswer<'_> = serde_json::from_str(body)?;
        if answer.pagination.is_some_and(|pages| pages.has_next) {
            return Err(VenueError::Unrecognized(
                "the products answer lists only part of the market (has_next)".into(),
            ));
        }
        Ok(answer
            .products
            .iter()
            .filter(|product| product.alias.is_empty())
            .filter_map(|product| {
                listing(
                    &product.product_id,
                    &product.base_currency_id,
                    &product.quote_currency_id,
                    product.status == "online" && !product.trading_disabled && !product.is_disabled,
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
        let envelope: wire::Envelope<'_> = serde_json::from_str(frame)?;
        if envelope.kind.as_deref() == Some("error") {
            return Ok(Inbound::Rejected {
                request_id: None,
                reason: envelope.message.unwrap_or_default(),
            });
        }
        let (Some(channel), Some(number), Some(timestamp)) = (
            envelope.channel.as_deref(),
            envelope.sequence_num,
            envelope.timestamp.as_deref(),
        ) else {
            return Err(VenueError::unrecognized(frame));
        };
        // A message whose time does not read is dead-lettered unnumbered: the next one then
        // follows a hole, and the books resynchronize.
        let observed = self
            .numbering()
            .observe(number, nanos("timestamp", timestamp)?);
        let events = || {
            envelope
                .events
                .map(|events| events.get())
                .ok_or_else(|| VenueError::unrecognized(frame))
        };
        match channel {
            "market_trades" => {
                let events: Vec<wire::Trades<'_>> = serde_json::from_str(events()?)?;
                normalize::trades(&events, received_time_ms).map(Inbound::Events)
            }
            "l2_data" => {
                let mut numbering = self.numbering();
                let book = events().and_then(|events| {
                    let timestamp_ms = millis("timestamp", timestamp)?;
                    normalize::book(
                        events,
                        &mut numbering,
                        observed,
                        timestamp_ms,
                        received_time_ms,
                    )
                });
                if book.is_err() {
                    // It may have been any book's message: none continues across it.
                    numbering.lose();
                }
                book.map(Inbound::Book)
            }
            "subscriptions" => {
                let events: Vec<wire::Subscriptions<'_>> = serde_json::from_str(events()?)?;
                let confirms_all = events
                    .iter()
                    .any(|event| event.subscriptions.contains_key("heartbeats"));
                Ok(if confirms_all {
                    Inbound::SubscribeAck {
                        request_id: subscribe::HEARTBEATS_ACK,
                    }
                } else {
                    Inbound::Ignored
                })
            }
            // Heartbeats keep quiet channels open; other channels are not recorded.
            _ => Ok(Inbound::Ignored),
        }
    }
}

#[cfg(test)]
mod tests;
