//! Deribit wire types ([`super::wire`], JSON-RPC notifications with prices and amounts as
//! JSON numbers) to model events. Pure: the receive time is an argument.
//!
//! Numbers are read from the frame's text, so no binary floating point sits between Deribit
//! and the stored decimal.

use compact_str::CompactString;
use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{
    Decimal, Exchange, MarketType, PriceLevel, Side, Trade, TradeSource, VolatilityIndex,
};
use serde_json::value::RawValue;

use super::symbol::from_native;
use super::wire;
use crate::decimal::decimal;
use crate::{BookMessage, VenueError};

/// A JSON number as an exact decimal, read from its text.
pub(super) fn number(field: &'static str, raw: &RawValue) -> Result<Decimal, VenueError> {
    let text = raw.get();
    decimal(field, text).or_else(|error| {
        // JSON numbers may use an exponent.
        Decimal::from_scientific(text).map_err(|_| error)
    })
}

/// One trade of a `trades.{instrument}.100ms` notification.
pub(super) fn trade(wire: &wire::Trade<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    let (market_type, symbol) = from_native(&wire.instrument_name)?;
    let side = match wire.direction.as_ref() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        other => {
            return Err(VenueError::Unrecognized(format!(
                "trade direction {other:?}"
            )))
        }
    };
    Ok(Trade {
        exchange: Exchange::Deribit,
        market_type,
        symbol,
        trade_id: CompactString::from(wire.trade_id.as_ref()),
        aggregated: false,
        price: number("price", wire.price)?,
        quantity: number("amount", wire.amount)?,
        side,
        exchange_time_ms: wire.timestamp,
        received_time_ms,
        sequence: Some(wire.trade_seq),
        source: TradeSource::Ws,
    })
}

/// A DVOL value; the symbol is the index's currency (`btc_usd` → `BTC`).
pub(super) fn volatility_index(
    wire: &wire::VolatilityIndex<'_>,
    received_time_ms: i64,
) -> Result<VolatilityIndex, VenueError> {
    let currency = wire
        .index_name
        .split('_')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    Ok(VolatilityIndex {
        exchange: Exchange::Deribit,
        market_type: MarketType::Options,
        symbol: currency
            .parse()
            .map_err(|_| VenueError::UnknownSymbol(wire.index_name.to_string()))?,
        value: number("volatility", wire.volatility)?,
        exchange_time_ms: wire.timestamp,
        received_time_ms,
    })
}

/// Book changes `[action, price, amount]` as levels; a `delete` has quantity zero.
fn levels(field: &'static str, levels: &[wire::Level<'_>]) -> Result<Vec<PriceLevel>, VenueError> {
    levels
        .iter()
        .map(|wire::Level(action, price, amount)| {
            let price = number(field, price)?;
            let quantity = match action.as_ref() {
                "delete" => Decimal::ZERO,
                "new" | "change" => number(field, amount)?,
                other => return Err(VenueError::Unrecognized(format!("book action {other:?}"))),
            };
            Ok(PriceLevel::new(price, quantity))
        })
        .collect()
}

/// A `book.{instrument}.100ms` notification: a snapshot, or a change chained by
/// `prev_change_id`.
pub(super) fn book(
    wire: &wire::Book<'_>,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    let (market_type, symbol) = from_native(&wire.instrument_name)?;
    let kind = match wire.kind.as_ref() {
        "snapshot" => UpdateKind::Snapshot,
        "change" => UpdateKind::Delta,
        other => return Err(VenueError::Unrecognized(format!("book type {other:?}"))),
    };
    Ok(BookMessage {
        market_type,
        symbol,
        update: BookUpdate {
            kind,
            first_id: wire.change_id,
            last_id: wire.change_id,
            prev_id: wire.prev_change_id,
            bids: levels("bids", &wire.bids)?,
            asks: levels("asks", &wire.asks)?,
            checksum: None,
            exchange_time_ms: Some(wire.timestamp),
            received_time_ms,
        },
    })
}
