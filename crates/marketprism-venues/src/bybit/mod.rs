//! Bybit v5 public market data over WebSocket: trades (`publicTrade`) and books
//! (`orderbook.{depth}`, snapshot then deltas with contiguous `u`).
//!
//! Spot and linear perpetuals have separate endpoints (`/v5/public/spot`,
//! `/v5/public/linear`); symbols are concatenated (`BTCUSDT`) on both. A subscribe operation
//! is confirmed by a reply echoing its `req_id`. Bybit drops a connection without a
//! `{"op":"ping"}` every 20 s.
//! Docs: <https://bybit-exchange.github.io/docs/v5/ws/connect>

mod history;
mod instruments;
mod normalize;
mod poll;
mod subscribe;
pub mod symbol;
mod wire;

use marketprism_book::{SyncRule, UpdateKind};
use marketprism_model::{Event, Exchange, Listing, MarketType, Symbol};

use crate::envelope;
use crate::limits::SECOND;
use crate::{
    BanAnswer, CountedMessages, Inbound, Keepalive, MessageScope, Poll, Rate, RequestCost,
    RestBucket, RestCall, RestLimits, SubscribeRequest, Subscription, VenueError, VenueProtocol,
    WsLimits,
};

use symbol::SymbolMap;
use wire::Data;

/// Production public WebSocket endpoint.
pub const WS_ENDPOINT: &str = "wss://stream.bybit.com";

/// Production REST endpoint.
pub const REST_ENDPOINT: &str = "https://api.bybit.com";

/// Book depth subscribed: offered on both spot and linear, and deep enough for top-N books.
pub const BOOK_DEPTH: usize = 200;

/// Bybit's spot WebSocket limits (<https://bybit-exchange.github.io/docs/v5/ws/connect>,
/// <https://bybit-exchange.github.io/docs/v5/rate-limit>): at most 10 topics per subscribe
/// operation; a connection's topics at most 21,000 characters in all; at most 500
/// connections per 5 minutes per WebSocket domain, which spot and linear share, so ours is
/// half of it each; at most 1,000 connections per IP and market. Bybit documents no number
/// of topics per connection and no message rate: ours are 500 topics (about 12,500
/// characters) and 10 frames per second.
const SPOT_WS: WsLimits = WsLimits {
    name: "bybit_spot",
    streams_per_connection: 500,
    args_per_request: 10,
    request_bytes: Some(21_000),
    messages: Rate {
        limit: 10,
        window: SECOND,
    },
    counted: CountedMessages::EveryFrame,
    message_scope: MessageScope::Connection,
    connections: Rate {
        limit: 250,
        window: std::time::Duration::from_secs(300),
    },
    concurrent_connections: Some(1_000),
};

/// Bybit's linear WebSocket limits: spot's, but "no args limit for futures" per operation
/// (same pages); ours is 100 topics per operation.
const LINEAR_WS: WsLimits = WsLimits {
    name: "bybit_linear",
    args_per_request: 100,
    ..SPOT_WS
};

/// The WebSocket limits of `market_type`: spot's, or linear's for perpetuals.
fn ws_limits(market_type: MarketType) -> WsLimits {
    match market_type {
        MarketType::Spot => SPOT_WS,
        _ => LINEAR_WS,
    }
}

/// The Bybit v5 protocol for spot or linear perpetuals.
#[derive(Debug, Clone)]
pub struct Bybit {
    market_type: MarketType,
    symbols: SymbolMap,
}

impl Bybit {
    /// Spot, resolving symbols with `symbols` first.
    pub fn spot(symbols: SymbolMap) -> Self {
        Bybit {
            market_type: MarketType::Spot,
            symbols,
        }
    }

    /// Linear (USDT and USDC settled) perpetuals, resolving symbols with `symbols` first.
    pub fn linear(symbols: SymbolMap) -> Self {
        Bybit {
            market_type: MarketType::Perpetual,
            symbols,
        }
    }
}

impl VenueProtocol for Bybit {
    fn exchange(&self) -> Exchange {
        Exchange::Bybit
    }

    fn market_type(&self) -> MarketType {
        self.market_type
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::Bybit
    }

    fn connect_url(&self, endpoint: &str) -> String {
        let category = match self.market_type {
            MarketType::Spot => "spot",
            _ => "linear",
        };
        format!("{}/v5/public/{category}", endpoint.trim_end_matches('/'))
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol::to_native(symbol)
    }

