//! Coinbase Advanced Trade subscribe requests: one channel per request, its products listed.
//!
//! ```json
//! {"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"market_trades"}
//! {"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"level2"}
//! {"type":"subscribe","channel":"heartbeats"}
//! ```
//! Coinbase answers each with a `subscriptions` message listing every subscription of the
//! connection so far; it carries no request id. The `heartbeats` request goes last, so the
//! answer listing `heartbeats` confirms every request before it (a refused product is
//! answered by an `error` frame instead). Coinbase closes channels quiet for 60 to 90 s, which
//! `heartbeats` (a message every second) prevents.
//! Docs: <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-overview>

use super::wire::Request;
use crate::coinbase::symbol::to_native;
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// The acknowledgement id of the `heartbeats` request, the last of a connection's requests.
pub(super) const HEARTBEATS_ACK: u64 = 1;

/// The channel carrying `channel`, or an error for a channel Advanced Trade does not offer.
fn channel_name(channel: Channel) -> Result<&'static str, VenueError> {
    match channel {
        Channel::Trades => Ok("market_trades"),
        Channel::OrderBook => Ok("level2"),
        Channel::AggregateTrades
        | Channel::FundingRate
        | Channel::OpenInterest
        | Channel::Liquidations
        | Channel::VolatilityIndex => Err(VenueError::UnsupportedChannel {
            venue: "coinbase spot".into(),
            channel: channel.as_str(),
        }),
    }
}

/// The streams `subscription` occupies: its channel and product (`level2:BTC-USD`), and the
/// connection's `heartbeats`.
pub(super) fn streams(subscription: &Subscription) -> Result<Vec<String>, VenueError> {
    let channel = channel_name(subscription.channel)?;
    let product = to_native(&subscription.symbol);
    Ok(vec![
        format!("{channel}:{product}"),
        "heartbeats".to_owned(),
    ])
}

/// One request per channel among `subscriptions` (trades, then books), then `heartbeats`,
/// whose answer confirms them all.
pub(super) fn subscribe_requests(
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    for subscription in subscriptions {
        channel_name(subscription.channel)?;
    }
    let mut requests = Vec::new();
    for channel in [Channel::Trades, Channel::OrderBook] {
        let products: Vec<String> = subscriptions
            .iter()
            .filter(|subscription| subscription.channel == channel)
            .map(|subscription| to_native(&subscription.symbol))
            .collect();
        if products.is_empty() {
            continue;
        }
        requests.push(SubscribeRequest {
            acks: Vec::new(),
            frame: frame("subscribe", channel_name(channel)?, &products)?,
        });
    }
    requests.push(SubscribeRequest {
        acks: vec![HEARTBEATS_ACK],
        frame: frame("subscribe", "heartbeats", &[])?,
    });
    Ok(requests)
}

/// One `unsubscribe` request per channel among `subscriptions`; `heartbeats` stays.
pub(super) fn unsubscribe_frames(
    subscriptions: &[Subscription],
) -> Result<Vec<String>, VenueError> {
    let mut frames = Vec::new();
    for channel in [Channel::Trades, Channel::OrderBook] {
        let products: Vec<String> = subscriptions
            .iter()
            .filter(|subscription| subscription.channel == channel)
            .map(|subscription| to_native(&subscription.symbol))
            .collect();
        if !products.is_empty() {
            frames.push(frame("unsubscribe", channel_name(channel)?, &products)?);
        }
    }
    Ok(frames)
}

/// An `unsubscribe` then a `subscribe` request for one subscription, so that Coinbase sends
/// a fresh `level2` snapshot.
pub(super) fn resubscribe_frames(subscription: &Subscription) -> Result<Vec<String>, VenueError> {
    let channel = channel_name(subscription.channel)?;
    let products = [to_native(&subscription.symbol)];
    ["unsubscribe", "subscribe"]
        .into_iter()
        .map(|kind| frame(kind, channel, &products))
        .collect()
}

/// A request of `kind` for `channel` and `products`.
fn frame(
    kind: &'static str,
    channel: &'static str,
    products: &[String],
) -> Result<String, VenueError> {
    Ok(serde_json::to_string(&Request {
        kind,
        product_ids: products,
        channel,
    })?)
}
