//! Binance wire types to model events. Pure: the receive time is an argument.

use marketprism_model::{Decimal, Exchange, MarketType, Side, Trade};

use super::symbol::SymbolMap;
use super::wire::BinanceTrade;
use crate::VenueError;

fn decimal(field: &'static str, value: &str) -> Result<Decimal, VenueError> {
    Decimal::from_str_exact(value).map_err(|_| VenueError::Decimal {
        field,
        value: value.to_owned(),
    })
}

/// Binance reports whether the buyer was the maker; the taker is then the seller.
fn taker_side(buyer_is_maker: bool) -> Side {
    if buyer_is_maker {
        Side::Sell
    } else {
        Side::Buy
    }
}

/// Normalizes a `trade` event, or an `aggTrade` event when `aggregated`.
pub fn trade(
    wire: &BinanceTrade<'_>,
    aggregated: bool,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Trade, VenueError> {
    Ok(Trade {
        exchange: Exchange::Binance,
        market_type,
        symbol: symbols.resolve(&wire.symbol)?,
        trade_id: wire.trade_id.to_string(),
        aggregated,
        price: decimal("p", &wire.price)?,
        quantity: decimal("q", &wire.quantity)?,
        side: taker_side(wire.buyer_is_maker),
        exchange_time_ms: wire.trade_time_ms,
        received_time_ms,
    })
}
