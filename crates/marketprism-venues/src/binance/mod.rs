//! Binance spot and USDⓈ-M futures market data over WebSocket, books bootstrapped over REST.
//!
//! The collector connects to the combined-stream endpoint `/stream` and subscribes with
//! `SUBSCRIBE` method frames; market data then arrives wrapped as
//! `{"stream":"btcusdt@trade","data":{...}}`. Raw-stream frames (`/ws/<stream>`, unwrapped) are
//! understood too, so captures of either form parse. Binance pings every 20 s and closes a
//! connection that has not answered within a minute; connections live at most 24 h.
//! Books: the diff-depth stream is buffered while `GET depth` is fetched, then bridged
//! ([`SyncRule::BinanceSpot`], [`SyncRule::BinanceUsdm`]). `combined.rs` decodes
//! combined-stream frames in one pass; `history.rs` pages the REST trade history;
//! `instruments.rs` reads `exchangeInfo`.
//! Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams> and
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams>

mod combined;
mod history;
mod instruments;
mod limits;
mod normalize;
mod poll;
mod subscribe;
pub mod symbol;
mod wire;

use marketprism_book::{BookUpdate, SyncRule};
use marketprism_model::{Event, Exchange, Listing, MarketType, Symbol};
use serde::de::IgnoredAny;
use serde::Deserialize;

pub use subscribe::stream_name;
use symbol::SymbolMap;
use wire::{
    BinanceDepthSnapshot, BinanceDepthUpdate, BinanceEnvelope, BinanceExchangeInfo,
    BinanceForceOrder, BinanceMarkPrice, BinanceTrade,
};

use crate::{
    HistoryPager, HistoryRange, Inbound, Poll, RequestCost, RestCall, RestLimits, SubscribeRequest,
    Subscription, VenueError, VenueProtocol, WsLimits,
};

/// Production market-data endpoint of Binance spot.
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#general-wss-information>
pub const SPOT_WS_ENDPOINT: &str = "wss://stream.binance.com:9443";

/// Production REST endpoint of Binance spot.
pub const SPOT_REST_ENDPOINT: &str = "https://api.binance.com";

/// Production market-data endpoint of Binance USDⓈ-M futures.
pub const USDM_WS_ENDPOINT: &str = "wss://fstream.binance.com";

/// Production REST endpoint of Binance USDⓈ-M futures.
pub const USDM_REST_ENDPOINT: &str = "https://fapi.binance.com";

/// The Binance protocol of one market (spot or USDⓈ-M perpetuals) for a set of configured
/// symbols.
#[derive(Debug, Clone)]
pub struct Binance {
    market_type: MarketType,
    symbols: SymbolMap,
}

impl Binance {
    /// The spot market, resolving frames' symbols with `symbols` first.
    pub fn spot(symbols: SymbolMap) -> Self {
        Binance {
            market_type: MarketType::Spot,
            symbols,
        }
    }

    /// The USDⓈ-M futures market (perpetuals), resolving frames' symbols with `symbols` first.
    pub fn usdm(symbols: SymbolMap) -> Self {
        Binance {
            market_type: MarketType::Perpetual,
            symbols,
        }
    }

    fn is_spot(&self) -> bool {
        self.market_type == MarketType::Spot
    }

    /// Decodes the market-data payload of an `event_type` event from `deserializer`: the
    /// outer error is the JSON's, the inner one the venue data's.
    fn decode<'de, D: serde::Deserializer<'de>>(
        &self,
        event_type: &str,
        deserializer: D,
        received_time_ms: i64,
    ) -> Result<Result<Inbound, VenueError>, D::Error> {
        let market_type = self.market_type;
        Ok(match event_type {
            "trade" | "aggTrade" => {
                let wire = BinanceTrade::deserialize(deserializer)?;
                let aggregated = event_type == "aggTrade";
                normalize::trade(
                    &wire,
                    aggregated,
                    market_type,
                    &self.symbols,
                    received_time_ms,
                )
                .map(|trade| Inbound::Events(vec![Event::Trade(trade)]))
            }
            "markPriceUpdate" => {
                let wire = BinanceMarkPrice::deserialize(deserializer)?;
                normalize::mark_price(&wire, market_type, &self.symbols, received_time_ms)
                    .map(|rate| Inbound::Events(vec![Event::FundingRate(rate)]))
            }
            "forceOrder" => {
                let wire = BinanceForceOrder::deserialize(deserializer)?;
                // `!forceOrder@arr` reports every contract; only the configured are recorded.
                match self.symbols.recorded(&wire.order.symbol) {
                    None => Ok(Inbound::Ignored),
                    Some(symbol) => symbol
                        .and_then(|symbol| {
                            normalize::force_order(&wire, market_type, symbol, received_time_ms)
                        })
                        .map(|liquidation| Inbound::Events(vec![Event::Liquidation(liquidation)])),
                }
            }
            "depthUpdate" => {
                let wire = BinanceDepthUpdate::deserialize(deserializer)?;
                normalize::depth_update(&wire, market_type, &self.symbols, received_time_ms)
                    .map(Inbound::Book)
            }
            _ => {
                IgnoredAny::deserialize(deserializer)?;
                Ok(Inbound::Ignored)
            }
        })
    }

