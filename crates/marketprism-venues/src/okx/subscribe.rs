//! OKX v5 subscribe operations: `subscribe`/`unsubscribe` request frames, one argument per
//! channel and instrument (or instrument type, for market-wide channels).
//!
//! ```json
//! {"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"liquidation-orders","instType":"SWAP"}]}
//! ```
//! OKX confirms each argument on its own, echoing it:
//! `{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}`.
//! Docs: <https://www.okx.com/docs-v5/en/#overview-websocket>

use marketprism_model::MarketType;

use super::symbol::to_native;
use super::wire::{Arg, Request};
use crate::{Channel, SubscribeRequest, Subscription, VenueError};

/// The channel name of a subscription on `market_type`, if OKX offers it there: funding
/// rates are of swaps only, open interest of derivatives only.
fn channel_name(market_type: MarketType, channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Trades => Some("trades"),
        Channel::OrderBook => Some("books"),
        Channel::FundingRate => (market_type == MarketType::Perpetual).then_some("funding-rate"),
        Channel::OpenInterest => (market_type != MarketType::Spot).then_some("open-interest"),
        Channel::Liquidations => Some("liquidation-orders"),
        Channel::AggregateTrades | Channel::VolatilityIndex => None,
    }
}

/// OKX's `instType` of `market_type`, for market-wide channels; spot has no liquidations.
fn instrument_type(market_type: MarketType) -> Result<&'static str, VenueError> {
    match market_type {
        MarketType::Perpetual => Ok("SWAP"),
        MarketType::Futures => Ok("FUTURES"),
        MarketType::Options => Ok("OPTION"),
        MarketType::Spot => Err(VenueError::UnsupportedChannel {
            venue: "okx spot".into(),
            channel: Channel::Liquidations.as_str(),
        }),
    }
}

/// The argument subscribing to `subscription` on `market_type`.
fn arg(market_type: MarketType, subscription: &Subscription) -> Result<Arg<'static>, VenueError> {
    let channel =
        channel_name(market_type, subscription.channel).ok_or(VenueError::UnsupportedChannel {
            venue: format!("okx {market_type}"),
            channel: subscription.channel.as_str(),
        })?;
    if subscription.channel == Channel::Liquidations {
        // A market-wide channel: one subscription per instrument type.
        return Ok(Arg {
            channel: channel.into(),
            inst_id: None,
            inst_type: Some(instrument_type(market_type)?.into()),
        });
    }
    Ok(Arg {
        channel: channel.into(),
        inst_id: Some(to_native(market_type, &subscription.symbol).into()),
        inst_type: None,
    })
}

/// The stream `subscription` occupies on a `market_type` connection: its channel and
/// target, e.g. `books:BTC-USDT`, `liquidation-orders:SWAP`.
pub(super) fn stream(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<String, VenueError> {
    let arg = arg(market_type, subscription)?;
    Ok(format!("{}:{}", arg.channel, arg.target()))
}

/// The id of the acknowledgement of one channel subscription: OKX echoes the argument, so
/// the id is a stable hash (FNV-1a) of channel and target (instrument or instrument type).
pub(super) fn ack_id(arg: &Arg<'_>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    [arg.channel.as_bytes(), b"\0", arg.target().as_bytes()]
        .into_iter()
        .flatten()
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
        })
}

/// `subscribe` frames covering every subscription on `market_type`, each confirmed by the
/// echoes of its arguments.
pub(super) fn subscribe_requests(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    requests("subscribe", market_type, subscriptions)
}

/// `unsubscribe` frames ending every subscription, batched as [`subscribe_requests`] does.
pub(super) fn unsubscribe_frames(
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<String>, VenueError> {
    Ok(requests("unsubscribe", market_type, subscriptions)?
        .into_iter()
        .map(|request| request.frame)
        .collect())
}

/// `op` frames (`subscribe`, `unsubscribe`) naming every subscription's argument once.
fn requests(
    op: &'static str,
    market_type: MarketType,
    subscriptions: &[Subscription],
) -> Result<Vec<SubscribeRequest>, VenueError> {
    let mut args: Vec<Arg<'static>> = Vec::with_capacity(subscriptions.len());
    for subscription in subscriptions {
        let arg = arg(market_type, subscription)?;
        // A market-wide channel serves every symbol with one subscription.
        if !args.iter().any(|known| ack_id(known) == ack_id(&arg)) {
            args.push(arg);
        }
    }
    // Channel-argument pairs per request: well under OKX's 64 KB per request.
    args.chunks(super::WS_LIMITS.args_per_request)
        .map(|chunk| {
            let acks = chunk.iter().map(ack_id).collect();
            let request = Request {
                op,
                args: chunk.to_vec(),
            };
            Ok(SubscribeRequest {
                acks,
                frame: serde_json::to_string(&request)?,
            })
        })
        .collect()
}

/// An `unsubscribe` then a `subscribe` frame for one subscription, so that OKX sends a
/// fresh book snapshot.
pub(super) fn resubscribe_frames(
    market_type: MarketType,
    subscription: &Subscription,
) -> Result<Vec<String>, VenueError> {
    let mut frames = Vec::with_capacity(2);
    for op in ["unsubscribe", "subscribe"] {
        let arg = arg(market_type, subscription)?;
        frames.push(serde_json::to_string(&Request {
            op,
            args: vec![arg],
        })?);
    }
    Ok(frames)
}
