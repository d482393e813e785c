//! Bybit v5 public market data over WebSocket: trades (`publicTrade`) and books
//! (`orderbook.{depth}`, snapshot then deltas with contiguous `u`).
//!
//! Spot and linear perpetuals have separate endpoints (`/v5/public/spot`,
//! `/v5/public/linear`); symbols are concatenated (`BTCUSDT`) on both. A subscribe operation
//! is confirmed by a reply echoing its `req_id`. Bybit drops a connection without a
//! `{"op":"ping"}` every 20 s.
//! Docs: <https://bybit-exchange.github.io/docs/v5/ws/connect>

mod wire;

use compact_str::CompactString;
use marketprism_book::{BookUpdate, SyncRule, UpdateKind};
use marketprism_model::{
    Event, Exchange, FundingRate, Liquidation, LongShortRatio, MarketType, OpenInterest, RatioKind,
    Side, Trade,
};

use crate::concatenated::SymbolMap;
use crate::decimal::{decimal, levels};
use crate::envelope;
use crate::{
    BookMessage, Channel, Inbound, Keepalive, Poll, PollKind, SubscribeRequest, Subscription,
    VenueError, VenueProtocol,
};

use wire::Data;

/// Production public WebSocket endpoint.
pub const WS_ENDPOINT: &str = "wss://stream.bybit.com";

/// Production REST endpoint.
pub const REST_ENDPOINT: &str = "https://api.bybit.com";

/// Book depth subscribed: offered on both spot and linear, and deep enough for top-N books.
pub const BOOK_DEPTH: usize = 200;

/// Topics per subscribe operation (Bybit spot accepts at most 10).
const TOPICS_PER_REQUEST: usize = 10;

/// The Bybit v5 protocol for spot or linear perpetuals.
#[derive(Debug, Clone)]
pub struct Bybit {
    market_type: MarketType,
    symbols: SymbolMap,
}

impl Bybit {
    /// Spot, resolving symbols with `symbols` first.
    pub fn spot(symbols: SymbolMap) -> Self {
        Bybit {
            market_type: MarketType::Spot,
            symbols,
        }
    }

    /// Linear (USDT and USDC settled) perpetuals, resolving symbols with `symbols` first.
    pub fn linear(symbols: SymbolMap) -> Self {
        Bybit {
            market_type: MarketType::Perpetual,
            symbols,
        }
    }

    fn topic(&self, subscription: &Subscription) -> Result<String, VenueError> {
        let native = crate::concatenated::to_native(&subscription.symbol);
        match subscription.channel {
            Channel::Trades => Ok(format!("publicTrade.{native}")),
            Channel::OrderBook => Ok(format!("orderbook.{BOOK_DEPTH}.{native}")),
            // One ticker stream carries both; see `Bybit::ticker`.
            Channel::FundingRate | Channel::OpenInterest if self.is_linear() => {
                Ok(format!("tickers.{native}"))
            }
            Channel::Liquidations if self.is_linear() => Ok(format!("allLiquidation.{native}")),
            Channel::AggregateTrades
            | Channel::FundingRate
            | Channel::OpenInterest
            | Channel::Liquidations
            | Channel::VolatilityIndex => Err(VenueError::UnsupportedChannel {
                venue: format!("bybit {}", self.market_type),
                channel: subscription.channel.as_str(),
            }),
        }
    }

    fn is_linear(&self) -> bool {
        self.market_type == MarketType::Perpetual
    }

