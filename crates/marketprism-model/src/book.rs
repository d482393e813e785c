//! Order-book levels and the published top-of-book event.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Exchange, MarketType, Symbol};

/// One price level: the total quantity resting at a price.
///
/// On the wire a level is the pair `["price", "quantity"]` of decimal strings, scale kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "LevelPair", into = "LevelPair")]
pub struct PriceLevel {
    /// The price.
    pub price: Decimal,
    /// The total quantity at the price, in the venue's quantity unit; zero deletes the level
    /// when the level is part of a delta.
    pub quantity: Decimal,
}

impl PriceLevel {
    /// A level of `quantity` at `price`.
    pub const fn new(price: Decimal, quantity: Decimal) -> Self {
        PriceLevel { price, quantity }
    }
}

#[derive(Serialize, Deserialize)]
struct LevelPair(
    #[serde(with = "rust_decimal::serde::str")] Decimal,
    #[serde(with = "rust_decimal::serde::str")] Decimal,
);

impl From<LevelPair> for PriceLevel {
    fn from(LevelPair(price, quantity): LevelPair) -> Self {
        PriceLevel { price, quantity }
    }
}

impl From<PriceLevel> for LevelPair {
    fn from(level: PriceLevel) -> Self {
        LevelPair(level.price, level.quantity)
    }
}

/// The best `N` levels of a synchronized order book, as of one venue update.
///
/// Only books the sequencer vouches for are published: a book that missed an update is
/// withheld until it has been rebuilt from a fresh snapshot, and a gap covers the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBook {
    /// Venue of the book.
    pub exchange: Exchange,
    /// Market the instrument trades on.
    pub market_type: MarketType,
    /// Normalized instrument.
    pub symbol: Symbol,
    /// The venue's id of the last update applied (Binance `u`, OKX `seqId`, Deribit
    /// `change_id`, Bybit `u`).
    pub update_id: u64,
    /// Venue time of the last update applied, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local time the last update applied was received, Unix milliseconds.
    pub received_time_ms: i64,
    /// Bids, best (highest) first.
    pub bids: Vec<PriceLevel>,
    /// Asks, best (lowest) first.
    pub asks: Vec<PriceLevel>,
}

/// One order-book message exactly as the sequencer applied it to a valid book, for consumers
/// that rebuild the full-depth book: a snapshot resets the book, each delta sets the given
/// levels (a zero quantity deletes). A snapshot deeper than the collector's book bound
/// carries the levels the book kept. Only messages that continued a valid book are published;
/// a `gap` precedes the snapshot that follows any break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBookDelta {
    /// Venue of the book.
    pub exchange: Exchange,
    /// Market the instrument trades on.
    pub market_type: MarketType,
    /// Normalized instrument.
    pub symbol: Symbol,
    /// True for a snapshot (the whole book), false for a delta.
    pub snapshot: bool,
    /// The first venue update id the message covers.
    pub first_update_id: u64,
    /// The last venue update id the message covers.
    pub update_id: u64,
    /// Venue time of the message, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
    /// Bid levels set by the message.
    pub bids: Vec<PriceLevel>,
    /// Ask levels set by the message.
    pub asks: Vec<PriceLevel>,
}
