//! Bybit v5 wire types ([`super::wire`], Bybit's JSON with decimals written as strings) to
//! model events. Pure: the receive time is an argument.

use std::borrow::Cow;

use compact_str::CompactString;
use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{
    Decimal, Event, Exchange, FundingRate, Liquidation, MarketType, OpenInterest, Side, Trade,
    TradeSource,
};

use super::symbol::SymbolMap;
use super::wire;
use crate::decimal::{decimal, levels, millis};
use crate::{BookMessage, VenueError};

/// A decimal a ticker delta leaves out when it did not change.
fn optional_decimal(
    field: &'static str,
    value: &Option<Cow<'_, str>>,
) -> Result<Option<Decimal>, VenueError> {
    value
        .as_deref()
        .map(|text| decimal(field, text))
        .transpose()
}

/// A linear ticker (snapshot or delta, which carries only the changed fields) as the funding
/// rate and open interest it reports, each only when present.
pub(super) fn ticker(
    wire: &wire::Ticker<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    exchange_time_ms: i64,
    received_time_ms: i64,
) -> Result<Vec<Event>, VenueError> {
    let symbol = symbols.resolve(&wire.symbol)?;
    let mut events = Vec::new();
    if let Some(rate) = optional_decimal("fundingRate", &wire.funding_rate)? {
        let next_funding_time_ms = wire
            .next_funding_time
            .as_deref()
            .map(|text| millis("nextFundingTime", text))
            .transpose()?;
        events.push(Event::FundingRate(FundingRate {
            exchange: Exchange::Bybit,
            market_type,
            symbol: symbol.clone(),
            funding_rate: rate,
            predicted_rate: None,
            next_funding_time_ms,
            mark_price: optional_decimal("markPrice", &wire.mark_price)?,
            index_price: optional_decimal("indexPrice", &wire.index_price)?,
            exchange_time_ms,
            received_time_ms,
        }));
    }
    if let Some(open_interest) = optional_decimal("openInterest", &wire.open_interest)? {
        events.push(Event::OpenInterest(OpenInterest {
            exchange: Exchange::Bybit,
            market_type,
            symbol,
            open_interest,
            open_interest_value: optional_decimal("openInterestValue", &wire.open_interest_value)?,
            exchange_time_ms,
            received_time_ms,
        }));
    }
    Ok(events)
}

/// One record of `allLiquidation.{symbol}`.
pub(super) fn liquidation(
    wire: &wire::LiquidationRecord<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Liquidation, VenueError> {
    // Bybit reports the liquidated position's side: a long (`Buy`) is closed by a sell.
    let side = match wire.position_side.as_ref() {
        "Buy" => Side::Sell,
        "Sell" => Side::Buy,
        other => return Err(VenueError::Unrecognized(format!("position side {other:?}"))),
    };
    Ok(Liquidation {
        exchange: Exchange::Bybit,
        market_type,
        symbol: symbols.resolve(&wire.symbol)?,
        side,
        price: decimal("p", &wire.price)?,
        quantity: decimal("v", &wire.quantity)?,
        exchange_time_ms: wire.time_ms,
        received_time_ms,
    })
}

/// A trade's taker side, `Buy` or `Sell`.
pub(super) fn taker_side(text: &str) -> Result<Side, VenueError> {
    match text {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        other => Err(VenueError::Unrecognized(format!("trade side {other:?}"))),
    }
}

/// One trade of `publicTrade.{symbol}`.
pub(super) fn trade(
    wire: &wire::Trade<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Trade, VenueError> {
    let side = taker_side(&wire.side)?;
    Ok(Trade {
        exchange: Exchange::Bybit,
        market_type,
        symbol: symbols.resolve(&wire.s)?,
        trade_id: CompactString::from(wire.i.as_ref()),
        aggregated: false,
        price: decimal("p", &wire.p)?,
        quantity: decimal("v", &wire.v)?,
        side,
        exchange_time_ms: wire.time_ms,
        received_time_ms,
        sequence: None,
        source: TradeSource::Ws,
    })
}

/// The `data` of `orderbook.{depth}.{symbol}`, a snapshot or a delta as the push's `type`
/// says, at the push's `ts` (without one, the book's sequencer stamps it from the stream).
pub(super) fn book(
    wire: &wire::OrderBook<'_>,
    kind: UpdateKind,
    market_type: MarketType,
    symbols: &SymbolMap,
    exchange_time_ms: Option<i64>,
    received_time_ms: i64,
) -> Result<BookMessage, VenueError> {
    Ok(BookMessage {
        market_type,
        symbol: symbols.resolve(&wire.s)?,
        update: BookUpdate {
            kind,
            first_id: wire.u,
            last_id: wire.u,
            prev_id: None,
            bids: levels("b", &wire.b)?,
            asks: levels("a", &wire.a)?,
            checksum: None,
            exchange_time_ms,
            received_time_ms,
        },
    })
}