    /// A linear ticker (snapshot or delta, which carries only the changed fields) as the
    /// funding rate and open interest it reports, each only when present.
    fn ticker(
        &self,
        wire: &wire::Ticker<'_>,
        exchange_time_ms: i64,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        let symbol = self.symbols.resolve(&wire.symbol)?;
        let optional = |field, value: &Option<std::borrow::Cow<'_, str>>| {
            value
                .as_deref()
                .map(|text| decimal(field, text))
                .transpose()
        };
        let mut events = Vec::new();
        if let Some(rate) = optional("fundingRate", &wire.funding_rate)? {
            let next_funding_time_ms = wire
                .next_funding_time
                .as_deref()
                .map(|text| {
                    text.parse().map_err(|_| VenueError::Decimal {
                        field: "nextFundingTime",
                        value: text.to_owned(),
                    })
                })
                .transpose()?;
            events.push(Event::FundingRate(FundingRate {
                exchange: Exchange::Bybit,
                market_type: self.market_type,
                symbol: symbol.clone(),
                funding_rate: rate,
                predicted_rate: None,
                next_funding_time_ms,
                mark_price: optional("markPrice", &wire.mark_price)?,
                index_price: optional("indexPrice", &wire.index_price)?,
                exchange_time_ms,
                received_time_ms,
            }));
        }
        if let Some(open_interest) = optional("openInterest", &wire.open_interest)? {
            events.push(Event::OpenInterest(OpenInterest {
                exchange: Exchange::Bybit,
                market_type: self.market_type,
                symbol,
                open_interest,
                open_interest_value: optional("openInterestValue", &wire.open_interest_value)?,
                exchange_time_ms,
                received_time_ms,
            }));
        }
        Ok(events)
    }

    fn liquidation(
        &self,
        wire: &wire::LiquidationRecord<'_>,
        received_time_ms: i64,
    ) -> Result<Liquidation, VenueError> {
        // Bybit reports the liquidated position's side: a long (`Buy`) is closed by a sell.
        let side = match wire.position_side.as_ref() {
            "Buy" => Side::Sell,
            "Sell" => Side::Buy,
            other => return Err(VenueError::Unrecognized(format!("position side {other:?}"))),
        };
        Ok(Liquidation {
            exchange: Exchange::Bybit,
            market_type: self.market_type,
            symbol: self.symbols.resolve(&wire.symbol)?,
            side,
            price: decimal("p", &wire.price)?,
            quantity: decimal("v", &wire.quantity)?,
            exchange_time_ms: wire.time_ms,
            received_time_ms,
        })
    }

    fn trade(&self, wire: &wire::Trade<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
        let side = match wire.side.as_ref() {
            "Buy" => Side::Buy,
            "Sell" => Side::Sell,
            other => return Err(VenueError::Unrecognized(format!("trade side {other:?}"))),
        };
        Ok(Trade {
            exchange: Exchange::Bybit,
            market_type: self.market_type,
            symbol: self.symbols.resolve(&wire.s)?,
            trade_id: CompactString::from(wire.i.as_ref()),
            aggregated: false,
            price: decimal("p", &wire.p)?,
            quantity: decimal("v", &wire.v)?,
            side,
            exchange_time_ms: wire.time_ms,
            received_time_ms,
        })
    }

    fn book(
        &self,
        wire: &wire::OrderBook<'_>,
        kind: UpdateKind,
        exchange_time_ms: i64,
        received_time_ms: i64,
    ) -> Result<BookMessage, VenueError> {
        Ok(BookMessage {
            market_type: self.market_type,
            symbol: self.symbols.resolve(&wire.s)?,
            update: BookUpdate {
                kind,
                first_id: wire.u,
                last_id: wire.u,
                prev_id: None,
                bids: levels("b", &wire.b)?,
                asks: levels("a", &wire.a)?,
                checksum: None,
                exchange_time_ms,
                received_time_ms,
            },
        })
    }
}

impl VenueProtocol for Bybit {
    fn exchange(&self) -> Exchange {
        Exchange::Bybit
    }

    fn market_type(&self) -> MarketType {
        self.market_type
    }

    fn sync_rule(&self) -> SyncRule {
        SyncRule::Bybit
    }

