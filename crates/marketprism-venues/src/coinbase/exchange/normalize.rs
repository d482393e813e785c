//! Coinbase Exchange wire types ([`super::wire`]) to model events. Pure: the receive time and
//! each book's last id on the connection come in as arguments.

use std::collections::HashMap;

use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{MarketType, PriceLevel, Symbol, Trade};

use super::wire;
use crate::coinbase::symbol::from_native;
use crate::coinbase::time::micros;
use crate::coinbase::trade::TradeFields;
use crate::decimal::{decimal, levels};
use crate::{BookMessage, VenueError};

/// One `match` or `last_match`. Trade ids count each product's trades without holes, so they
/// are the trade's sequence.
pub(super) fn trade(wire: &wire::Match<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    let fields = TradeFields {
        product_id: &wire.product_id,
        trade_id: wire.trade_id,
        price: &wire.price,
        size: &wire.size,
        side: &wire.side,
        time: &wire.time,
    };
    crate::coinbase::trade::trade(&fields, received_time_ms)
}

/// Each book's last id on the connection: updates are named by their time, which two
/// updates of a book may share (385 of the 2,414 `l2update`s of the capture
/// `coinbase.20210417T1643Z` have the time of the book's update before them), so a time is
/// raised above the book's last id to keep its ids strictly increasing. An id depends on the
/// book's own messages alone, so a replay of a capture and a live connection subscribed to
/// part of it name them alike.
#[derive(Debug, Default)]
pub(super) struct BookIds {
    last: HashMap<Symbol, u64>,
}

impl BookIds {
    /// The id of an update of `symbol` at `time_us`.
    fn update(&mut self, symbol: &Symbol, time_us: u64) -> u64 {
        let id = match self.last.get(symbol) {
            Some(last) => time_us.max(last.saturating_add(1)),
            None => time_us,
        };
        self.last.insert(symbol.clone(), id);
        id
    }

    /// Notes a snapshot of `symbol`. It has no id: the sequencer gives it the id just before
    /// the first update applied on top of it ([`marketprism_book::SyncRule::CoinbaseExchange`]),
    /// so one id is skipped for it, after every id the book had before.
    fn snapshot(&mut self, symbol: &Symbol) {
        if let Some(last) = self.last.get_mut(symbol) {
            *last = last.saturating_add(1);
        }
    }
}

/// A `snapshot`. It has neither a time nor an id: its id is 0 and the sequencer gives it the
/// time of the first update applied on top of it, and the id just before that update's.
pub(super) fn snapshot(
    wire: &wire::Snapshot<'_>,
    ids: &mut BookIds,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    let symbol = from_native(&wire.product_id)?;
    let (bids, asks) = (levels("bids", &wire.bids)?, levels("asks", &wire.asks)?);
    ids.snapshot(&symbol);
    Ok(BookMessage {
        market_type: MarketType::Spot,
        symbol,
        update: BookUpdate {
            kind: UpdateKind::Snapshot,
            first_id: 0,
            last_id: 0,
            prev_id: None,
            bids,
            asks,
            checksum: None,
            exchange_time_ms: None,
            received_time_ms,
        },
    })
}

/// An `l2update`. Updates are not numbered; the update's time in microseconds, raised above
/// the book's last id ([`BookIds`]), stands in for its id.
pub(super) fn update(
    wire: &wire::L2Update<'_>,
    ids: &mut BookIds,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for (side, price, size) in &wire.changes {
        let level = PriceLevel::new(decimal("changes", price)?, decimal("changes", size)?);
        match side.as_ref() {
            "buy" => bids.push(level),
            "sell" => asks.push(level),
            other => return Err(VenueError::Unrecognized(format!("l2update side {other:?}"))),
        }
    }
    let symbol = from_native(&wire.product_id)?;
    let time_us = micros("time", &wire.time)?;
    let since_epoch_us = u64::try_from(time_us)
        .map_err(|_| VenueError::Unrecognized(format!("l2update time {:?}", wire.time)))?;
    let id = ids.update(&symbol, since_epoch_us);
    Ok(BookMessage {
        market_type: MarketType::Spot,
        symbol,
        update: BookUpdate {
            kind: UpdateKind::Delta,
            first_id: id,
            last_id: id,
            prev_id: None,
            bids,
            asks,
            checksum: None,
            exchange_time_ms: Some(time_us / 1_000),
            received_time_ms,
        },
    })
}
