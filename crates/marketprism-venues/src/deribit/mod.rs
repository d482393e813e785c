//! Deribit market data over JSON-RPC v2 WebSocket: trades and books
//! (`book.{instrument}.100ms`, snapshot then changes chained by `prev_change_id`).
//!
//! Unauthenticated connections may subscribe to the aggregated `100ms` channels (the `raw`
//! ones need authorization). Subscriptions are confirmed by the reply to `public/subscribe`,
//! listing the channels. Prices and amounts are JSON numbers; they are read from the frame's
//! text, so no binary floating point sits between Deribit and the stored decimal.
//! DVOL history comes from `public/get_volatility_index_data` over REST.
//! Docs: <https://docs.deribit.com/#subscriptions>

pub mod symbol;
mod wire;

use compact_str::CompactString;
use marketprism_book::{BookUpdate, SyncRule, UpdateKind};
use marketprism_model::{
    Decimal, Event, Exchange, MarketType, PriceLevel, Side, Trade, VolatilityIndex,
};
use serde_json::value::RawValue;

use crate::{
    BookMessage, Channel, Inbound, Poll, PollKind, SubscribeRequest, Subscription, VenueError,
    VenueProtocol,
};

/// Production WebSocket endpoint.
pub const WS_ENDPOINT: &str = "wss://www.deribit.com";

/// Production REST endpoint.
pub const REST_ENDPOINT: &str = "https://www.deribit.com";

/// Candles per volatility-index history request (Deribit answers at most 1,000).
const HISTORY_CANDLES: i64 = 1_000;

/// Deribit's candle resolution for a period in Binance notation, with its length in ms.
fn resolution(period: &str) -> Option<(&'static str, i64)> {
    Some(match period {
        "1s" => ("1", 1_000),
        "1m" => ("60", 60_000),
        "1h" => ("3600", 3_600_000),
        "12h" => ("43200", 43_200_000),
        "1d" => ("1D", 86_400_000),
        _ => return None,
    })
}

/// Request ids of resubscriptions, far above those of the initial subscribe requests.
const RESUBSCRIBE_ID: u64 = 1 << 32;

/// Channels per `public/subscribe` request.
const CHANNELS_PER_REQUEST: usize = 200;

/// The Deribit protocol for one market.
#[derive(Debug, Clone)]
pub struct Deribit {
    market_type: MarketType,
}

impl Deribit {
    /// The protocol for `market_type` instruments.
    pub fn new(market_type: MarketType) -> Self {
        Deribit { market_type }
    }

    fn channel(&self, subscription: &Subscription) -> Result<String, VenueError> {
        let name = symbol::to_native(self.market_type, &subscription.symbol);
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
                venue: format!("deribit {}", self.market_type),
                channel: subscription.channel.as_str(),
            }),
        }
    }
}

/// A JSON number as an exact decimal, read from its text.
fn number(field: &'static str, raw: &RawValue) -> Result<Decimal, VenueError> {
    let text = raw.get();
    crate::decimal::decimal(field, text).or_else(|error| {
        // JSON numbers may use an exponent.
        Decimal::from_scientific(text).map_err(|_| error)
    })
}

impl VenueProtocol for Deribit {
    fn exchange(&self) -> Exchange {
        Exchange::Deribit
    }

    fn market_type(&self) -> MarketType {
        self.market_type
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::Deribit
    }

    fn connect_url(&self, endpoint: &str) -> String {
        format!("{}/ws/api/v2", endpoint.trim_end_matches('/'))
    }

