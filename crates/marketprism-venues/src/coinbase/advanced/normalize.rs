//! Coinbase Advanced Trade wire types ([`super::wire`]) to model events. Pure: the receive
//! time and the connection's numbering come in as arguments.

use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{Event, MarketType, PriceLevel, Trade};

use super::numbering::{Numbering, Observed};
use super::wire;
use crate::coinbase::symbol::from_native;
use crate::coinbase::time::millis;
use crate::coinbase::trade::TradeFields;
use crate::decimal::decimal;
use crate::{BookMessage, VenueError};

/// The trades of `market_trades` events as trade events, oldest first per event (Coinbase
/// lists the newest first). Trade ids count each product's trades without holes, so they
/// are the trades' sequence.
pub(super) fn trades(
    events: &[wire::Trades<'_>],
    received_time_ms: i64,
) -> Result<Vec<Event>, VenueError> {
    let mut normalized = Vec::new();
    for event in events {
        let mut trades = event
            .trades
            .iter()
            .map(|trade| self::trade(trade, received_time_ms))
            .collect::<Result<Vec<_>, _>>()?;
        trades.sort_by_key(|trade| trade.sequence);
        normalized.extend(trades.into_iter().map(Event::Trade));
    }
    Ok(normalized)
}

/// One trade of `market_trades`.
fn trade(wire: &wire::Trade<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    let trade_id = wire
        .trade_id
        .parse()
        .map_err(|_| VenueError::Unrecognized(format!("trade id {:?}", wire.trade_id)))?;
    let fields = TradeFields {
        product_id: &wire.product_id,
        trade_id,
        price: &wire.price,
        size: &wire.size,
        side: &wire.side,
        time: &wire.time,
    };
    crate::coinbase::trade::trade(&fields, received_time_ms)
}

/// The event of an `l2_data` message (`events`, its one event as sent), at the latest
/// `event_time` of its levels (the message's `timestamp` when it lists none), named and
/// chained in its book by the connection's `numbering` (see [`super::numbering`]), where it
/// was `observed`. The message is placed in its book only once it has been read whole.
pub(super) fn book(
    events: &str,
    numbering: &mut Numbering,
    observed: Observed,
    timestamp_ms: i64,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    let events: Vec<wire::Book<'_>> = serde_json::from_str(events)?;
    let [wire] = events.as_slice() else {
        return Err(VenueError::Unrecognized(format!(
            "l2_data message with {} events",
            events.len()
        )));
    };
    let kind = match wire.kind.as_ref() {
        "snapshot" => UpdateKind::Snapshot,
        "update" => UpdateKind::Delta,
        other => return Err(VenueError::Unrecognized(format!("l2_data type {other:?}"))),
    };
    let symbol = from_native(&wire.product_id)?;
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    let mut exchange_time_ms = None;
    // A snapshot's levels all carry one time: it is read once.
    let mut last_time: Option<(&str, i64)> = None;
    for level in &wire.updates {
        let parsed = PriceLevel::new(
            decimal("price_level", &level.price_level)?,
            decimal("new_quantity", &level.new_quantity)?,
        );
        match level.side.as_ref() {
            "bid" => bids.push(parsed),
            "offer" => asks.push(parsed),
            other => return Err(VenueError::Unrecognized(format!("l2_data side {other:?}"))),
        }
        let time_ms = match last_time {
            Some((text, time_ms)) if text == level.event_time => time_ms,
            _ => millis("event_time", &level.event_time)?,
        };
        last_time = Some((&level.event_time, time_ms));
        exchange_time_ms = exchange_time_ms.max(Some(time_ms));
    }
    let placed = numbering.place(&symbol, observed);
    Ok(BookMessage {
        market_type: MarketType::Spot,
        symbol,
        update: BookUpdate {
            kind,
            first_id: placed.id,
            last_id: placed.id,
            prev_id: placed.prev_id,
            bids,
            asks,
            checksum: None,
            exchange_time_ms: Some(exchange_time_ms.unwrap_or(timestamp_ms)),
            received_time_ms,
        },
    })
}
