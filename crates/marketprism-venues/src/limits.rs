//! Request limits as the venues publish them.
//!
//! * REST: the buckets a venue counts requests in (a limit per fixed window), what one
//!   request costs in which bucket, and the response header in which the venue reports what
//!   it has counted. The collector and the backfill spend one budget per venue built from
//!   these rules (`marketprism-rest`); the simulator enforces the same numbers.
//! * WebSocket ([`WsLimits`]): how many streams one connection may carry, how many
//!   arguments one subscribe request may list, how many messages a client may send per
//!   window, and how many connections an IP may open per window. The collector plans its
//!   connections and paces what it sends by them; the simulator takes them from here and
//!   refuses what goes beyond them. Where a venue documents no number, the value is ours,
//!   chosen conservatively, and its venue's doc comment says so.

use std::time::Duration;

use crate::PollKind;

/// A kind of REST request, which decides its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestCall {
    /// A book snapshot covering at least `depth` levels (the venue rounds up to the limit it
    /// offers, as the snapshot URL does).
    BookSnapshot {
        /// Levels per side asked for.
        depth: usize,
    },
    /// One answer of a polled series.
    Poll(PollKind),
    /// One page of the venue's public trade history (Binance `aggTrades`, OKX
    /// `history-trades`, Bybit `recent-trade`, Deribit `get_last_trades_by_instrument`).
    TradeHistory,
    /// The list of the market's instruments ([`crate::VenueProtocol::instruments_url`]:
    /// Binance `exchangeInfo`, OKX `public/instruments`, Deribit `get_instruments`, Bybit
    /// `instruments-info`).
    Instruments,
}

/// One counter of a venue: at most `limit` weight per `window`. Windows are fixed and
/// aligned on the Unix epoch (Binance resets its minute counters on the minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestBucket {
    /// The bucket's name, e.g. Binance's `REQUEST_WEIGHT`.
    pub name: &'static str,
    /// Weight allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// What one request costs: `weight` in the bucket named `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCost {
    /// The [`RestBucket::name`] it is counted in.
    pub bucket: &'static str,
    /// Its weight there.
    pub weight: u32,
}

/// A response header in which the venue reports the weight it has counted in a bucket for
/// the requesting IP, e.g. Binance's `X-MBX-USED-WEIGHT-1M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedWeightHeader {
    /// Header name.
    pub name: &'static str,
    /// The [`RestBucket::name`] it reports.
    pub bucket: &'static str,
}

/// An answer by which a venue bans the IP for going beyond its limits, beside the 429 and
/// 418 every venue's client honours: Bybit's 403 "access too frequent".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanAnswer {
    /// The HTTP status of the answer.
    pub status: u16,
    /// How long to send nothing when the answer names no `Retry-After`.
    pub pause: Duration,
}

/// A venue's REST limits for one REST endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestLimits {
    /// The venue and market these limits belong to, e.g. `binance_spot`; processes keep one
    /// budget per REST endpoint and name.
    pub name: &'static str,
    /// Every bucket requests are counted in.
    pub buckets: &'static [RestBucket],
    /// The header reporting used weight, where the venue sends one.
    pub used_weight_header: Option<UsedWeightHeader>,
    /// The venue's own ban answer, where it has one.
    pub ban: Option<BanAnswer>,
}

impl RestLimits {
    /// The bucket named `name`.
    pub fn bucket(&self, name: &str) -> Option<&RestBucket> {
        self.buckets.iter().find(|bucket| bucket.name == name)
    }
}

/// One minute.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);

/// One second.
pub(crate) const SECOND: Duration = Duration::from_secs(1);

/// At most `limit` events in any `window`: a rolling window, which also holds a venue that
/// counts in fixed windows of that length to its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

/// Which frames a client sends count against [`WsLimits::messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountedMessages {
    /// Every frame: requests, keepalives, and WebSocket pings and pongs (Binance counts
    /// "a PING frame, a PONG frame, a JSON controlled message").
    EveryFrame,
    /// Subscribe, unsubscribe and login requests only; keepalives are free (OKX).
    Requests,
}

/// Whose frames one count of [`WsLimits::messages`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageScope {
    /// Each connection has its own count.
    Connection,
    /// Every connection from one IP to the venue shares one count (Coinbase, Deribit).
    Ip,
}