    fn connect_url(&self, endpoint: &str) -> String {
        let category = match self.market_type {
            MarketType::Spot => "spot",
            _ => "linear",
        };
        format!("{}/v5/public/{category}", endpoint.trim_end_matches('/'))
    }

    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        _now_ms: i64,
    ) -> Result<String, VenueError> {
        if poll.kind != PollKind::LongShortRatio(RatioKind::AllAccounts) || !self.is_linear() {
            return Err(VenueError::UnsupportedChannel {
                venue: format!("bybit {}", self.market_type),
                channel: poll.kind.as_str(),
            });
        }
        // Bybit writes minutes as `min`: 5min, 1h, 1d.
        let period = match poll.period.strip_suffix('m') {
            Some(minutes) => format!("{minutes}min"),
            None => poll.period.clone(),
        };
        Ok(format!(
            "{}/v5/market/account-ratio?category=linear&symbol={}&period={period}&limit=1",
            rest_endpoint.trim_end_matches('/'),
            crate::concatenated::to_native(&poll.symbol)
        ))
    }

    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        let answer: wire::AccountRatioAnswer<'_> = serde_json::from_str(body)?;
        if answer.ret_code != 0 {
            return Err(VenueError::Unrecognized(format!(
                "retCode {}: {}",
                answer.ret_code, answer.ret_msg
            )));
        }
        answer
            .result
            .list
            .iter()
            .map(|entry| {
                let long_share = decimal("buyRatio", &entry.buy_ratio)?;
                let short_share = decimal("sellRatio", &entry.sell_ratio)?;
                // Bybit publishes the shares; the ratio is derived, to 18 decimal places.
                let ratio = long_share
                    .checked_div(short_share)
                    .ok_or_else(|| VenueError::Decimal {
                        field: "sellRatio",
                        value: entry.sell_ratio.to_string(),
                    })?
                    .round_dp(18)
                    .normalize();
                let exchange_time_ms =
                    entry.timestamp.parse().map_err(|_| VenueError::Decimal {
                        field: "timestamp",
                        value: entry.timestamp.to_string(),
                    })?;
                Ok(Event::LongShortRatio(LongShortRatio {
                    exchange: Exchange::Bybit,
                    market_type: self.market_type,
                    symbol: poll.symbol.clone(),
                    kind: RatioKind::AllAccounts,
                    period: poll.period.clone(),
                    ratio,
                    long_share: Some(long_share),
                    short_share: Some(short_share),
                    exchange_time_ms,
                    received_time_ms,
                }))
            })
            .collect()
    }

    fn keepalive(&self) -> Option<Keepalive> {
        Some(Keepalive {
            every: std::time::Duration::from_secs(20),
            frame: r#"{"op":"ping"}"#,
        })
    }

    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        let topics = [self.topic(subscription)?];
        ["unsubscribe", "subscribe"]
            .into_iter()
            .map(|op| {
                serde_json::to_string(&wire::Request {
                    op,
                    args: &topics,
                    req_id: format!("re{op}"),
                })
                .map_err(VenueError::from)
            })
            .collect()
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        let mut topics = Vec::with_capacity(subscriptions.len());
        for subscription in subscriptions {
            let topic = self.topic(subscription)?;
            // Funding rate and open interest share the ticker topic.
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        SubscribeRequest::numbered(&topics, TOPICS_PER_REQUEST, |args, id| wire::Request {
            op: "subscribe",
            args,
            req_id: id.to_string(),
        })
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        let (envelope, data) = envelope::decode(frame, wire::Envelope::default())?;
        if let (Some(_), Some(data)) = (&envelope.topic, data) {
            let exchange_time_ms = envelope.ts.unwrap_or(received_time_ms);
            return match data {
                Data::Trades(trades) => trades
                    .iter()
                    .map(|trade| self.trade(trade, received_time_ms).map(Event::Trade))
                    .collect::<Result<_, _>>()
                    .map(Inbound::Events),
                Data::Ticker(ticker) => self
                    .ticker(&ticker, exchange_time_ms, received_time_ms)
                    .map(Inbound::Events),
                Data::Liquidations(records) => records
                    .iter()
                    .map(|record| {
                        self.liquidation(record, received_time_ms)
                            .map(Event::Liquidation)
                    })
                    .collect::<Result<_, _>>()
                    .map(Inbound::Events),
                Data::OrderBook(book) => {
                    let kind = match envelope.kind.as_deref() {
                        Some("snapshot") => UpdateKind::Snapshot,
                        Some("delta") => UpdateKind::Delta,
                        _ => return Err(VenueError::unrecognized(frame)),
                    };
                    self.book(&book, kind, exchange_time_ms, received_time_ms)
                        .map(Inbound::Book)
                }
                Data::Other => Ok(Inbound::Ignored),
            };
        }
        match (envelope.op.as_deref(), envelope.success) {
            (Some("subscribe"), Some(true)) => match envelope.req_id.as_deref().map(str::parse) {
                Some(Ok(request_id)) => Ok(Inbound::SubscribeAck { request_id }),
                // A reply without our id confirms nothing we can match.
                _ => Ok(Inbound::Ignored),
            },
            (Some("subscribe"), Some(false)) => Ok(Inbound::Rejected {
                request_id: envelope.req_id.as_deref().and_then(|id| id.parse().ok()),
                reason: envelope.ret_msg.unwrap_or_default(),
            }),
            (Some(_), _) => Ok(Inbound::Ignored),
            _ => Err(VenueError::unrecognized(frame)),
        }
    }
}

#[cfg(test)]
mod tests;
