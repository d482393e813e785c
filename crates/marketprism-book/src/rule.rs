//! Each venue's documented rule for chaining book messages.

use crate::{okx_checksum, Book, BookUpdate};

/// A venue's book synchronization rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncRule {
    /// Binance spot: snapshot from REST; drop `u <= lastUpdateId`; the first applied event has
    /// `U <= lastUpdateId + 1 <= u`; then each `U == previous u + 1`.
    BinanceSpot,
    /// Binance USDⓈ-M futures: snapshot from REST; drop `u < lastUpdateId`; the first applied
    /// event has `U <= lastUpdateId <= u` (or `pu == lastUpdateId`, a snapshot taken at an
    /// event boundary); then each `pu == previous u`.
    BinanceUsdm,
    /// OKX `books`: snapshot in the stream; each update has `prevSeqId == previous seqId`
    /// (identity, not +1); frames without sequence ids rely on the checksum alone.
    Okx,
    /// Deribit: snapshot in the stream; each `prev_change_id == previous change_id`.
    Deribit,
    /// Bybit v5: snapshot in the stream (a `u = 1` snapshot after a venue restart included);
    /// each delta's `u == previous u + 1`.
    Bybit,
    /// Coinbase Advanced Trade `level2`: snapshot in the stream; messages are numbered per
    /// connection across every channel (`sequence_num`), so the parser chains each book's
    /// messages itself: a book message carries, as `prev_id`, the id of the book's previous
    /// message on the connection when no message of the connection was lost in between (none
    /// otherwise), and continues the book when that is the book's last update.
    CoinbaseAdvanced,
    /// Coinbase Exchange `level2`/`level2_batch`: snapshot in the stream, updates unnumbered
    /// and delivered in order without loss (the venue drops a connection that falls behind),
    /// so every update follows the one before. A snapshot carries neither an id nor a time:
    /// it takes both from the first update applied on top of it (see [`crate::Sequencer`]).
    CoinbaseExchange,
}

/// How a delta relates to the update applied before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Continuity {
    /// It is the next update.
    Next,
    /// It was already applied (a duplicate or a stale repeat).
    AlreadyApplied,
    /// Updates between the two are missing, or the delta is out of order.
    Break,
}

/// How a buffered delta relates to a REST snapshot (Binance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bridge {
    /// The snapshot already contains it: drop it.
    Stale,
    /// It is the first update to apply on top of the snapshot.
    Bridges,
    /// Updates between the snapshot and it are missing: the snapshot is too old.
    SnapshotBehind,
}

impl SyncRule {
    /// True when the venue sends snapshots in the stream; false when the book must be
    /// bootstrapped from a REST snapshot while the stream is buffered.
    pub const fn snapshot_in_stream(self) -> bool {
        !matches!(self, SyncRule::BinanceSpot | SyncRule::BinanceUsdm)
    }

    /// False when the venue's snapshots carry no id (Coinbase Exchange): the sequencer then
    /// gives a snapshot the id just before the first update applied on top of it.
    pub const fn snapshot_has_id(self) -> bool {
        !matches!(self, SyncRule::CoinbaseExchange)
    }

    /// The venue's checksum of `book`, for venues that publish one.
    pub fn checksum(self, book: &Book) -> Option<i32> {
        match self {
            SyncRule::Okx => Some(okx_checksum(book)),
            _ => None,
        }
    }

    /// Relates a delta to the previously applied update `last_id`.
    pub(crate) fn continuity(self, last_id: u64, update: &BookUpdate) -> Continuity {
        let next = match self {
            SyncRule::BinanceSpot | SyncRule::Bybit => {
                Some(update.first_id) == last_id.checked_add(1)
            }
            SyncRule::BinanceUsdm | SyncRule::Deribit | SyncRule::CoinbaseAdvanced => {
                update.prev_id == Some(last_id)
            }
            SyncRule::Okx => match update.prev_id {
                Some(prev_id) => prev_id == last_id,
                None => true,
            },
            SyncRule::CoinbaseExchange => true,
        };
        if next {
            Continuity::Next
        } else if update.last_id <= last_id && self != SyncRule::Okx {
            Continuity::AlreadyApplied
        } else if self == SyncRule::Okx && update.last_id == last_id {
            // OKX ids may restart lower after maintenance, so only an exact repeat of the
            // last id is recognizably a duplicate.
            Continuity::AlreadyApplied
        } else {
            Continuity::Break
        }
    }

    /// Relates a buffered delta to a REST snapshot taken at `snapshot_id`.
    pub(crate) fn bridge(self, snapshot_id: u64, update: &BookUpdate) -> Bridge {
        let (stale, bridges) = match self {
            // An event whose `pu` is the snapshot's id continues it exactly, as when the
            // snapshot was taken at an event boundary.
            SyncRule::BinanceUsdm => (
                update.last_id < snapshot_id,
                update.first_id <= snapshot_id || update.prev_id == Some(snapshot_id),
            ),
            _ => (
                update.last_id <= snapshot_id,
                update.first_id <= snapshot_id.saturating_add(1),
            ),
        };
        if stale {
            Bridge::Stale
        } else if bridges {
            Bridge::Bridges
        } else {
            Bridge::SnapshotBehind
        }
    }
}
