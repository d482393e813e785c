//! Coinbase Exchange wire types ([`super::wire`]) to model events. Pure: the receive time is
//! an argument.

use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{MarketType, PriceLevel, Trade};

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

/// A `snapshot`. It has neither a time nor an id: its id is 0 and the sequencer gives it the
/// time of the first update applied on top of it.
pub(super) fn snapshot(
    wire: &wire::Snapshot<'_>,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    Ok(BookMessage {
        market_type: MarketType::Spot,
        symbol: from_native(&wire.product_id)?,
        update: BookUpdate {
            kind: UpdateKind::Snapshot,
            first_id: 0,
            last_id: 0,
            prev_id: None,
            bids: levels("bids", &wire.bids)?,
            asks: levels("asks", &wire.asks)?,
            checksum: None,
            exchange_time_ms: None,
            received_time_ms,
        },
    })
}

/// An `l2update`. Updates are not numbered; the update's time in microseconds stands in for
/// its id.
pub(super) fn update(
    wire: &wire::L2Update<'_>,
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
    let time_us = micros("time", &wire.time)?;
    let id = u64::try_from(time_us)
        .map_err(|_| VenueError::Unrecognized(format!("l2update time {:?}", wire.time)))?;
    Ok(BookMessage {
        market_type: MarketType::Spot,
        symbol: from_native(&wire.product_id)?,
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
