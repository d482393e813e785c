//! Venues' public trade history over REST, paged to recover the trades a gap missed.
//!
//! A [`HistoryPager`] is a pure state machine: it names the URL of the next page, reads the
//! venue's answer into the trades of the wanted range (normalized exactly as the live stream
//! normalizes them, with [`TradeSource::Rest`](marketprism_model::TradeSource::Rest)), and
//! says whether the venue's history reached back to the start of the range. The caller owns
//! the HTTP requests, their rate limits and the publishing.

use marketprism_model::{Symbol, Trade};

use crate::VenueError;

/// The trades a backfill asks a venue's history for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRange {
    /// The instrument.
    pub symbol: Symbol,
    /// Which trades of it.
    pub wanted: Wanted,
}

/// Which trades of an instrument are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The trades whose counters (Binance ids, Deribit `trade_seq`) lie in `first..=last`.
    Ids {
        /// The first missing counter.
        first: u64,
        /// The last missing counter.
        last: u64,
        /// Aggregate-trade ids (Binance `a`) rather than single-trade ids.
        aggregated: bool,
    },
    /// The trades executed from `from_ms` to `to_ms` (Unix milliseconds), both included: a
    /// gap's window runs from the last event seen before it to the first after it, and
    /// other trades of those same milliseconds may be missing too (those that are not come
    /// again with the same keys and are stored once).
    Window {
        /// Start of the window, inclusive.
        from_ms: i64,
        /// End of the window, inclusive.
        to_ms: i64,
        /// Aggregate trades (Binance `aggTrades`) rather than single trades.
        aggregated: bool,
    },
}

impl Wanted {
    /// True when `trade` belongs to the wanted range.
    pub fn contains(&self, trade: &Trade) -> bool {
        match *self {
            Wanted::Ids { first, last, .. } => trade
                .sequence
                .is_some_and(|sequence| (first..=last).contains(&sequence)),
            Wanted::Window { from_ms, to_ms, .. } => {
                (from_ms..=to_ms).contains(&trade.exchange_time_ms)
            }
        }
    }

    /// True for aggregate trades.
    pub fn aggregated(&self) -> bool {
        match *self {
            Wanted::Ids { aggregated, .. } | Wanted::Window { aggregated, .. } => aggregated,
        }
    }
}

/// Pages a venue's trade history over one [`HistoryRange`].
pub trait HistoryPager: Send {
    /// The URL of the next page; `None` once the range is covered or the history exhausted.
    fn next_url(&self) -> Option<String>;

    /// Reads the answer to the last [`Self::next_url`], received at `received_time_ms`, and
    /// returns the trades of the wanted range it holds.
    fn accept(&mut self, body: &str, received_time_ms: i64) -> Result<Vec<Trade>, VenueError>;

    /// Why the venue's history did not reach back to the start of the range, once paging has
    /// ended; `None` when it did.
    fn shortfall(&self) -> Option<String>;
}

/// The error for a range a venue's history cannot be asked for.
pub(crate) fn unsupported(venue: &str, what: &'static str) -> VenueError {
    VenueError::UnsupportedChannel {
        venue: venue.to_owned(),
        channel: what,
    }
}
