//! The venue-neutral form of one book message, as venue parsers produce it.

use marketprism_model::PriceLevel;

/// Whether a message replaces the book or changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateKind {
    /// The complete book (to the venue's depth) as of `last_id`.
    Snapshot,
    /// Absolute quantities for the levels that changed; a zero quantity deletes a level.
    Delta,
}

/// One book message with the venue's sequence identifiers.
///
/// How the identifiers chain is the venue's rule ([`crate::SyncRule`]); parsers only copy them:
///
/// | venue | `first_id` | `last_id` | `prev_id` |
/// |---|---|---|---|
/// | Binance spot | `U` | `u` (`lastUpdateId` for a snapshot) | — |
/// | Binance USDⓈ-M | `U` | `u` (`lastUpdateId`) | `pu` |
/// | OKX | `seqId` | `seqId` | `prevSeqId` (absent in old frames) |
/// | Deribit | `change_id` | `change_id` | `prev_change_id` |
/// | Bybit v5 | `u` | `u` | — |
/// | Coinbase Advanced Trade | `timestamp` (ns), raised above the book's previous id | the same | the book's previous id on the connection, if no message was lost since (`sequence_num`) |
/// | Coinbase Exchange | `time` in µs, raised above the book's previous id (0 for a snapshot) | the same | — |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookUpdate {
    /// Snapshot or delta.
    pub kind: UpdateKind,
    /// The first venue update id this message covers.
    pub first_id: u64,
    /// The last venue update id this message covers.
    pub last_id: u64,
    /// The id of the message this one follows, for venues that send it.
    pub prev_id: Option<u64>,
    /// Bid levels.
    pub bids: Vec<PriceLevel>,
    /// Ask levels.
    pub asks: Vec<PriceLevel>,
    /// The venue's checksum of the book after this message, when it sends a non-zero one.
    pub checksum: Option<i32>,
    /// Venue time of the message, Unix milliseconds; `None` when the venue gives none (a
    /// Binance spot REST snapshot): the [`crate::Sequencer`] then stamps it from the stream.
    pub exchange_time_ms: Option<i64>,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}
