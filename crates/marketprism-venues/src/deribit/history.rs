//! Deribit trade history over REST, ascending, 1,000 trades a page: a range of `trade_seq`
//! with `public/get_last_trades_by_instrument` (`start_seq`, `end_seq`), a time window with
//! `public/get_last_trades_by_instrument_and_time` (`start_timestamp`, `end_timestamp`), each
//! continued from the sequence number after the last trade received while `has_more`.
//! Docs: <https://docs.deribit.com/#public-get_last_trades_by_instrument>,
//! <https://docs.deribit.com/#public-get_last_trades_by_instrument_and_time>

use marketprism_model::{MarketType, Trade, TradeSource};

use super::normalize;
use super::symbol::to_native;
use super::wire;
use crate::history::{HistoryPager, HistoryRange, Wanted};
use crate::VenueError;

/// Trades per page (the most Deribit answers).
pub const PAGE_LIMIT: usize = 1000;

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// The window's first page, by time.
    Window,
    /// From this `trade_seq`.
    FromSeq(u64),
    /// Paging has ended.
    Done,
}

/// Pages one Deribit instrument's trade history forwards over a range.
pub(super) struct DeribitPager {
    base: String,
    instrument: String,
    wanted: Wanted,
    cursor: Cursor,
    shortfall: Option<String>,
}

impl DeribitPager {
    /// A pager over `range` of a `market_type` instrument at `rest_endpoint`.
    pub(super) fn new(rest_endpoint: &str, market_type: MarketType, range: HistoryRange) -> Self {
        let cursor = match range.wanted {
            Wanted::Ids { first, .. } => Cursor::FromSeq(first),
            Wanted::Window { .. } => Cursor::Window,
        };
        DeribitPager {
            base: rest_endpoint.trim_end_matches('/').to_owned(),
            instrument: to_native(market_type, &range.symbol),
            wanted: range.wanted,
            cursor,
            shortfall: None,
        }
    }
}

impl HistoryPager for DeribitPager {
    fn next_url(&self) -> Option<String> {
        let base = &self.base;
        let instrument = &self.instrument;
        match (self.cursor, self.wanted) {
            (Cursor::Done, _) => None,
            (Cursor::Window, Wanted::Window { from_ms, to_ms, .. }) => Some(format!(
                "{base}/api/v2/public/get_last_trades_by_instrument_and_time?instrument_name={instrument}&start_timestamp={from_ms}&end_timestamp={to_ms}&count={PAGE_LIMIT}&sorting=asc"
            )),
            (Cursor::FromSeq(start), Wanted::Ids { last, .. }) => Some(format!(
                "{base}/api/v2/public/get_last_trades_by_instrument?instrument_name={instrument}&start_seq={start}&end_seq={last}&count={PAGE_LIMIT}&sorting=asc"
            )),
            (Cursor::FromSeq(start), Wanted::Window { .. }) => Some(format!(
                "{base}/api/v2/public/get_last_trades_by_instrument?instrument_name={instrument}&start_seq={start}&count={PAGE_LIMIT}&sorting=asc"
            )),
            (Cursor::Window, Wanted::Ids { .. }) => None,
        }
    }

    fn accept(&mut self, body: &str, received_time_ms: i64) -> Result<Vec<Trade>, VenueError> {
        let result = wire::rest_result(body)?;
        let page: wire::TradeHistory<'_> = serde_json::from_str(result.get())?;
        let trades = page
            .trades
            .iter()
            .map(|wire| {
                normalize::trade(wire, received_time_ms).map(|trade| Trade {
                    source: TradeSource::Rest,
                    ..trade
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let (Wanted::Ids { first, .. }, Cursor::FromSeq(asked)) = (self.wanted, self.cursor) {
            let oldest = trades.first().and_then(|trade| trade.sequence);
            if let Some(oldest) = oldest.filter(|oldest| asked == first && *oldest > first) {
                self.shortfall = Some(format!(
                    "Deribit's history starts at trade_seq {oldest}, after {first}"
                ));
            }
        }
        let past_range = trades.last().is_some_and(|last| match self.wanted {
            Wanted::Ids { last: wanted, .. } => last.sequence.is_some_and(|seq| seq >= wanted),
            Wanted::Window { to_ms, .. } => last.exchange_time_ms > to_ms,
        });
        self.cursor = match trades.last().and_then(|last| last.sequence) {
            Some(seq) if page.has_more && !past_range => Cursor::FromSeq(seq + 1),
            _ => Cursor::Done,
        };
        Ok(trades
            .into_iter()
            .filter(|trade| self.wanted.contains(trade))
            .collect())
    }

    fn shortfall(&self) -> Option<String> {
        self.shortfall.clone()
    }
}
