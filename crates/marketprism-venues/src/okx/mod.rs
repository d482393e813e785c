//! OKX v5 public market data over WebSocket: trades and `books` (snapshot + updates with a
//! CRC32 checksum, chained by `prevSeqId`).
//!
//! One endpoint (`/ws/v5/public`) serves every market; the instrument id names the market:
//! `BTC-USDT` (spot), `BTC-USDT-SWAP` (perpetual), `BTC-USD-220527` (futures),
//! `BTC-USD-220624-20000-C` (options). Subscriptions are confirmed one channel at a time with
//! `{"event":"subscribe","arg":{...}}`. OKX closes a connection silent for 30 s; clients
//! send the text `ping` and receive `pong`.
//! Docs: <https://www.okx.com/docs-v5/en/#overview-websocket>

mod history;
mod instruments;
mod normalize;
mod poll;
mod subscribe;
pub mod symbol;
mod wire;

use marketprism_book::{SyncRule, UpdateKind};
use marketprism_model::{Event, Exchange, Listing, MarketType, RatioKind, Symbol};

use crate::envelope;
use crate::limits::SECOND;
use crate::{
    BookMessage, CountedMessages, Inbound, Keepalive, MessageScope, Poll, PollKind, Rate,
    RequestCost, RestBucket, RestCall, RestLimits, SubscribeRequest, Subscription, VenueError,
    VenueProtocol, WsLimits,
};

use wire::Data;

/// Production public WebSocket endpoint.
pub const WS_ENDPOINT: &str = "wss://ws.okx.com:8443";

/// Production REST endpoint.
pub const REST_ENDPOINT: &str = "https://www.okx.com";

/// OKX's WebSocket limits, the same for every market of `/ws/v5/public`
/// (<https://www.okx.com/docs-v5/en/#overview-websocket-overview>): 3 connection requests
/// per second per IP; 480 `subscribe`, `unsubscribe` and `login` requests per hour per
/// connection (the `ping` keepalive is free); a request's channels at most 64 KB in all.
/// OKX documents no number of channels per connection or per request: ours are 500 per
/// connection and 100 per request (about 5 KB).
pub(crate) const WS_LIMITS: WsLimits = WsLimits {
    name: "okx",
    streams_per_connection: 500,
    args_per_request: 100,
    request_bytes: Some(64 * 1024),
    messages: Rate {
        limit: 480,
        window: std::time::Duration::from_secs(3600),
    },
    counted: CountedMessages::Requests,
    message_scope: MessageScope::Connection,
    connections: Rate {
        limit: 3,
        window: SECOND,
    },
    concurrent_connections: None,
};

/// The OKX protocol for one market.
#[derive(Debug, Clone)]
pub struct Okx {
    market_type: MarketType,
    /// The instrument families (`BTC-USD`) whose options are listed, options only.
    families: Vec<String>,
}

impl Okx {
    /// The protocol for `market_type` instruments.
    pub fn new(market_type: MarketType) -> Self {
        Okx {
            market_type,
            families: Vec::new(),
        }
    }

    /// The protocol for options, whose instrument lists are those of the families of
    /// `symbols` (`BTC-USD-250328-60000-C` is of `BTC-USD`).
    pub fn options(symbols: &[Symbol]) -> Self {
        let mut families: Vec<String> = symbols
            .iter()
            .filter_map(|symbol| Some(format!("{}-{}", symbol.base(), symbol.quote()?)))
            .collect();
        families.sort_unstable();
        families.dedup();
        Okx {
            market_type: MarketType::Options,
            families,
        }
    }
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

    fn native_symbol(&self, symbol: &Symbol) -> String {
        symbol::to_native(self.market_type, symbol)
    }

    fn in_instrument_list(&self, symbol: &Symbol) -> bool {
        symbol::from_native(&self.native_symbol(symbol))
            .is_ok_and(|(market_type, _)| market_type == self.market_type)
    }

    fn keepalive(&self) -> Option<Keepalive> {
        // OKX closes connections silent for 30 s.
        Some(Keepalive {
            every: std::time::Duration::from_secs(20),
            frame: "ping",
        })
    }

    /// OKX limits each public endpoint separately, per IP, over 2 s: `GET
    /// /api/v5/market/books` 40 requests, `market/history-trades` 20, each rubik long/short
    /// statistic 5, `public/instruments` 20
    /// (<https://www.okx.com/docs-v5/en/#order-book-trading-market-data>,
    /// <https://www.okx.com/docs-v5/en/#trading-statistics-rest-api>,
    /// <https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments>); a 429 answers
    /// a request over the limit.
    fn rest_limits(&self) -> RestLimits {
        const TWO_SECONDS: std::time::Duration = std::time::Duration::from_secs(2);
        const LIMITS: RestLimits = RestLimits {
            name: "okx",
            buckets: &[
                RestBucket {
                    name: "books",
                    limit: 40,
                    window: TWO_SECONDS,
                },
                RestBucket {
                    name: "history-trades",
                    limit: 20,
                    window: TWO_SECONDS,
                },
                RestBucket {
                    name: "instruments",
                    limit: 20,
                    window: TWO_SECONDS,
                },
                RestBucket {
                    name: "long-short-account-ratio",
                    limit: 5,
                    window: TWO_SECONDS,
                },
                RestBucket {
                    name: "long-short-top-trader-accounts",
                    limit: 5,
                    window: TWO_SECONDS,
                },
                RestBucket {
                    name: "long-short-top-trader-positions",
                    limit: 5,
                    window: TWO_SECONDS,
                },
                RestBucket {
                    name: "public",
                    limit: 20,
                    window: TWO_SECONDS,
                },
            ],
            used_weight_header: None,
            ban: None,
        };
        LIMITS
    }

