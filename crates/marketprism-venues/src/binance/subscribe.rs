//! Binance's live subscription methods: `SUBSCRIBE` request frames and stream names.
//!
//! ```json
//! {"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@aggTrade"],"id":1}
//! ```
//! A `{"result":null,"id":1}` reply confirms. A connection may carry at most 1024 streams and
//! receive at most 5 messages per second, so streams are sent in few requests of
//! [`WsLimits::args_per_request`](crate::WsLimits::args_per_request) streams each.
//! Docs: <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#live-subscribingunsubscribing-to-streams>

use marketprism_model::MarketType;
use serde::Serialize;

use super::symbol::to_native;
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// Every contract's liquidation orders (USDⓈ-M).
const ALL_LIQUIDATIONS: &str = "!forceOrder@arr";

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

/// The stream of `subscription` on `market_type`; a channel the market does not stream is
/// refused.
pub(super) fn offered_stream(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<String, VenueError> {
    let spot = market_type == MarketType::Spot;
    let offered = match subscription.channel {
        Channel::AggregateTrades | Channel::OrderBook => true,
        Channel::Trades => spot,
        Channel::FundingRate | Channel::Liquidations => !spot,
        // Open interest is REST-only; volatility indices do not exist.
        Channel::OpenInterest | Channel::VolatilityIndex => false,
    };
    // USDⓈ-M publishes aggregate trades only; spot has no derivatives data.
    stream_name(subscription)
        .filter(|_| offered)
        .ok_or_else(|| VenueError::UnsupportedChannel {
            venue: format!("binance {market_type}"),
            channel: subscription.channel.as_str(),
        })
}

/// `SUBSCRIBE` frames covering every subscription, with ids counting from 1; a channel
/// `market_type` does not stream is refused.
pub fn subscribe_requests(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    requests("SUBSCRIBE", market_type, subscriptions)
}

/// `UNSUBSCRIBE` frames ending every subscription, batched as [`subscribe_requests`] does.
pub(super) fn unsubscribe_frames(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<String>, VenueError> {
    Ok(requests("UNSUBSCRIBE", market_type, subscriptions)?
        .into_iter()
        .map(|request| request.frame)
        .collect())
}

/// `method` frames (`SUBSCRIBE`, `UNSUBSCRIBE`) naming every subscription's stream once.
fn requests(
    method: &'static str,
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    for subscription in subscriptions {
        offered_stream(market_type, subscription)?;
    }
    let mut streams: Vec<String> = Vec::with_capacity(subscriptions.len());
    for stream in subscriptions.iter().filter_map(stream_name) {
        // A market-wide stream serves every symbol once.
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    let per_request = super::limits::ws(market_type).args_per_request;
    SubscribeRequest::numbered(&streams, per_request, |params, id| MethodCall {
        method,
        params,
        id,
    })
}
