//! Gap events: windows in which data for an instrument may be missing.

use serde::{Deserialize, Serialize};

use crate::{Exchange, MarketType, Symbol};

/// Why the collector could not vouch for a window of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The connection closed or failed and had to be re-established.
    Disconnect,
    /// The no-data watchdog fired and the connection was replaced.
    Stale,
    /// An order-book update was missing or out of order (or a snapshot was older than the
    /// stream); the book was rebuilt from a fresh snapshot. Only the order book is affected.
    SequenceBreak,
    /// The venue's order-book checksum disagreed with the book; it was rebuilt. Only the order
    /// book is affected.
    ChecksumMismatch,
    /// The order book crossed (best bid at or above best ask); it was rebuilt. Only the order
    /// book is affected.
    CrossedBook,
    /// The collector stopped (or was killed) and started again: the window runs from the last
    /// event it had seen of the instrument, as persisted, to the new subscription.
    Restart,
    /// The venue's contiguous trade counter jumped: the trades between were not received.
    /// Only the trades of one stream (single or aggregated) are affected, and the gap names
    /// the missing ids.
    TradeIdGap,
    /// JetStream did not acknowledge and the collector's on-disk spool was full: events of
    /// the instrument that arrived in the window were dropped.
    SpoolOverflow,
}

impl GapReason {
    /// The identifier stored in rows and message ids.
    pub const fn as_str(self) -> &'static str {
        match self {
            GapReason::Disconnect => "disconnect",
            GapReason::Stale => "stale",
            GapReason::SequenceBreak => "sequence_break",
            GapReason::ChecksumMismatch => "checksum_mismatch",
            GapReason::CrossedBook => "crossed_book",
            GapReason::Restart => "restart",
            GapReason::TradeIdGap => "trade_id_gap",
            GapReason::SpoolOverflow => "spool_overflow",
        }
    }
}

/// A window `(from_ms, to_ms)` during which events of one instrument may have been missed.
///
/// `from_ms` is the venue time of the last event received before the interruption (or the
/// local time of the interruption when none was received); `to_ms` is the local time at which
/// the subscription was confirmed again. Anything the venue emitted strictly inside the window
/// may be absent downstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    /// Venue of the interrupted feed.
    pub exchange: Exchange,
    /// Market of the interrupted feed.
    pub market_type: MarketType,
    /// Instrument whose data may be incomplete.
    pub symbol: Symbol,
    /// Start of the window, Unix milliseconds.
    pub from_ms: i64,
    /// End of the window, Unix milliseconds.
    pub to_ms: i64,
    /// What caused the interruption.
    pub reason: GapReason,
    /// Local time the gap was recorded, Unix milliseconds.
    pub received_time_ms: i64,
    /// For a [`GapReason::TradeIdGap`], the venue trade counters missed, first and last
    /// inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_ids: Option<IdRange>,
}

/// An inclusive range of a venue's trade counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRange {
    /// The first missing counter.
    pub first: u64,
    /// The last missing counter.
    pub last: u64,
}
