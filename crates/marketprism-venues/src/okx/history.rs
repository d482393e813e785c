//! OKX trade history over REST: `GET /api/v5/market/history-trades`, newest first, 100 trades
//! a page. A window is entered by time (`type=2`, `after=<end>`: trades before the end) and
//! paged backwards by trade id (`type=1`, `after=<oldest id so far>`) until a trade at or
//! before the window's start shows the history reached it; a page that comes back empty
//! first means OKX's history (three months) ends inside the window. OKX does not document its
//! trade ids as contiguous, so only windows are asked for, never ranges of ids.
//! Docs: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades-history>

use marketprism_model::{MarketType, Trade, TradeSource};

use super::normalize;
use super::symbol::to_native;
use super::wire::HistoryTradesAnswer;
use crate::history::{unsupported, HistoryPager, HistoryRange, Wanted};
use crate::VenueError;

/// Trades per page (the most OKX answers).
pub const PAGE_LIMIT: usize = 100;

/// Where the next page ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    /// Trades before this time (Unix ms).
    BeforeTime(i64),
    /// Trades older than this trade id.
    BeforeId(String),
    /// Paging has ended.
    Done,
}

/// Pages one OKX instrument's trade history backwards over a window.
pub(super) struct OkxPager {
    base: String,
    inst_id: String,
    wanted: Wanted,
    from_ms: i64,
    cursor: Cursor,
    reached_start: bool,
    oldest_ms: Option<i64>,
}

impl OkxPager {
    /// A pager over `range` of a `market_type` instrument at `rest_endpoint`.
    pub(super) fn new(
        rest_endpoint: &str,
        market_type: MarketType,
        range: HistoryRange,
    ) -> Result<Self, VenueError> {
        let Wanted::Window { from_ms, to_ms, .. } = range.wanted else {
            return Err(unsupported("okx", "trade history by id"));
        };
        Ok(OkxPager {
            base: rest_endpoint.trim_end_matches('/').to_owned(),
            inst_id: to_native(market_type, &range.symbol),
            wanted: range.wanted,
            from_ms,
            // `after` is exclusive; the window's end is not.
            cursor: Cursor::BeforeTime(to_ms.saturating_add(1)),
            reached_start: false,
            oldest_ms: None,
        })
    }
}

impl HistoryPager for OkxPager {
    fn next_url(&self) -> Option<String> {
        let (kind, after) = match &self.cursor {
            Cursor::BeforeTime(ms) => (2, ms.to_string()),
            Cursor::BeforeId(id) => (1, id.clone()),
            Cursor::Done => return None,
        };
        Some(format!(
            "{}/api/v5/market/history-trades?instId={}&type={kind}&after={after}&limit={PAGE_LIMIT}",
            self.base, self.inst_id
        ))
    }

    fn accept(&mut self, body: &str, received_time_ms: i64) -> Result<Vec<Trade>, VenueError> {
        let answer: HistoryTradesAnswer<'_> = serde_json::from_str(body)?;
        if answer.code != "0" {
            return Err(VenueError::Unrecognized(format!(
                "code {}: {}",
                answer.code, answer.msg
            )));
        }
        let mut trades = Vec::with_capacity(answer.data.len());
        for wire in &answer.data {
            let mut trade = normalize::trade(wire, received_time_ms)?;
            trade.source = TradeSource::Rest;
            self.oldest_ms = Some(self.oldest_ms.map_or(trade.exchange_time_ms, |oldest| {
                oldest.min(trade.exchange_time_ms)
            }));
            if trade.exchange_time_ms < self.from_ms {
                self.reached_start = true;
            }
            trades.push(trade);
        }
        self.cursor = match answer.data.last() {
            Some(oldest) if !self.reached_start => Cursor::BeforeId(oldest.trade_id.to_string()),
            _ => Cursor::Done,
        };
        trades.retain(|trade| self.wanted.contains(trade));
        Ok(trades)
    }

    fn shortfall(&self) -> Option<String> {
        if self.reached_start {
            return None;
        }
        Some(match self.oldest_ms {
            Some(oldest) => format!(
                "OKX's history ends at {oldest} ms, not before the gap's start at {} ms",
                self.from_ms
            ),
            None => format!(
                "OKX's history holds no trade of {} in the gap",
                self.inst_id
            ),
        })
    }
}
