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
    /// An order book stayed out of sync longer than the configured time (its snapshots did
    /// not bridge the stream, or could not be fetched). Only the order book is affected.
    /// `from_ms` is the local time the book lost sync (or its session started), and the rows
    /// relate as follows, since `to_ms` is part of a gap's key: once the threshold is
    /// crossed, `(from_ms, crossed)` is recorded open; when the book syncs, the same key is
    /// recorded closed (replacing the open row) together with a closed `(from_ms, synced)`,
    /// which covers the whole outage. A book that never syncs keeps its open row.
    BookUnsynced,
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
            GapReason::BookUnsynced => "book_unsynced",
            GapReason::SpoolOverflow => "spool_overflow",
        }
    }

    /// True for gaps that concern only the order book: a fresh snapshot closes them, and no
    /// trade history can fill them.
    pub const fn is_book_only(self) -> bool {
        matches!(
            self,
            GapReason::SequenceBreak
                | GapReason::ChecksumMismatch
                | GapReason::CrossedBook
                | GapReason::BookUnsynced
        )
    }
}

/// What has become of a gap. A gap is published again whenever its status changes, with the
/// same instrument, reason and window: the stored row with the latest status wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapStatus {
    /// Recorded; nothing has been done about it yet.
    #[default]
    Open,
    /// An order-book gap that a fresh snapshot ended: the book is whole again.
    Closed,
    /// Every missing trade was recovered from the venue's history.
    Filled,
    /// Some missing trades were recovered; [`GapState::detail`] says why not all.
    Partial,
    /// No missing trade could be recovered; [`GapState::detail`] says why.
    Unfillable,
}

impl GapStatus {
    /// The identifier stored in rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            GapStatus::Open => "open",
            GapStatus::Closed => "closed",
            GapStatus::Filled => "filled",
            GapStatus::Partial => "partial",
            GapStatus::Unfillable => "unfillable",
        }
    }

    /// True while nothing has been done about the gap.
    pub const fn is_open(self) -> bool {
        matches!(self, GapStatus::Open)
    }
}

/// A gap's status, with the counts and reason of a backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapState {
    /// Where the gap stands.
    pub status: GapStatus,
    /// Trades recovered from the venue's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<u64>,
    /// Trades known to be missing that were not recovered (known where the venue's trade
    /// counter is contiguous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrecovered: Option<u64>,
    /// Why the gap has this status, e.g. that the venue keeps only its latest trades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl GapState {
    /// A state of `status` with no counts.
    pub const fn of(status: GapStatus) -> Self {
        GapState {
            status,
            recovered: None,
            unrecovered: None,
            detail: None,
        }
    }

    /// True for a freshly recorded gap, which its message leaves out.
    pub fn is_open(&self) -> bool {
        *self == GapState::default()
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
    /// Where the gap stands: open when recorded, later closed, filled, partial or unfillable.
    #[serde(default, skip_serializing_if = "GapState::is_open")]
    pub state: GapState,
    /// The named collector that missed the data, when collectors are named (several may
    /// record one feed); absent from an unnamed collector. See [`crate::coverage`] for how
    /// the gaps of several collectors combine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<String>,
}

/// An inclusive range of a venue's trade counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRange {
    /// The first missing counter.
    pub first: u64,
    /// The last missing counter.
    pub last: u64,
    /// True when the counters are aggregate-trade ids (Binance `a`), which are numbered apart
    /// from single-trade ids: a backfill asks the venue's history of the same stream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aggregated: bool,
}
