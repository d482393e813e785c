//! Deribit JSON-RPC v2 subscriptions: `public/subscribe` and `public/unsubscribe` requests
//! listing channels.
//!
//! ```json
//! {"jsonrpc":"2.0","id":1,"method":"public/subscribe","params":{"channels":["book.BTC-PERPETUAL.100ms"]}}
//! ```
//! The reply carries the request's id and lists the subscribed channels:
//! `{"jsonrpc":"2.0","id":1,"result":["book.BTC-PERPETUAL.100ms"]}`.
//! Docs: <https://docs.deribit.com/#public-subscribe>

use marketprism_model::MarketType;

use super::symbol::to_native;
use super::wire::{Request, SubscribeParams};
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// Request ids of resubscriptions, far above those of the initial subscribe requests.
const RESUBSCRIBE_ID: u64 = 1 << 32;

/// Request ids of unsubscriptions, above those of resubscriptions.
const UNSUBSCRIBE_ID: u64 = 1 << 33;

/// The channel of `subscription` on `market_type`: the aggregated `100ms` channels, which
/// unauthenticated connections may subscribe to.
pub(super) fn channel(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<String, VenueError> {
    let name = to_native(market_type, &subscription.symbol);
    match subscription.channel {
        Channel::Trades => Ok(format!("trades.{name}.100ms")),
        Channel::OrderBook => Ok(format!("book.{name}.100ms")),
        Channel::VolatilityIndex => Ok(format!(
            "deribit_volatility_index.{}_usd",
            subscription.symbol.as_str().to_ascii_lowercase()
        )),
        Channel::AggregateTrades
        | Channel::FundingRate
        | Channel::OpenInterest
        | Channel::Liquidations => Err(VenueError::UnsupportedChannel {
            venue: format!("deribit {market_type}"),
            channel: subscription.channel.as_str(),
        }),
    }
}

/// `public/subscribe` requests covering every subscription on `market_type`, with ids
/// counting from 1.
pub(super) fn subscribe_requests(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    requests("public/subscribe", 0, market_type, subscriptions)
}

/// `public/unsubscribe` requests ending every subscription, batched as
/// [`subscribe_requests`] does.
pub(super) fn unsubscribe_frames(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<String>, VenueError> {
    Ok(requests(
        "public/unsubscribe",
        UNSUBSCRIBE_ID,
        market_type,
        subscriptions,
    )?
    .into_iter()
    .map(|request| request.frame)
    .collect())
}

/// `method` requests naming every subscription's channel once, ids counting from
/// `first_id + 1`.
fn requests(
    method: &'static str,
    first_id: u64,
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    let channels = subscriptions
        .iter()
        .map(|subscription| channel(market_type, subscription))
        .collect::<Result<Vec<_>, _>>()?;
    let per_request = super::WS_LIMITS.args_per_request;
    SubscribeRequest::numbered(&channels, per_request, |channels, id| Request {
        jsonrpc: "2.0",
        id: first_id + id,
        method,
        params: SubscribeParams { channels },
    })
}

/// A `public/unsubscribe` then a `public/subscribe` request for one subscription, so that
/// Deribit sends a fresh book snapshot.
pub(super) fn resubscribe_frames(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<Vec<String>, VenueError> {
    let channels = [channel(market_type, subscription)?];
    [
        ("public/unsubscribe", RESUBSCRIBE_ID),
        ("public/subscribe", RESUBSCRIBE_ID + 1),
    ]
    .into_iter()
    .map(|(method, id)| {
        serde_json::to_string(&Request {
            jsonrpc: "2.0",
            id,
            method,
            params: SubscribeParams {
                channels: &channels,
            },
        })
        .map_err(VenueError::from)
    })
    .collect()
}