/// A venue's WebSocket limits for one market's endpoint.
///
/// A stream is what the venue counts per connection: a Binance stream name
/// (`btcusdt@depth@100ms`), an OKX channel and instrument, a Bybit topic, a Deribit channel,
/// a Coinbase channel and product ([`crate::VenueProtocol::streams`] names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsLimits {
    /// The venue and market, e.g. `binance_spot`; markets sharing an endpoint and its
    /// limits share the name (`okx`, `deribit`), and a collector keeps one connection
    /// count per endpoint and name.
    pub name: &'static str,
    /// Streams one connection may carry.
    pub streams_per_connection: usize,
    /// Arguments (streams, topics, channels, products) one subscribe request may list; the
    /// venue's `subscribe_requests` never lists more.
    pub args_per_request: usize,
    /// The largest subscribe request, in bytes of its text frame, where the venue caps it.
    pub request_bytes: Option<usize>,
    /// Messages a client may send per window.
    pub messages: Rate,
    /// Which frames count against `messages`.
    pub counted: CountedMessages,
    /// Whether `messages` counts per connection or per IP.
    pub message_scope: MessageScope,
    /// New connections an IP may open per window; attempts count, refused ones too.
    pub connections: Rate,
    /// Connections an IP may hold open at once, where the venue caps them.
    pub concurrent_connections: Option<usize>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use marketprism_model::Symbol;
    use serde_json::Value;

    use crate::{Channel, Subscription, VenueKind};

    use super::*;

    /// The arguments a subscribe frame lists, whichever venue wrote it: Binance `params`,
    /// OKX and Bybit `args`, Deribit `params.channels`, Coinbase Advanced Trade
    /// `product_ids`, Coinbase Exchange each channel's `product_ids`.
    fn arguments(frame: &str) -> usize {
        let request: Value = serde_json::from_str(frame).expect("a JSON request");
        let length = |value: &Value| value.as_array().map_or(0, Vec::len);
        let per_channel: usize = request["channels"].as_array().map_or(0, |channels| {
            channels.iter().map(|c| length(&c["product_ids"])).sum()
        });
        length(&request["params"])
            + length(&request["args"])
            + length(&request["params"]["channels"])
            + length(&request["product_ids"])
            + per_channel
    }

    /// Filling one connection of every venue up to its stream limit, with every channel the
    /// venue offers and long instrument names, takes subscribe requests that each list at
    /// most the venue's arguments per request and fit its request size.
    #[test]
    fn a_full_connection_subscribes_within_every_venue_s_request_limits() {
        let channels = [
            Channel::Trades,
            Channel::AggregateTrades,
            Channel::OrderBook,
            Channel::FundingRate,
            Channel::OpenInterest,
            Channel::Liquidations,
        ];
        for kind in VenueKind::ALL {
            let protocol = kind.protocol(&[]);
            let limits = protocol.ws_limits();
            let subscriptions_of = |index: usize| -> Vec<Subscription> {
                let symbol: Symbol = format!("LONGNAMED{index:05}-USDT")
                    .parse()
                    .expect("a symbol");
                channels
                    .iter()
                    .map(|&channel| Subscription {
                        channel,
                        symbol: symbol.clone(),
                    })
                    .filter(|subscription| protocol.streams(subscription).is_ok())
                    .collect()
            };
            let mut streams = BTreeSet::new();
            let mut subscriptions = Vec::new();
            for index in 0.. {
                let more = subscriptions_of(index);
                let mut with_more = streams.clone();
                for subscription in &more {
                    with_more.extend(protocol.streams(subscription).expect("offered"));
                }
                if with_more.len() > limits.streams_per_connection {
                    break;
                }
                streams = with_more;
                subscriptions.extend(more);
            }
            assert!(
                streams.len() + 4 > limits.streams_per_connection,
                "{kind:?}: {} streams",
                streams.len()
            );
            let requests = protocol
                .subscribe_requests(&subscriptions)
                .expect("requests");
            for request in requests {
                let listed = arguments(&request.frame);
                assert!(
                    listed <= limits.args_per_request,
                    "{kind:?}: {listed} arguments"
                );
                if let Some(bytes) = limits.request_bytes {
                    assert!(request.frame.len() <= bytes, "{kind:?}");
                }
            }
        }
    }

    /// Every cost a protocol names is counted in one of its buckets, and no single request
    /// weighs more than its bucket allows per window.
    #[test]
    fn every_cost_falls_in_a_bucket_of_its_venue() {
        let polls = [
            PollKind::FundingRate,
            PollKind::OpenInterest,
            PollKind::LongShortRatio(marketprism_model::RatioKind::TopPositions),
            PollKind::LongShortRatio(marketprism_model::RatioKind::TopAccounts),
            PollKind::LongShortRatio(marketprism_model::RatioKind::AllAccounts),
            PollKind::VolatilityIndex,
        ];
        for kind in VenueKind::ALL {
            let protocol = kind.protocol(&[]);
            let limits = protocol.rest_limits();
            let calls = [1, 100, 101, 500, 1000, 1001, 5000]
                .map(|depth| RestCall::BookSnapshot { depth })
                .into_iter()
                .chain(polls.map(RestCall::Poll))
                .chain([RestCall::TradeHistory, RestCall::Instruments]);
            for call in calls {
                let cost = protocol.request_cost(call);
                let bucket = limits
                    .bucket(cost.bucket)
                    .unwrap_or_else(|| panic!("{kind:?} {call:?}: no bucket {}", cost.bucket));
                assert!(
                    cost.weight >= 1 && cost.weight <= bucket.limit,
                    "{kind:?} {call:?}"
                );
            }
            if let Some(header) = limits.used_weight_header {
                assert!(limits.bucket(header.bucket).is_some(), "{kind:?}");
            }
        }
    }
}