    /// Bybit allows 600 requests per 5 s and IP across every host and endpoint
    /// (<https://bybit-exchange.github.io/docs/v5/rate-limit>); beyond that it answers 403
    /// "access too frequent" and bans the IP: wait at least 10 minutes, its docs say.
    fn rest_limits(&self) -> RestLimits {
        const LIMITS: RestLimits = RestLimits {
            name: "bybit",
            buckets: &[RestBucket {
                name: "ip",
                limit: 600,
                window: std::time::Duration::from_secs(5),
            }],
            used_weight_header: None,
            ban: Some(BanAnswer {
                status: 403,
                pause: std::time::Duration::from_secs(600),
            }),
        };
        LIMITS
    }

    fn request_cost(&self, _call: RestCall) -> RequestCost {
        RequestCost {
            bucket: "ip",
            weight: 1,
        }
    }

    /// `GET /v5/market/instruments-info` of the `spot` or `linear` category; linear lists
    /// are paged, so the largest page (1,000) is asked for.
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        let query = match self.market_type {
            MarketType::Spot => "category=spot",
            _ => "category=linear&limit=1000",
        };
        Some(format!(
            "{}/v5/market/instruments-info?{query}",
            rest_endpoint.trim_end_matches('/')
        ))
    }

    /// Every symbol of the category, trading or not; on linear only the perpetuals
    /// (`contractType` `LinearPerpetual`), not the dated futures (`BTCUSDT-14AUG26`), as
    /// `instruments.rs` reads them. An answer naming a next page lists only part of the
    /// market and is an error.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let answer: wire::InstrumentsInfoAnswer<'_> = serde_json::from_str(body)?;
        instruments::listings(answer, self.market_type, &self.symbols, received_time_ms)
    }

    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        _now_ms: i64,
    ) -> Result<String, VenueError> {
        poll::url(self.market_type, rest_endpoint, poll)
    }

    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        poll::parse(self.market_type, poll, body, received_time_ms)
    }

    fn keepalive(&self) -> Option<Keepalive> {
        Some(Keepalive {
            every: std::time::Duration::from_secs(20),
            frame: r#"{"op":"ping"}"#,
        })
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
        Ok(vec![subscribe::topic(self.market_type, subscription)?])
    }

    fn ws_limits(&self) -> WsLimits {
        ws_limits(self.market_type)
    }

    fn trade_history(
        &self,
        rest_endpoint: &str,
        range: crate::HistoryRange,
    ) -> Result<Box<dyn crate::HistoryPager>, VenueError> {
        Ok(Box::new(history::BybitPager::new(
            rest_endpoint,
            self.market_type,
            range,
        )?))
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        let (envelope, data) = envelope::decode(frame, wire::Envelope::default())?;
        if let (Some(_), Some(data)) = (&envelope.topic, data) {
            let exchange_time_ms = envelope.ts.unwrap_or(received_time_ms);
            return match data {
                Data::Trades(trades) => Inbound::events_of(
                    &trades,
                    |trade| {
                        normalize::trade(trade, self.market_type, &self.symbols, received_time_ms)
                    },
                    Event::Trade,
                ),
                Data::Ticker(ticker) => normalize::ticker(
                    &ticker,
                    self.market_type,
                    &self.symbols,
                    exchange_time_ms,
                    received_time_ms,
                )
                .map(Inbound::Events),
                Data::Liquidations(records) => Inbound::events_of(
                    &records,
                    |record| {
                        normalize::liquidation(
                            record,
                            self.market_type,
                            &self.symbols,
                            received_time_ms,
                        )
                    },
                    Event::Liquidation,
                ),
                Data::OrderBook(book) => {
                    let kind = match envelope.kind.as_deref() {
                        Some("snapshot") => UpdateKind::Snapshot,
                        Some("delta") => UpdateKind::Delta,
                        _ => return Err(VenueError::unrecognized(frame)),
                    };
                    normalize::book(
                        &book,
                        kind,
                        self.market_type,
                        &self.symbols,
                        envelope.ts,
                        received_time_ms,
                    )
                    .map(Inbound::Book)
                }
                Data::Other => Ok(Inbound::Ignored),
            };
        }
        match (envelope.op.as_deref(), envelope.success) {
            (Some("subscribe"), Some(true)) => match envelope.req_id.as_deref().map(str::parse) {
                Some(Ok(request_id)) => Ok(Inbound::SubscribeAck { request_id }),
                // A reply without our id confirms nothing we can match.
                _ => Ok(Inbound::Ignored),
            },
            (Some("subscribe"), Some(false)) => Ok(Inbound::Rejected {
                request_id: envelope.req_id.as_deref().and_then(|id| id.parse().ok()),
                reason: envelope.ret_msg.unwrap_or_default(),
            }),
            (Some(_), _) => Ok(Inbound::Ignored),
            _ => Err(VenueError::unrecognized(frame)),
        }
    }
}

#[cfg(test)]
mod tests;
