//! OKX v5 public market data over WebSocket: trades and `books` (snapshot + updates with a
//! CRC32 checksum, chained by `prevSeqId`).
//!
//! One endpoint (`/ws/v5/public`) serves every market; the instrument id names the market:
//! `BTC-USDT` (spot), `BTC-USDT-SWAP` (perpetual), `BTC-USD-220527` (futures),
//! `BTC-USD-220624-20000-C` (options). Subscriptions are confirmed one channel at a time with
//! `{"event":"subscribe","arg":{...}}`. OKX closes a connection silent for 30 s; clients
//! send the text `ping` and receive `pong`.
//! Docs: <https://www.okx.com/docs-v5/en/#overview-websocket>

pub mod symbol;
mod wire;

use compact_str::CompactString;
use marketprism_book::{BookUpdate, SyncRule, UpdateKind};
use marketprism_model::{
    Decimal, Event, Exchange, FundingRate, Liquidation, LongShortRatio, MarketType, OpenInterest,
    RatioKind, Side, Symbol, Trade,
};

use crate::decimal::{decimal, levels};
use crate::envelope;
use crate::{
    BookMessage, Channel, Inbound, Keepalive, Poll, PollKind, SubscribeRequest, Subscription,
    VenueError, VenueProtocol,
};

use wire::Data;

/// Production public WebSocket endpoint.
pub const WS_ENDPOINT: &str = "wss://ws.okx.com:8443";

/// Production REST endpoint.
pub const REST_ENDPOINT: &str = "https://www.okx.com";

/// Channel-argument pairs per `subscribe` request; OKX caps a request at 64 KiB.
const ARGS_PER_REQUEST: usize = 100;

/// The OKX protocol for one market.
#[derive(Debug, Clone)]
pub struct Okx {
    market_type: MarketType,
}

impl Okx {
    /// The protocol for `market_type` instruments.
    pub fn new(market_type: MarketType) -> Self {
        Okx { market_type }
    }

    fn arg(&self, subscription: &Subscription) -> Result<wire::Arg<'static>, VenueError> {
        let channel = channel_name(subscription.channel).ok_or(VenueError::UnsupportedChannel {
            venue: format!("okx {}", self.market_type),
            channel: subscription.channel.as_str(),
        })?;
        if subscription.channel == Channel::Liquidations {
            // A market-wide channel: one subscription per instrument type.
            return Ok(wire::Arg {
                channel: channel.into(),
                inst_id: None,
                inst_type: Some(self.instrument_type()?.into()),
            });
        }
        Ok(wire::Arg {
            channel: channel.into(),
            inst_id: Some(symbol::to_native(self.market_type, &subscription.symbol).into()),
            inst_type: None,
        })
    }

    /// OKX's `instType` of this market, for market-wide channels; spot has no liquidations.
    fn instrument_type(&self) -> Result<&'static str, VenueError> {
        match self.market_type {
            MarketType::Perpetual => Ok("SWAP"),
            MarketType::Futures => Ok("FUTURES"),
            MarketType::Options => Ok("OPTION"),
            MarketType::Spot => Err(VenueError::UnsupportedChannel {
                venue: "okx spot".into(),
                channel: Channel::Liquidations.as_str(),
            }),
        }
    }
}

/// The channel name of a subscription, if OKX offers it.
fn channel_name(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Trades => Some("trades"),
        Channel::OrderBook => Some("books"),
        Channel::FundingRate => Some("funding-rate"),
        Channel::OpenInterest => Some("open-interest"),
        Channel::Liquidations => Some("liquidation-orders"),
        Channel::AggregateTrades | Channel::VolatilityIndex => None,
    }
}

/// The id of the acknowledgement of one channel subscription: OKX echoes the argument, so
/// the id is a stable hash (FNV-1a) of channel and target (instrument or instrument type).
fn ack_id(arg: &wire::Arg<'_>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    [arg.channel.as_bytes(), b"\0", arg.target().as_bytes()]
        .into_iter()
        .flatten()
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
        })
}

