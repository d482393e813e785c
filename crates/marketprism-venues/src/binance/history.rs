//! Binance trade history over REST: aggregate trades (`GET /api/v3/aggTrades`,
//! `GET /fapi/v1/aggTrades`) and, on spot, single trades (`GET /api/v3/historicalTrades`),
//! both paged forwards with `fromId` and `limit=1000`.
//!
//! A range of ids starts at its first id. A time window is located with `aggTrades`'
//! `startTime`/`endTime` (at most an hour apart, so a longer window is searched an hour at a
//! time): the first aggregate inside it gives the aggregate id to page from, or, for single
//! trades, its first trade id `f`. Binance keeps its whole trade history, so a window's start
//! is always reached; a range of ids may begin before the oldest id still served.
//! Docs: <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#compressedaggregate-trades-list>,
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints#old-trade-lookup>,
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Compressed-Aggregate-Trades-List>

use compact_str::ToCompactString;
use marketprism_model::{Exchange, MarketType, Symbol, Trade, TradeSource};

use super::normalize::taker_side;
use super::symbol::to_native;
use super::wire::{BinanceAggTrade, BinanceHistoricalTrade};
use crate::decimal::decimal;
use crate::history::{unsupported, HistoryPager, HistoryRange, Wanted};
use crate::VenueError;

/// Trades per page (the most Binance answers).
pub const PAGE_LIMIT: usize = 1000;

/// `startTime` and `endTime` of `aggTrades` must lie less than an hour apart.
const SEARCH_SPAN_MS: i64 = 3_600_000 - 1;

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// Look for the first aggregate of the window executed at `start_ms` or later.
    Locate { start_ms: i64 },
    /// Page from this id.
    FromId(u64),
    /// Paging has ended.
    Done,
}

/// Pages one Binance market's trade history over a range.
pub(super) struct BinancePager {
    base: String,
    market_type: MarketType,
    symbol: Symbol,
    wanted: Wanted,
    cursor: Cursor,
    shortfall: Option<String>,
}

impl BinancePager {
    /// A pager over `range` of `market_type`'s history at `rest_endpoint`.
    pub(super) fn new(
        rest_endpoint: &str,
        market_type: MarketType,
        range: HistoryRange,
    ) -> Result<Self, VenueError> {
        if market_type != MarketType::Spot && !range.wanted.aggregated() {
            // USDⓈ-M's `historicalTrades` needs an API key; its stream records aggregates.
            return Err(unsupported(
                "binance perpetual",
                "single-trade history (aggregates only)",
            ));
        }
        let cursor = match range.wanted {
            Wanted::Ids { first, .. } => Cursor::FromId(first),
            Wanted::Window { from_ms, .. } => Cursor::Locate { start_ms: from_ms },
        };
        Ok(BinancePager {
            base: rest_endpoint.trim_end_matches('/').to_owned(),
            market_type,
            symbol: range.symbol,
            wanted: range.wanted,
            cursor,
            shortfall: None,
        })
    }

