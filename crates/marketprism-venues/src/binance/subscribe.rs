//! Binance's live subscription methods: `SUBSCRIBE` request frames and stream names.
//!
//! ```json
//! {"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@aggTrade"],"id":1}
//! ```
//! A `{"result":null,"id":1}` reply confirms. A connection may carry at most 1024 streams and
//! receive at most 5 messages per second, so streams are sent in few, large requests.
//! Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#live-subscribingunsubscribing-to-streams>

use marketprism_model::MarketType;
use serde::Serialize;

use super::symbol::to_native;
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// Every contract's liquidation orders (USDⓈ-M).
const ALL_LIQUIDATIONS: &str = "!forceOrder@arr";

/// Streams per `SUBSCRIBE` request, keeping frames well under Binance's size limits.
const STREAMS_PER_REQUEST: usize = 200;

#[derive(Serialize)]
struct MethodCall<'a> {
    method: &'static str,
    params: &'a [String],
    id: u64,
}

/// The stream name of a subscription, e.g. `btcusdt@aggTrade`; liquidations come from the
/// market-wide `!forceOrder@arr` (one stream for every symbol); `None` for channels Binance
/// has no stream for (open interest is REST-only, volatility indices do not exist).
pub fn stream_name(subscription: &Subscription) -> Option<String> {
    let suffix = match subscription.channel {
        Channel::Trades => "trade",
        Channel::AggregateTrades => "aggTrade",
        Channel::OrderBook => "depth@100ms",
        Channel::FundingRate => "markPrice@1s",
        Channel::Liquidations => return Some(ALL_LIQUIDATIONS.to_owned()),
        Channel::OpenInterest | Channel::VolatilityIndex => return None,
    };
    Some(format!(
        "{}@{suffix}",
        to_native(&subscription.symbol).to_ascii_lowercase()
    ))
}

/// `SUBSCRIBE` frames covering every subscription, with ids counting from 1; a channel
/// `market_type` does not stream is refused.
pub fn subscribe_requests(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    let spot = market_type == MarketType::Spot;
    for subscription in subscriptions {
        match subscription.channel {
            Channel::AggregateTrades | Channel::OrderBook => {}
            Channel::Trades if spot => {}
            Channel::FundingRate | Channel::Liquidations if !spot => {}
            // USDⓈ-M publishes aggregate trades only; open interest is REST-only; spot has
            // no derivatives data.
            Channel::Trades
            | Channel::FundingRate
            | Channel::Liquidations
            | Channel::OpenInterest
            | Channel::VolatilityIndex => {
                return Err(VenueError::UnsupportedChannel {
                    venue: format!("binance {market_type}"),
                    channel: subscription.channel.as_str(),
                })
            }
        }
    }
    let mut streams: Vec<String> = Vec::with_capacity(subscriptions.len());
    for stream in subscriptions.iter().filter_map(stream_name) {
        // A market-wide stream serves every symbol once.
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    SubscribeRequest::numbered(&streams, STREAMS_PER_REQUEST, |params, id| MethodCall {
        method: "SUBSCRIBE",
        params,
        id,
    })
}
