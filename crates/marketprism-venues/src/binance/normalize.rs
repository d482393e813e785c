//! Binance wire types ([`super::wire`], Binance's JSON with decimals written as strings) to
//! model events. Pure: the receive time is an argument.

use compact_str::ToCompactString;
use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{
    Exchange, FundingRate, Liquidation, MarketType, Side, Symbol, Trade, TradeSource,
};

use super::symbol::SymbolMap;
use super::wire::{
    BinanceDepthSnapshot, BinanceDepthUpdate, BinanceForceOrder, BinanceMarkPrice, BinanceTrade,
};
use crate::decimal::{decimal, levels};
use crate::{BookMessage, VenueError};

/// Binance reports whether the buyer was the maker; the taker is then the seller.
pub(super) fn taker_side(buyer_is_maker: bool) -> Side {
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
        trade_id: wire.trade_id.to_compact_string(),
        aggregated,
        price: decimal("p", &wire.price)?,
        quantity: decimal("q", &wire.quantity)?,
        side: taker_side(wire.buyer_is_maker),
        exchange_time_ms: wire.trade_time_ms,
        received_time_ms,
        sequence: Some(wire.trade_id),
        source: TradeSource::Ws,
    })
}

/// Normalizes a `depthUpdate` event into a book delta.
pub fn depth_update(
    wire: &BinanceDepthUpdate<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    Ok(BookMessage {
        market_type,
        symbol: symbols.resolve(&wire.symbol)?,
        update: BookUpdate {
            kind: UpdateKind::Delta,
            first_id: wire.first_update_id,
            last_id: wire.final_update_id,
            prev_id: wire.previous_final_update_id,
            bids: levels("b", &wire.bids)?,
            asks: levels("a", &wire.asks)?,
            checksum: None,
            exchange_time_ms: Some(wire.transaction_time_ms.unwrap_or(wire.event_time_ms)),
            received_time_ms,
        },
    })
}

/// Normalizes a REST depth snapshot. Spot snapshots carry no time: the book's sequencer
/// stamps them from the stream.
pub fn depth_snapshot(
    wire: &BinanceDepthSnapshot<'_>,
    received_time_ms: i64,
) -> Result<BookUpdate, VenueError> {
    Ok(BookUpdate {
        kind: UpdateKind::Snapshot,
        first_id: wire.last_update_id,
        last_id: wire.last_update_id,
        prev_id: None,
        bids: levels("bids", &wire.bids)?,
        asks: levels("asks", &wire.asks)?,
        checksum: None,
        exchange_time_ms: wire.transaction_time_ms.or(wire.event_time_ms),
        received_time_ms,
    })
}

/// Normalizes a `markPriceUpdate` into the funding rate it carries.
pub fn mark_price(
    wire: &BinanceMarkPrice<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<FundingRate, VenueError> {
    Ok(FundingRate {
        exchange: Exchange::Binance,
        market_type,
        symbol: symbols.resolve(&wire.symbol)?,
        funding_rate: decimal("r", &wire.funding_rate)?,
        predicted_rate: None,
        next_funding_time_ms: Some(wire.next_funding_time_ms),
        mark_price: Some(decimal("p", &wire.mark_price)?),
        index_price: Some(decimal("i", &wire.index_price)?),
        exchange_time_ms: wire.event_time_ms,
        received_time_ms,
    })
}

/// Normalizes a `forceOrder` event of `symbol`: the filled quantity at the average fill price
/// (the order price and quantity while nothing has filled).
pub fn force_order(
    wire: &BinanceForceOrder<'_>,
    market_type: MarketType,
    symbol: Symbol,
    received_time_ms: i64,
) -> Result<Liquidation, VenueError> {
    let order = &wire.order;
    let side = match order.side.as_ref() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => return Err(VenueError::Unrecognized(format!("order side {other:?}"))),
    };
    let filled = decimal("z", &order.filled_quantity)?;
    let (price, quantity) = if filled.is_zero() {
        (decimal("p", &order.price)?, decimal("q", &order.quantity)?)
    } else {
        (decimal("ap", &order.average_price)?, filled)
    };
    Ok(Liquidation {
        exchange: Exchange::Binance,
        market_type,
        symbol,
        side,
        price,
        quantity,
        exchange_time_ms: order.trade_time_ms,
        received_time_ms,
    })
}
