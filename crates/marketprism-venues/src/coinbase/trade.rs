//! A Coinbase trade from the fields both APIs send alike.

use compact_str::CompactString;
use marketprism_model::{Exchange, MarketType, Trade, TradeSource};

use crate::coinbase::side::taker_side;
use crate::coinbase::symbol::from_native;
use crate::coinbase::time::millis;
use crate::decimal::decimal;
use crate::VenueError;

/// What both APIs say of a trade, as text except the id.
pub(super) struct TradeFields<'a> {
    /// The product, e.g. `BTC-USD`.
    pub(super) product_id: &'a str,
    /// The trade id, which counts the product's trades without holes.
    pub(super) trade_id: u64,
    /// Price, as sent.
    pub(super) price: &'a str,
    /// Size, as sent.
    pub(super) size: &'a str,
    /// The maker's side.
    pub(super) side: &'a str,
    /// RFC 3339 time.
    pub(super) time: &'a str,
}

/// The trade event; its id is also its sequence.
pub(super) fn trade(fields: &TradeFields<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    Ok(Trade {
        exchange: Exchange::Coinbase,
        market_type: MarketType::Spot,
        symbol: from_native(fields.product_id)?,
        trade_id: CompactString::from(fields.trade_id.to_string()),
        aggregated: false,
        price: decimal("price", fields.price)?,
        quantity: decimal("size", fields.size)?,
        side: taker_side(fields.side)?,
        exchange_time_ms: millis("time", fields.time)?,
        received_time_ms,
        sequence: Some(fields.trade_id),
        source: TradeSource::Ws,
    })
}
