//! Binance wire types to model events. Pure: the receive time is an argument.

use marketprism_model::{Decimal, Exchange, MarketType, Side, Trade};

use super::symbol::SymbolMap;
use super::wire::{BinanceAggTrade, BinanceTrade};
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

/// Normalizes a `trade` event.
pub fn trade(
    wire: &BinanceTrade<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Trade, VenueError> {
    Ok(Trade {
        exchange: Exchange::Binance,
        market_type,
        symbol: symbols.resolve(&wire.symbol)?,
        trade_id: wire.trade_id.to_string(),
        aggregated: false,
        price: decimal("p", &wire.price)?,
        quantity: decimal("q", &wire.quantity)?,
        side: taker_side(wire.buyer_is_maker),
        exchange_time_ms: wire.trade_time_ms,
        received_time_ms,
    })
}

/// Normalizes an `aggTrade` event.
pub fn agg_trade(
    wire: &BinanceAggTrade<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Trade, VenueError> {
    Ok(Trade {
        exchange: Exchange::Binance,
        market_type,
        symbol: symbols.resolve(&wire.symbol)?,
        trade_id: wire.aggregate_id.to_string(),
        aggregated: true,
        price: decimal("p", &wire.price)?,
        quantity: decimal("q", &wire.quantity)?,
        side: taker_side(wire.buyer_is_maker),
        exchange_time_ms: wire.trade_time_ms,
        received_time_ms,
    })
}