    fn request_cost(&self, call: RestCall) -> RequestCost {
        let bucket = match call {
            RestCall::BookSnapshot { .. } => "books",
            RestCall::TradeHistory => "history-trades",
            RestCall::Instruments => "instruments",
            RestCall::Poll(PollKind::LongShortRatio(RatioKind::AllAccounts)) => {
                "long-short-account-ratio"
            }
            RestCall::Poll(PollKind::LongShortRatio(RatioKind::TopAccounts)) => {
                "long-short-top-trader-accounts"
            }
            RestCall::Poll(PollKind::LongShortRatio(RatioKind::TopPositions)) => {
                "long-short-top-trader-positions"
            }
            RestCall::Poll(_) => "public",
        };
        RequestCost { bucket, weight: 1 }
    }

    /// `GET /api/v5/public/instruments` of the market's instrument type: `SPOT`, `SWAP` or
    /// `FUTURES`. Options are listed per instrument family only (`instFamily` or `uly` is
    /// required with `instType=OPTION`), so they have no one list: see
    /// [`VenueProtocol::instruments_urls`].
    fn instruments_url(&self, rest_endpoint: &str) -> Option<String> {
        let inst_type = match self.market_type {
            MarketType::Spot => "SPOT",
            MarketType::Perpetual => "SWAP",
            MarketType::Futures => "FUTURES",
            MarketType::Options => return None,
        };
        Some(format!(
            "{}/api/v5/public/instruments?instType={inst_type}",
            rest_endpoint.trim_end_matches('/')
        ))
    }

    /// The market's one list, or for options `GET /api/v5/public/instruments?instType=OPTION`
    /// of each configured instrument family (`&instFamily=BTC-USD`)
    /// (<https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments>).
    fn instruments_urls(&self, rest_endpoint: &str) -> Vec<String> {
        if self.market_type != MarketType::Options {
            return self.instruments_url(rest_endpoint).into_iter().collect();
        }
        self.families
            .iter()
            .map(|family| {
                format!(
                    "{}/api/v5/public/instruments?instType=OPTION&instFamily={family}",
                    rest_endpoint.trim_end_matches('/')
                )
            })
            .collect()
    }

    /// Every instrument of the answer, `live` or not, named by its id as frames name it,
    /// as `instruments.rs` reads them.
    fn parse_instruments(
        &self,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Listing>, VenueError> {
        let answer: wire::InstrumentsAnswer<'_> = serde_json::from_str(body)?;
        instruments::listings(answer, self.market_type, received_time_ms)
    }

    fn poll_url(
        &self,
        rest_endpoint: &str,
        poll: &Poll,
        _now_ms: i64,
    ) -> Result<String, VenueError> {
        poll::url(self.market_type, rest_endpoint, poll)
    }

    fn parse_poll(
        &self,
        poll: &Poll,
        body: &str,
        received_time_ms: i64,
    ) -> Result<Vec<Event>, VenueError> {
        poll::parse(poll, body, received_time_ms)
    }

    fn resubscribe_frames(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        subscribe::resubscribe_frames(self.market_type, subscription)
    }

    fn subscribe_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<SubscribeRequest>, VenueError> {
        subscribe::subscribe_requests(self.market_type, subscriptions)
    }

    fn unsubscribe_frames(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<Vec<String>, VenueError> {
        subscribe::unsubscribe_frames(self.market_type, subscriptions)
    }

    fn streams(&self, subscription: &Subscription) -> Result<Vec<String>, VenueError> {
        Ok(vec![subscribe::stream(self.market_type, subscription)?])
    }

    fn ws_limits(&self) -> WsLimits {
        WS_LIMITS
    }

    fn trade_history(
        &self,
        rest_endpoint: &str,
        range: crate::HistoryRange,
    ) -> Result<Box<dyn crate::HistoryPager>, VenueError> {
        Ok(Box::new(history::OkxPager::new(
            rest_endpoint,
            self.market_type,
            range,
        )?))
    }

    fn parse(&self, frame: &str, received_time_ms: i64) -> Result<Inbound, VenueError> {
        if frame == "pong" {
            return Ok(Inbound::Ignored);
        }
        let (envelope, data) = envelope::decode(frame, wire::Envelope::default())?;
        match (envelope.event.as_deref(), &envelope.arg, data) {
            (Some("subscribe"), Some(arg), _) => Ok(Inbound::SubscribeAck {
                request_id: subscribe::ack_id(arg),
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
            (None, Some(_), Some(Data::Trades(trades))) => Inbound::events_of(
                &trades,
                |trade| normalize::trade(trade, received_time_ms),
                Event::Trade,
            ),
            (None, Some(_), Some(Data::FundingRates(rates))) => Inbound::events_of(
                &rates,
                |rate| normalize::funding_rate(rate, received_time_ms),
                Event::FundingRate,
            ),
            (None, Some(_), Some(Data::OpenInterest(records))) => Inbound::events_of(
                &records,
                |record| normalize::open_interest(record, received_time_ms),
                Event::OpenInterest,
            ),
            (None, Some(_), Some(Data::Liquidations(records))) => {
                let mut events = Vec::new();
                for record in &records {
                    let (market_type, symbol) = symbol::from_native(&record.inst_id)?;
                    for detail in &record.details {
                        events.push(Event::Liquidation(normalize::liquidation(
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
                    update: normalize::book(&book, kind, received_time_ms)?,
                }))
            }
            (None, Some(_), Some(Data::Other)) => Ok(Inbound::Ignored),
            _ => Err(VenueError::unrecognized(frame)),
        }
    }
}

#[cfg(test)]
mod tests;
