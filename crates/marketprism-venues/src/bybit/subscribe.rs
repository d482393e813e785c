//! Bybit v5 subscribe operations: `subscribe`/`unsubscribe` frames listing topics.
//!
//! ```json
//! {"op":"subscribe","args":["orderbook.200.BTCUSDT","publicTrade.BTCUSDT"],"req_id":"1"}
//! ```
//! The reply echoes the request id:
//! `{"success":true,"ret_msg":"subscribe","conn_id":"…","req_id":"1","op":"subscribe"}`.
//! Docs: <https://bybit-exchange.github.io/docs/v5/ws/connect>

use marketprism_model::MarketType;

use super::symbol::to_native;
use super::wire::Request;
use super::BOOK_DEPTH;
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// The topic of `subscription` on `market_type` (spot or linear).
pub(super) fn topic(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<String, VenueError> {
    let native = to_native(&subscription.symbol);
    let linear = market_type == MarketType::Perpetual;
    match subscription.channel {
        Channel::Trades => Ok(format!("publicTrade.{native}")),
        Channel::OrderBook => Ok(format!("orderbook.{BOOK_DEPTH}.{native}")),
        // One ticker stream carries both; see `normalize::ticker`.
        Channel::FundingRate | Channel::OpenInterest if linear => Ok(format!("tickers.{native}")),
        Channel::Liquidations if linear => Ok(format!("allLiquidation.{native}")),
        Channel::AggregateTrades
        | Channel::FundingRate
        | Channel::OpenInterest
        | Channel::Liquidations
        | Channel::VolatilityIndex => Err(VenueError::UnsupportedChannel {
            venue: format!("bybit {market_type}"),
            channel: subscription.channel.as_str(),
        }),
    }
}

/// Subscribe operations covering every subscription on `market_type`, with request ids
/// counting from 1.
pub(super) fn subscribe_requests(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    requests("subscribe", "", market_type, subscriptions)
}

/// `unsubscribe` operations ending every subscription, batched as [`subscribe_requests`]
/// does, with request ids `un1`, `un2`, …
pub(super) fn unsubscribe_frames(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<String>, VenueError> {
    Ok(requests("unsubscribe", "un", market_type, subscriptions)?
        .into_iter()
        .map(|request| request.frame)
        .collect())
}

/// `op` operations naming every subscription's topic once, request ids numbered after
/// `id_prefix`.
fn requests(
    op: &'static str,
    id_prefix: &str,
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    let mut topics = Vec::with_capacity(subscriptions.len());
    for subscription in subscriptions {
        let topic = topic(market_type, subscription)?;
        // Funding rate and open interest share the ticker topic.
        if !topics.contains(&topic) {
            topics.push(topic);
        }
    }
    // Bybit spot accepts at most 10 topics per operation.
    let per_request = super::ws_limits(market_type).args_per_request;
    SubscribeRequest::numbered(&topics, per_request, |args, id| Request {
        op,
        args,
        req_id: format!("{id_prefix}{id}"),
    })
}

/// An `unsubscribe` then a `subscribe` operation for one subscription, so that Bybit sends a
/// fresh book snapshot.
pub(super) fn resubscribe_frames(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<Vec<String>, VenueError> {
    let topics = [topic(market_type, subscription)?];
    ["unsubscribe", "subscribe"]
        .into_iter()
        .map(|op| {
            serde_json::to_string(&Request {
                op,
                args: &topics,
                req_id: format!("re{op}"),
            })
            .map_err(VenueError::from)
        })
        .collect()
}
