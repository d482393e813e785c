//! Binance spot market data over WebSocket.
//!
//! The collector connects to the combined-stream endpoint `/stream` and subscribes with
//! `SUBSCRIBE` method frames; market data then arrives wrapped as
//! `{"stream":"btcusdt@trade","data":{...}}`. Raw-stream frames (`/ws/<stream>`, unwrapped) are
//! understood too, so captures of either form parse. Binance pings every 20 s and closes a
//! connection that has not answered within a minute; connections live at most 24 h.
//! Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>

mod normalize;
mod subscribe;
pub mod symbol;
mod wire;

use marketprism_model::{Event, Exchange, MarketType};

pub use subscribe::stream_name;
use symbol::SymbolMap;
use wire::{BinanceEnvelope, BinanceTrade};

use crate::{Channel, Inbound, SubscribeRequest, Subscription, VenueError, VenueProtocol};

/// Production market-data endpoint of Binance spot.
/// Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#general-wss-information>
pub const SPOT_WS_ENDPOINT: &str = "wss://stream.binance.com:9443";

/// The Binance spot protocol for a set of configured symbols.
#[derive(Debug, Clone, Default)]
pub struct BinanceSpot {
    symbols: SymbolMap,
}

impl BinanceSpot {
    /// A protocol instance resolving frames' symbols with `symbols` first.
    pub fn new(symbols: SymbolMap) -> Self {
        BinanceSpot { symbols }
    }

    fn market_event(
        &self,
        event_type: &str,
        payload: &str,
        received_time_ms: i64,
    ) -> Result<Inbound, VenueError> {
        let aggregated = match event_type {
            "trade" => false,
            "aggTrade" => true,
            _ => return Ok(Inbound::Ignored),
        };
        let wire: BinanceTrade<'_> = serde_json::from_str(payload)?;
        let trade = normalize::trade(
            &wire,
            aggregated,
            MarketType::Spot,
            &self.symbols,
            received_time_ms,
        )?;
        Ok(Inbound::Events(vec![Event::Trade(trade)]))
    }
}

impl VenueProtocol for BinanceSpot {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    fn market_type(&self) -> MarketType {
        MarketType::Spot
    }

    fn connect_url(&self, endpoint: &str) -> String {
        format!("{}/stream", endpoint.trim_end_matches('/'))
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        // Both trade channels exist on spot; the match keeps this exhaustive as channels grow.
        for subscription in subscriptions {
            match subscription.channel {
                Channel::Trades | Channel::AggregateTrades => {}
            }
        }
        Ok(subscribe::subscribe_requests(subscriptions))
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        let envelope: BinanceEnvelope<'_> = serde_json::from_str(frame)?;
        if let (Some(stream), Some(data)) = (&envelope.stream, envelope.data) {
            // The stream name's suffix is the event type for every trade stream:
            // `btcusdt@trade`, `btcusdt@aggTrade`.
            let event_type = stream.split_once('@').map_or("", |(_, kind)| kind);
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

#[cfg(test)]
mod tests;