    fn aggregate_path(&self) -> &'static str {
        match self.market_type {
            MarketType::Spot => "/api/v3/aggTrades",
            _ => "/fapi/v1/aggTrades",
        }
    }

    /// The last millisecond of the window, for locating its first aggregate.
    fn window_end(&self) -> i64 {
        match self.wanted {
            Wanted::Window { to_ms, .. } => to_ms,
            Wanted::Ids { .. } => i64::MAX,
        }
    }

    /// True when a trade with this id or time lies past the wanted range.
    fn is_past_range(&self, trade: &Trade) -> bool {
        match self.wanted {
            Wanted::Ids { last, .. } => trade.sequence.is_some_and(|id| id >= last),
            Wanted::Window { to_ms, .. } => trade.exchange_time_ms > to_ms,
        }
    }

    fn trade(
        &self,
        id: u64,
        fields: TradeFields<'_>,
        received_time_ms: i64,
    ) -> Result<Trade, VenueError> {
        Ok(Trade {
            exchange: Exchange::Binance,
            market_type: self.market_type,
            symbol: self.symbol.clone(),
            trade_id: id.to_compact_string(),
            aggregated: self.wanted.aggregated(),
            price: decimal("p", fields.price)?,
            quantity: decimal("q", fields.quantity)?,
            side: taker_side(fields.buyer_is_maker),
            exchange_time_ms: fields.time_ms,
            received_time_ms,
            sequence: Some(id),
            source: TradeSource::Rest,
        })
    }

    /// Reads a page of trades paged by id.
    fn read_page(&self, body: &str, received_time_ms: i64) -> Result<Vec<Trade>, VenueError> {
        if self.wanted.aggregated() {
            let page: Vec<BinanceAggTrade<'_>> = serde_json::from_str(body)?;
            page.iter()
                .map(|wire| {
                    self.trade(
                        wire.aggregate_id,
                        TradeFields {
                            price: &wire.price,
                            quantity: &wire.quantity,
                            buyer_is_maker: wire.buyer_is_maker,
                            time_ms: wire.time_ms,
                        },
                        received_time_ms,
                    )
                })
                .collect()
        } else {
            let page: Vec<BinanceHistoricalTrade<'_>> = serde_json::from_str(body)?;
            page.iter()
                .map(|wire| {
                    self.trade(
                        wire.id,
                        TradeFields {
                            price: &wire.price,
                            quantity: &wire.qty,
                            buyer_is_maker: wire.is_buyer_maker,
                            time_ms: wire.time,
                        },
                        received_time_ms,
                    )
                })
                .collect()
        }
    }
}

/// The fields both answers share, under their different names.
struct TradeFields<'a> {
    price: &'a str,
    quantity: &'a str,
    buyer_is_maker: bool,
    time_ms: i64,
}

impl HistoryPager for BinancePager {
    fn next_url(&self) -> Option<String> {
        let symbol = to_native(&self.symbol);
        match self.cursor {
            Cursor::Locate { start_ms } => Some(format!(
                "{}{}?symbol={symbol}&startTime={start_ms}&endTime={}&limit={PAGE_LIMIT}",
                self.base,
                self.aggregate_path(),
                (start_ms + SEARCH_SPAN_MS).min(self.window_end()),
            )),
            Cursor::FromId(id) => {
                let path = if self.wanted.aggregated() {
                    self.aggregate_path()
                } else {
                    "/api/v3/historicalTrades"
                };
                Some(format!(
                    "{}{path}?symbol={symbol}&fromId={id}&limit={PAGE_LIMIT}",
                    self.base
                ))
            }
            Cursor::Done => None,
        }
    }

    fn accept(&mut self, body: &str, received_time_ms: i64) -> Result<Vec<Trade>, VenueError> {
        match self.cursor {
            Cursor::Done => Ok(Vec::new()),
            Cursor::Locate { start_ms } => {
                let page: Vec<BinanceAggTrade<'_>> = serde_json::from_str(body)?;
                let searched_to = (start_ms + SEARCH_SPAN_MS).min(self.window_end());
                self.cursor = match page.first() {
                    None if searched_to >= self.window_end() => Cursor::Done,
                    None => Cursor::Locate {
                        start_ms: searched_to + 1,
                    },
                    Some(first) if self.wanted.aggregated() => Cursor::FromId(first.aggregate_id),
                    Some(first) => Cursor::FromId(first.first_trade_id),
                };
                Ok(Vec::new())
            }
            Cursor::FromId(asked) => {
                let page = self.read_page(body, received_time_ms)?;
                if let (Wanted::Ids { first, .. }, Some(oldest)) = (self.wanted, page.first()) {
                    let oldest = oldest.sequence.unwrap_or(asked);
                    if asked == first && oldest > first {
                        self.shortfall = Some(format!(
                            "Binance's history starts at id {oldest}, after {first}"
                        ));
                    }
                }
                self.cursor = match page.last() {
                    Some(last) if page.len() >= PAGE_LIMIT && !self.is_past_range(last) => {
                        Cursor::FromId(last.sequence.unwrap_or(asked) + 1)
                    }
                    _ => Cursor::Done,
                };
                Ok(page
                    .into_iter()
                    .filter(|trade| self.wanted.contains(trade))
                    .collect())
            }
        }
    }

    fn shortfall(&self) -> Option<String> {
        self.shortfall.clone()
    }
}