    /// Decodes a payload given as text.
    fn market_event(
        &self,
        event_type: &str,
        payload: &str,
        received_time_ms: i64,
    ) -> Result<Inbound, VenueError> {
        let mut deserializer = serde_json::Deserializer::from_str(payload);
        let inbound = self.decode(event_type, &mut deserializer, received_time_ms)?;
        deserializer.end()?;
        inbound
    }
}

impl VenueProtocol for Binance {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    fn market_type(&self) -> MarketType {
        self.market_type
    }

    fn sync_rule(&self) -> SyncRule {
        if self.is_spot() {
            SyncRule::BinanceSpot
        } else {
            SyncRule::BinanceUsdm
        }
    }

    fn connect_url(&self, endpoint: &str) -> String {
        format!("{}/stream", endpoint.trim_end_matches('/'))
    }

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol::to_native(symbol)
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
        Ok(vec![subscribe::offered_stream(
            self.market_type,
            subscription,
        )?])
    }

    fn ws_limits(&self) -> WsLimits {
        limits::ws(self.market_type)
    }

    fn rest_limits(&self) -> RestLimits {
        if self.is_spot() {
            limits::SPOT
        } else {
            limits::USDM
        }
    }

    fn request_cost(&self, call: RestCall) -> RequestCost {
        limits::cost(self.market_type, call)
    }

    fn book_snapshot_url(
        &self,
        rest_endpoint: &str,
        symbol: &Symbol,
        depth: usize,
    ) -> Option<String> {
        let path = if self.is_spot() {
            "/api/v3/depth"
        } else {
            "/fapi/v1/depth"
        };
        Some(format!(
            "{}{path}?symbol={}&limit={}",
            rest_endpoint.trim_end_matches('/'),
            symbol::to_native(symbol),
            snapshot_limit(self.market_type, depth)
        ))
    }

    /// `GET /api/v3/exchangeInfo` (spot) or `GET /fapi/v1/exchangeInfo` (USDⓈ-M): every
    /// symbol of the market with its state.
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        let path = if self.is_spot() {
            "/api/v3/exchangeInfo"
        } else {
            "/fapi/v1/exchangeInfo"
        };
        Some(format!("{}{path}", rest_endpoint.trim_end_matches('/')))
    }

    /// Every symbol of the market, trading or not; on USDⓈ-M only the perpetual contracts
    /// (`contractType` `PERPETUAL`), not the quarterly ones (`BTCUSDT_210924`), as
    /// `instruments.rs` reads them.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let info: BinanceExchangeInfo<'_> = serde_json::from_str(body)?;
        instruments::listings(
            info,
            body,
            self.market_type,
            &self.symbols,
            received_time_ms,
        )
    }

    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        _now_ms: i64,
    ) -> Result<String, VenueError> {
        match poll::url(rest_endpoint, poll) {
            Some(url) if !self.is_spot() => Ok(url),
            _ => Err(VenueError::UnsupportedChannel {
                venue: format!("binance {}", self.market_type),
                channel: poll.kind.as_str(),
            }),
        }
    }

    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        poll::parse(poll, body, received_time_ms)
    }

    fn trade_history(
        &self,
        rest_endpoint: &str,
        range: HistoryRange,
    ) -> Result<Box<dyn HistoryPager>, VenueError> {
        Ok(Box::new(history::BinancePager::new(
            rest_endpoint,
            self.market_type,
            range,
        )?))
    }

    fn parse_book_snapshot(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<BookUpdate, VenueError> {
        let wire: BinanceDepthSnapshot<'_> = serde_json::from_str(body)?;
        normalize::depth_snapshot(&wire, received_time_ms)
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        if frame.starts_with(combined::PREFIX) {
            return combined::decode(self, frame, received_time_ms);
        }
        let envelope: BinanceEnvelope<'_> = serde_json::from_str(frame)?;
        if let (Some(stream), Some(data)) = (&envelope.stream, envelope.data) {
            let event_type = combined::event_type(stream);
            return self.market_event(event_type, data.get(), received_time_ms);
        }
        if let Some(event_type) = &envelope.e {
            return self.market_event(event_type, frame, received_time_ms);
        }
        if let Some(error) = envelope.error {
            return Ok(Inbound::Rejected {
                request_id: envelope.id,
                reason: format!("code {}: {}", error.code, error.msg),
            });
        }
        if let (Some(code), Some(msg)) = (envelope.code, envelope.msg) {
            return Ok(Inbound::Rejected {
                request_id: envelope.id,
                reason: format!("code {code}: {msg}"),
            });
        }
        if let Some(request_id) = envelope.id {
            return Ok(Inbound::SubscribeAck { request_id });
        }
        Err(VenueError::unrecognized(frame))
    }
}

/// The smallest `limit` Binance accepts that covers `depth` levels (heavier limits cost more
/// request weight).
fn snapshot_limit(market_type: MarketType, depth: usize) -> usize {
    let limits: &[usize] = match market_type {
        MarketType::Spot => &[5, 10, 20, 50, 100, 500, 1000, 5000],
        _ => &[5, 10, 20, 50, 100, 500, 1000],
    };
    limits
        .iter()
        .copied()
        .find(|limit| *limit >= depth)
        .unwrap_or(limits[limits.len() - 1])
}

#[cfg(test)]
mod tests;
