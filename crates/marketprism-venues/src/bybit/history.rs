//! Bybit trade history over REST: `GET /v5/market/recent-trade` serves only the latest 1,000
//! trades of an instrument (newest first), in one page. A window older than those is
//! partly or wholly beyond reach, and the shortfall says so. Bybit's trade ids are not
//! counters, so only windows are asked for.
//! Docs: <https://bybit-exchange.github.io/docs/v5/market/recent-trade>

use compact_str::CompactString;
use marketprism_model::{Exchange, MarketType, Symbol, Trade, TradeSource};

use super::normalize::taker_side;
use super::symbol::to_native;
use super::wire::RecentTradeAnswer;
use crate::decimal::decimal;
use crate::history::{unsupported, HistoryPager, HistoryRange, Wanted};
use crate::VenueError;

/// The most trades Bybit serves, and asks of it.
pub const PAGE_LIMIT: usize = 1000;

/// Reads Bybit's one page of recent trades over a window.
pub(super) struct BybitPager {
    url: Option<String>,
    market_type: MarketType,
    symbol: Symbol,
    wanted: Wanted,
    from_ms: i64,
    shortfall: Option<String>,
}

impl BybitPager {
    /// A pager over `range` of a `market_type` instrument at `rest_endpoint`.
    pub(super) fn new(
        rest_endpoint: &str,
        market_type: MarketType,
        range: HistoryRange,
    ) -> Result<Self, VenueError> {
        let Wanted::Window { from_ms, .. } = range.wanted else {
            return Err(unsupported("bybit", "trade history by id"));
        };
        let category = match market_type {
            MarketType::Spot => "spot",
            _ => "linear",
        };
        Ok(BybitPager {
            url: Some(format!(
                "{}/v5/market/recent-trade?category={category}&symbol={}&limit={PAGE_LIMIT}",
                rest_endpoint.trim_end_matches('/'),
                to_native(&range.symbol)
            )),
            market_type,
            symbol: range.symbol,
            wanted: range.wanted,
            from_ms,
            shortfall: None,
        })
    }
}

impl HistoryPager for BybitPager {
    fn next_url(&self) -> Option<String> {
        self.url.clone()
    }

    fn accept(&mut self, body: &str, received_time_ms: i64) -> Result<Vec<Trade>, VenueError> {
        self.url = None;
        let answer: RecentTradeAnswer<'_> = serde_json::from_str(body)?;
        if answer.ret_code != 0 {
            return Err(VenueError::Unrecognized(format!(
                "retCode {}: {}",
                answer.ret_code, answer.ret_msg
            )));
        }
        let trades = answer
            .result
            .list
            .iter()
            .map(|wire| {
                let time: i64 = wire.time.parse().map_err(|_| VenueError::Decimal {
                    field: "time",
                    value: wire.time.to_string(),
                })?;
                Ok(Trade {
                    exchange: Exchange::Bybit,
                    market_type: self.market_type,
                    symbol: self.symbol.clone(),
                    trade_id: CompactString::from(wire.exec_id.as_ref()),
                    aggregated: false,
                    price: decimal("price", &wire.price)?,
                    quantity: decimal("size", &wire.size)?,
                    side: taker_side(&wire.side)?,
                    exchange_time_ms: time,
                    received_time_ms,
                    sequence: None,
                    source: TradeSource::Rest,
                })
            })
            .collect::<Result<Vec<_>, VenueError>>()?;
        let oldest = trades.iter().map(|trade| trade.exchange_time_ms).min();
        // Fewer trades than asked for is the instrument's whole history.
        if trades.len() >= PAGE_LIMIT {
            // A trade of the window's first millisecond older than the oldest served may be
            // missing: the history reaches the window only from before it.
            if let Some(oldest) = oldest.filter(|oldest| *oldest >= self.from_ms) {
                self.shortfall = Some(format!(
                    "Bybit serves only its latest {PAGE_LIMIT} trades; the oldest, at {oldest} ms, is not before the gap's start at {} ms",
                    self.from_ms
                ));
            }
        }
        Ok(trades
            .into_iter()
            .filter(|trade| self.wanted.contains(trade))
            .collect())
    }

    fn shortfall(&self) -> Option<String> {
        self.shortfall.clone()
    }
}
