//! Coinbase Exchange subscribe requests: one request naming each channel with its products.
//!
//! ```json
//! {"type":"subscribe","channels":[{"name":"matches","product_ids":["BTC-USD"]},
//!  {"name":"level2_batch","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]}]}
//! ```
//! Coinbase answers with a `subscriptions` message listing the connection's subscriptions,
//! without a request id, or with an `error`. Books come from `level2_batch` (the `level2`
//! updates batched every 50 ms), which is public; `level2` itself has needed authentication
//! since August 2023 (Coinbase answers `level2, level3, and full channels now require
//! authentication`). `heartbeat` sends a message per product every second, so a quiet
//! product does not look like a dead connection.
//! Docs: <https://docs.cdp.coinbase.com/exchange/websocket-feed/overview>

use super::wire::{ChannelRequest, Request};
use crate::coinbase::symbol::to_native;
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// The acknowledgement id of the one subscribe request.
pub(super) const SUBSCRIBE_ACK: u64 = 1;

/// The channel carrying `channel`, or an error for a channel Exchange does not offer.
fn channel_name(channel: Channel) -> Result<&'static str, VenueError> {
    match channel {
        Channel::Trades => Ok("matches"),
        Channel::OrderBook => Ok("level2_batch"),
        Channel::AggregateTrades
        | Channel::FundingRate
        | Channel::OpenInterest
        | Channel::Liquidations
        | Channel::VolatilityIndex => Err(VenueError::UnsupportedChannel {
            venue: "coinbase exchange".into(),
            channel: channel.as_str(),
        }),
    }
}

/// The streams `subscription` occupies: its channel and product (`matches:BTC-USD`), and
/// the product's `heartbeat`.
pub(super) fn streams(subscription: &Subscription) -> Result<Vec<String>, VenueError> {
    let channel = channel_name(subscription.channel)?;
    let product = to_native(&subscription.symbol);
    Ok(vec![
        format!("{channel}:{product}"),
        format!("heartbeat:{product}"),
    ])
}

/// The one request subscribing to every channel among `subscriptions`, and to `heartbeat`
/// for each of their products.
pub(super) fn subscribe_requests(
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    let channels = channels(subscriptions)?;
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![SubscribeRequest {
        acks: vec![SUBSCRIBE_ACK],
        frame: frame("subscribe", &channels)?,
    }])
}

/// The one request ending every channel among `subscriptions`, and `heartbeat` for each of
/// their products.
pub(super) fn unsubscribe_frames(
    subscriptions: &[Subscription],
) -> Result<Vec<String>, VenueError> {
    let channels = channels(subscriptions)?;
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![frame("unsubscribe", &channels)?])
}

/// Every channel among `subscriptions` with its products, then `heartbeat` for all of
/// them; none without subscriptions.
fn channels(subscriptions: &[Subscription]) -> Result<Vec<ChannelRequest>, VenueError> {
    let mut channels: Vec<ChannelRequest> = Vec::new();
    let mut all_products: Vec<String> = Vec::new();
    for subscription in subscriptions {
        let name = channel_name(subscription.channel)?;
        let product = to_native(&subscription.symbol);
        if !all_products.contains(&product) {
            all_products.push(product.clone());
        }
        match channels.iter_mut().find(|channel| channel.name == name) {
            Some(channel) => channel.product_ids.push(product),
            None => channels.push(ChannelRequest {
                name,
                product_ids: vec![product],
            }),
        }
    }
    if !channels.is_empty() {
        channels.push(ChannelRequest {
            name: "heartbeat",
            product_ids: all_products,
        });
    }
    Ok(channels)
}

/// An `unsubscribe` then a `subscribe` request for one subscription, so that Coinbase sends
/// a fresh snapshot.
pub(super) fn resubscribe_frames(subscription: &Subscription) -> Result<Vec<String>, VenueError> {
    let channels = [ChannelRequest {
        name: channel_name(subscription.channel)?,
        product_ids: vec![to_native(&subscription.symbol)],
    }];
    ["unsubscribe", "subscribe"]
        .into_iter()
        .map(|kind| frame(kind, &channels))
        .collect()
}

/// A request of `kind` for `channels`.
fn frame(kind: &'static str, channels: &[ChannelRequest]) -> Result<String, VenueError> {
    Ok(serde_json::to_string(&Request { kind, channels })?)
}