fn millis(field: &'static str, value: &str) -> Result<i64, VenueError> {
    value.parse().map_err(|_| VenueError::Decimal {
        field,
        value: value.to_owned(),
    })
}

impl VenueProtocol for Okx {
    fn exchange(&self) -> Exchange {
        Exchange::Okx
    }

    fn market_type(&self) -> MarketType {
        self.market_type
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::Okx
    }

    fn connect_url(&self, endpoint: &str) -> String {
        format!("{}/ws/v5/public", endpoint.trim_end_matches('/'))
    }

    fn keepalive(&self) -> Option<Keepalive> {
        // OKX closes connections silent for 30 s.
        Some(Keepalive {
            every: std::time::Duration::from_secs(20),
            frame: "ping",
        })
    }

    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        _now_ms: i64,
    ) -> Result<String, VenueError> {
        let PollKind::LongShortRatio(kind) = poll.kind else {
            return Err(VenueError::UnsupportedChannel {
                venue: format!("okx {} (streamed instead)", self.market_type),
                channel: poll.kind.as_str(),
            });
        };
        let base = rest_endpoint.trim_end_matches('/');
        // OKX writes hours and days in upper case: 5m, 1H, 1D.
        let period = poll.period.replace('h', "H").replace('d', "D");
        let inst_id = symbol::to_native(MarketType::Perpetual, &poll.symbol);
        Ok(match kind {
            RatioKind::TopAccounts => format!(
                "{base}/api/v5/rubik/stat/contracts/long-short-account-ratio-contract-top-trader?instId={inst_id}&period={period}"
            ),
            RatioKind::TopPositions => format!(
                "{base}/api/v5/rubik/stat/contracts/long-short-position-ratio-contract-top-trader?instId={inst_id}&period={period}"
            ),
            RatioKind::AllAccounts => format!(
                "{base}/api/v5/rubik/stat/contracts/long-short-account-ratio?ccy={}&period={period}",
                poll.symbol.base()
            ),
        })
    }

    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        let PollKind::LongShortRatio(kind) = poll.kind else {
            return Err(VenueError::unrecognized(body));
        };
        let answer: wire::RubikAnswer<'_> = serde_json::from_str(body)?;
        if answer.code != "0" {
            return Err(VenueError::Unrecognized(format!(
                "code {}: {}",
                answer.code, answer.msg
            )));
        }
        // The all-account series is per currency, the top-trader series per contract.
        let symbol = match kind {
            RatioKind::AllAccounts => poll
                .symbol
                .base()
                .parse()
                .map_err(|_| VenueError::UnknownSymbol(poll.symbol.to_string()))?,
            _ => poll.symbol.clone(),
        };
        answer
            .data
            .iter()
            .map(|[ts, ratio]| {
                Ok(Event::LongShortRatio(LongShortRatio {
                    exchange: Exchange::Okx,
                    market_type: MarketType::Perpetual,
                    symbol: symbol.clone(),
                    kind,
                    period: poll.period.clone(),
                    ratio: decimal("ratio", ratio)?,
                    long_share: None,
                    short_share: None,
                    exchange_time_ms: millis("ts", ts)?,
                    received_time_ms,
                }))
            })
            .collect()
    }

    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        let mut frames = Vec::with_capacity(2);
        for op in ["unsubscribe", "subscribe"] {
            let arg = self.arg(subscription)?;
            frames.push(serde_json::to_string(&wire::Request {
                op,
                args: vec![arg],
            })?);
        }
        Ok(frames)
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        let mut args: Vec<wire::Arg<'static>> = Vec::with_capacity(subscriptions.len());
        for subscription in subscriptions {
            let arg = self.arg(subscription)?;
            // A market-wide channel serves every symbol with one subscription.
            if !args.iter().any(|known| ack_id(known) == ack_id(&arg)) {
                args.push(arg);
            }
        }
        args.chunks(ARGS_PER_REQUEST)
            .map(|chunk| {
                let acks = chunk.iter().map(ack_id).collect();
                let request = wire::Request {
                    op: "subscribe",
                    args: chunk.to_vec(),
                };
                Ok(SubscribeRequest {
                    acks,
                    frame: serde_json::to_string(&request)?,
                })
            })
            .collect()
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        if frame == "pong" {
            return Ok(Inbound::Ignored);
        }
        let (envelope, data) = envelope::decode(frame, wire::Envelope::default())?;
        match (envelope.event.as_deref(), &envelope.arg, data) {
            (Some("subscribe"), Some(arg), _) => Ok(Inbound::SubscribeAck {
                request_id: ack_id(arg),
            }),
            (Some("error"), _, _) => Ok(Inbound::Rejected {
                request_id: None,
                reason: format!(
                    "code {}: {}",
                    envelope.code.as_deref().unwrap_or("?"),
                    envelope.msg.as_deref().unwrap_or("")
                ),
            }),
            (Some(_), _, _) => Ok(Inbound::Ignored),
            (None, Some(_), Some(Data::Trades(trades))) => {
                let events = trades
                    .iter()
                    .map(|trade| normalize_trade(trade, received_time_ms).map(Event::Trade))
                    .collect::<Result<_, _>>()?;
                Ok(Inbound::Events(events))
            }
            (None, Some(_), Some(Data::FundingRates(rates))) => {
                let events = rates
                    .iter()
                    .map(|rate| normalize_funding(rate, received_time_ms).map(Event::FundingRate))
                    .collect::<Result<_, _>>()?;
                Ok(Inbound::Events(events))
            }
            (None, Some(_), Some(Data::OpenInterest(records))) => {
                let events = records
                    .iter()
                    .map(|record| {
                        normalize_open_interest(record, received_time_ms).map(Event::OpenInterest)
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Inbound::Events(events))
            }
            (None, Some(_), Some(Data::Liquidations(records))) => {
                let mut events = Vec::new();
                for record in &records {
                    let (market_type, symbol) = symbol::from_native(&record.inst_id)?;
                    for detail in &record.details {
                        events.push(Event::Liquidation(normalize_liquidation(
                            market_type,
                            &symbol,
                            detail,
                            received_time_ms,
                        )?));
                    }
                }
                Ok(Inbound::Events(events))
            }
            (None, Some(arg), Some(Data::Books(mut books))) => {
                let kind = match envelope.action.as_deref() {
                    Some("snapshot") => UpdateKind::Snapshot,
                    Some("update") => UpdateKind::Delta,
                    _ => return Err(VenueError::unrecognized(frame)),
                };
                let (Some(book), true) = (books.pop(), books.is_empty()) else {
                    return Err(VenueError::unrecognized(frame));
                };
                let (market_type, symbol) = symbol::from_native(arg.target())?;
                Ok(Inbound::Book(BookMessage {
                    market_type,
                    symbol,
                    update: normalize_book(&book, kind, received_time_ms)?,
                }))
            }
            (None, Some(_), Some(Data::Other)) => Ok(Inbound::Ignored),
            _ => Err(VenueError::unrecognized(frame)),
        }
    }
}