    /// DVOL history: the last 1,000 candles at the period's resolution, ending `now_ms`;
    /// the symbol is the currency.
    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        now_ms: i64,
    ) -> Result<String, VenueError> {
        if poll.kind != PollKind::VolatilityIndex {
            return Err(VenueError::UnsupportedChannel {
                venue: format!("deribit {}", self.market_type),
                channel: poll.kind.as_str(),
            });
        }
        let (resolution, length_ms) =
            resolution(&poll.period).ok_or_else(|| VenueError::UnsupportedPeriod {
                series: poll.kind.as_str(),
                period: poll.period.clone(),
                offered: "1s, 1m, 1h, 12h, 1d",
            })?;
        Ok(format!(
            "{}/api/v2/public/get_volatility_index_data?currency={}&start_timestamp={}&end_timestamp={now_ms}&resolution={resolution}",
            rest_endpoint.trim_end_matches('/'),
            poll.symbol,
            now_ms - HISTORY_CANDLES * length_ms,
        ))
    }

    /// Each candle becomes the index value at its start time (the candle's open).
    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        if poll.kind != PollKind::VolatilityIndex {
            return Err(VenueError::unrecognized(body));
        }
        let envelope: wire::Envelope<'_> = serde_json::from_str(body)?;
        if let Some(error) = envelope.error {
            return Err(VenueError::Unrecognized(format!(
                "code {}: {}",
                error.code, error.message
            )));
        }
        let result = envelope
            .result
            .ok_or_else(|| VenueError::unrecognized(body))?;
        let history: wire::VolatilityHistory<'_> = serde_json::from_str(result.get())?;
        history
            .data
            .iter()
            .map(|wire::Candle(start_ms, open, ..)| {
                Ok(Event::VolatilityIndex(VolatilityIndex {
                    exchange: Exchange::Deribit,
                    market_type: MarketType::Options,
                    symbol: poll.symbol.clone(),
                    value: number("open", open)?,
                    exchange_time_ms: *start_ms,
                    received_time_ms,
                }))
            })
            .collect()
    }

    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        let channels = [self.channel(subscription)?];
        [
            ("public/unsubscribe", RESUBSCRIBE_ID),
            ("public/subscribe", RESUBSCRIBE_ID + 1),
        ]
        .into_iter()
        .map(|(method, id)| {
            serde_json::to_string(&wire::Request {
                jsonrpc: "2.0",
                id,
                method,
                params: wire::SubscribeParams {
                    channels: &channels,
                },
            })
            .map_err(VenueError::from)
        })
        .collect()
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        let channels = subscriptions
            .iter()
            .map(|subscription| self.channel(subscription))
            .collect::<Result<Vec<_>, _>>()?;
        SubscribeRequest::numbered(&channels, CHANNELS_PER_REQUEST, |channels, id| {
            wire::Request {
                jsonrpc: "2.0",
                id,
                method: "public/subscribe",
                params: wire::SubscribeParams { channels },
            }
        })
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        let envelope: wire::Envelope<'_> = serde_json::from_str(frame)?;
        if let Some(error) = envelope.error {
            return Ok(Inbound::Rejected {
                request_id: envelope.id,
                reason: format!("code {}: {}", error.code, error.message),
            });
        }
        if let (Some(request_id), Some(_)) = (envelope.id, envelope.result) {
            return Ok(Inbound::SubscribeAck { request_id });
        }
        match (envelope.method.as_deref(), envelope.params) {
            (Some("subscription"), Some(params)) => {
                let (Some(channel), Some(data)) = (params.channel, params.data) else {
                    return Err(VenueError::unrecognized(frame));
                };
                if channel.starts_with("trades.") {
                    let trades: Vec<wire::Trade<'_>> = serde_json::from_str(data.get())?;
                    let events = trades
                        .iter()
                        .map(|trade| normalize_trade(trade, received_time_ms).map(Event::Trade))
                        .collect::<Result<_, _>>()?;
                    Ok(Inbound::Events(events))
                } else if channel.starts_with("deribit_volatility_index.") {
                    let index: wire::VolatilityIndex<'_> = serde_json::from_str(data.get())?;
                    normalize_volatility(&index, received_time_ms)
                        .map(|index| Inbound::Events(vec![Event::VolatilityIndex(index)]))
                } else if channel.starts_with("book.") {
                    let book: wire::Book<'_> = serde_json::from_str(data.get())?;
                    normalize_book(&book, received_time_ms).map(Inbound::Book)
                } else {
                    Ok(Inbound::Ignored)
                }
            }
            // `heartbeat` notifications; the connection driver answers test requests.
            (Some(_), _) => Ok(Inbound::Ignored),
            _ => Err(VenueError::unrecognized(frame)),
        }
    }
}

fn normalize_trade(wire: &wire::Trade<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    let (market_type, symbol) = symbol::from_native(&wire.instrument_name)?;
    let side = match wire.direction.as_ref() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => {
            return Err(VenueError::Unrecognized(format!(
                "trade direction {other:?}"
            )))
        }
    };
    Ok(Trade {
        exchange: Exchange::Deribit,
        market_type,
        symbol,
        trade_id: CompactString::from(wire.trade_id.as_ref()),
        aggregated: false,
        price: number("price", wire.price)?,
        quantity: number("amount", wire.amount)?,
        side,
        exchange_time_ms: wire.timestamp,
        received_time_ms,
    })
}

/// A DVOL value; the symbol is the index's currency (`btc_usd` → `BTC`).
fn normalize_volatility(
    wire: &wire::VolatilityIndex<'_>,
    received_time_ms: i64,
) -> Result<VolatilityIndex, VenueError> {
    let currency = wire
        .index_name
        .split('_')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    Ok(VolatilityIndex {
        exchange: Exchange::Deribit,
        market_type: MarketType::Options,
        symbol: currency
            .parse()
            .map_err(|_| VenueError::UnknownSymbol(wire.index_name.to_string()))?,
        value: number("volatility", wire.volatility)?,
        exchange_time_ms: wire.timestamp,
        received_time_ms,
    })
}

fn levels(field: &'static str, levels: &[wire::Level<'_>]) -> Result<Vec<PriceLevel>, VenueError> {
    levels
        .iter()
        .map(|wire::Level(action, price, amount)| {
            let price = number(field, price)?;
            let quantity = match action.as_ref() {
                "delete" => Decimal::ZERO,
                "new" | "change" => number(field, amount)?,
                other => return Err(VenueError::Unrecognized(format!("book action {other:?}"))),
            };
            Ok(PriceLevel::new(price, quantity))
        })
        .collect()
}

fn normalize_book(wire: &wire::Book<'_>, received_time_ms: i64) -> Result<BookMessage, VenueError> {
    let (market_type, symbol) = symbol::from_native(&wire.instrument_name)?;
    let kind = match wire.kind.as_ref() {
        "snapshot" => UpdateKind::Snapshot,
        "change" => UpdateKind::Delta,
        other => return Err(VenueError::Unrecognized(format!("book type {other:?}"))),
    };
    Ok(BookMessage {
        market_type,
        symbol,
        update: BookUpdate {
            kind,
            first_id: wire.change_id,
            last_id: wire.change_id,
            prev_id: wire.prev_change_id,
            bids: levels("bids", &wire.bids)?,
            asks: levels("asks", &wire.asks)?,
            checksum: None,
            exchange_time_ms: wire.timestamp,
            received_time_ms,
        },
    })
}

#[cfg(test)]
mod tests;