fn normalize_trade(wire: &wire::Trade<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    let (market_type, symbol) = symbol::from_native(&wire.inst_id)?;
    let side = side("trade side", &wire.side)?;
    Ok(Trade {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        trade_id: CompactString::from(wire.trade_id.as_ref()),
        aggregated: false,
        price: decimal("px", &wire.px)?,
        quantity: decimal("sz", &wire.sz)?,
        side,
        exchange_time_ms: millis("ts", &wire.ts)?,
        received_time_ms,
    })
}

/// One order of a `liquidation-orders` record; the price is the bankruptcy price.
fn normalize_liquidation(
    market_type: MarketType,
    symbol: &Symbol,
    detail: &wire::LiquidationDetail<'_>,
    received_time_ms: i64,
) -> Result<Liquidation, VenueError> {
    Ok(Liquidation {
        exchange: Exchange::Okx,
        market_type,
        symbol: symbol.clone(),
        side: side("side", &detail.side)?,
        price: decimal("bkPx", &detail.bk_px)?,
        quantity: decimal("sz", &detail.sz)?,
        exchange_time_ms: millis("ts", &detail.ts)?,
        received_time_ms,
    })
}

/// OKX's lowercase `buy`/`sell`.
fn side(field: &'static str, text: &str) -> Result<Side, VenueError> {
    match text {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(VenueError::Unrecognized(format!("{field} {other:?}"))),
    }
}

fn optional_decimal(
    field: &'static str,
    value: &Option<std::borrow::Cow<'_, str>>,
) -> Result<Option<Decimal>, VenueError> {
    match value.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => decimal(field, text).map(Some),
    }
}

/// A `funding-rate` record: the rate applies at `fundingTime`; `nextFundingRate` is the
/// forecast for the period after. The push time is `ts` (older frames lack it: then the
/// settlement time stands in).
fn normalize_funding(
    wire: &wire::FundingRate<'_>,
    received_time_ms: i64,
) -> Result<FundingRate, VenueError> {
    let (market_type, symbol) = symbol::from_native(&wire.inst_id)?;
    let funding_time_ms = millis("fundingTime", &wire.funding_time)?;
    let exchange_time_ms = match wire.ts.as_deref() {
        Some(ts) => millis("ts", ts)?,
        None => funding_time_ms,
    };
    Ok(FundingRate {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        funding_rate: decimal("fundingRate", &wire.funding_rate)?,
        predicted_rate: optional_decimal("nextFundingRate", &wire.next_funding_rate)?,
        next_funding_time_ms: Some(funding_time_ms),
        mark_price: None,
        index_price: None,
        exchange_time_ms,
        received_time_ms,
    })
}

/// An `open-interest` record: `oi` in contracts, `oiUsd` (newer frames) as the value.
fn normalize_open_interest(
    wire: &wire::OpenInterest<'_>,
    received_time_ms: i64,
) -> Result<OpenInterest, VenueError> {
    let (market_type, symbol) = symbol::from_native(&wire.inst_id)?;
    Ok(OpenInterest {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        open_interest: decimal("oi", &wire.oi)?,
        open_interest_value: optional_decimal("oiUsd", &wire.oi_usd)?,
        exchange_time_ms: millis("ts", &wire.ts)?,
        received_time_ms,
    })
}

/// OKX sequence ids are non-negative; `-1` marks "none" (a snapshot's `prevSeqId`).
fn sequence_id(value: Option<i64>) -> Option<u64> {
    value.and_then(|id| u64::try_from(id).ok())
}

fn normalize_book(
    wire: &wire::Book<'_>,
    kind: UpdateKind,
    received_time_ms: i64,
) -> Result<BookUpdate, VenueError> {
    let exchange_time_ms = millis("ts", &wire.ts)?;
    // Frames without `seqId` (before 2022-06) are chained by checksum alone; the book time
    // then stands in as the update id.
    let last_id = sequence_id(wire.seq_id).unwrap_or(exchange_time_ms.max(0) as u64);
    let checksum = match wire.checksum {
        None | Some(0) => None,
        Some(value) => Some(i32::try_from(value).map_err(|_| VenueError::Decimal {
            field: "checksum",
            value: value.to_string(),
        })?),
    };
    Ok(BookUpdate {
        kind,
        first_id: last_id,
        last_id,
        prev_id: sequence_id(wire.prev_seq_id),
        bids: levels("bids", &wire.bids)?,
        asks: levels("asks", &wire.asks)?,
        checksum,
        exchange_time_ms,
        received_time_ms,
    })
}

#[cfg(test)]
mod tests;
