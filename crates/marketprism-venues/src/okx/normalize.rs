//! OKX v5 wire types ([`super::wire`], OKX's JSON with numbers written as strings) to model
//! events. Pure: the receive time is an argument.

use std::borrow::Cow;

use compact_str::CompactString;
use marketprism_book::{BookUpdate, UpdateKind};
use marketprism_model::{
    Decimal, Exchange, FundingRate, Liquidation, MarketType, OpenInterest, Side, Symbol, Trade,
    TradeSource,
};

use super::symbol::from_native;
use super::wire;
use crate::decimal::{decimal, levels, millis};
use crate::VenueError;

/// OKX's lowercase `buy`/`sell`.
fn side(field: &'static str, text: &str) -> Result<Side, VenueError> {
    match text {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(VenueError::Unrecognized(format!("{field} {other:?}"))),
    }
}

/// A decimal OKX may leave out or send empty.
fn optional_decimal(
    field: &'static str,
    value: &Option<Cow<'_, str>>,
) -> Result<Option<Decimal>, VenueError> {
    match value.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => decimal(field, text).map(Some),
    }
}

/// A `trades` record.
pub(super) fn trade(wire: &wire::Trade<'_>, received_time_ms: i64) -> Result<Trade, VenueError> {
    let (market_type, symbol) = from_native(&wire.inst_id)?;
    let side = side("trade side", &wire.side)?;
    Ok(Trade {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        trade_id: CompactString::from(wire.trade_id.as_ref()),
        aggregated: false,
        price: decimal("px", &wire.px)?,
        quantity: decimal("sz", &wire.sz)?,
        side,
        exchange_time_ms: millis("ts", &wire.ts)?,
        received_time_ms,
        sequence: None,
        source: TradeSource::Ws,
    })
}

/// One order of a `liquidation-orders` record; the price is the bankruptcy price.
pub(super) fn liquidation(
    market_type: MarketType,
    symbol: &Symbol,
    detail: &wire::LiquidationDetail<'_>,
    received_time_ms: i64,
) -> Result<Liquidation, VenueError> {
    Ok(Liquidation {
        exchange: Exchange::Okx,
        market_type,
        symbol: symbol.clone(),
        side: side("side", &detail.side)?,
        price: decimal("bkPx", &detail.bk_px)?,
        quantity: decimal("sz", &detail.sz)?,
        exchange_time_ms: millis("ts", &detail.ts)?,
        received_time_ms,
    })
}

/// A `funding-rate` record: the rate applies at `fundingTime`; `nextFundingRate` is the
/// forecast for the period after. The push time is `ts` (older frames lack it: then the
/// settlement time stands in).
pub(super) fn funding_rate(
    wire: &wire::FundingRate<'_>,
    received_time_ms: i64,
) -> Result<FundingRate, VenueError> {
    let (market_type, symbol) = from_native(&wire.inst_id)?;
    let funding_time_ms = millis("fundingTime", &wire.funding_time)?;
    let exchange_time_ms = match wire.ts.as_deref() {
        Some(ts) => millis("ts", ts)?,
        None => funding_time_ms,
    };
    Ok(FundingRate {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        funding_rate: decimal("fundingRate", &wire.funding_rate)?,
        predicted_rate: optional_decimal("nextFundingRate", &wire.next_funding_rate)?,
        next_funding_time_ms: Some(funding_time_ms),
        mark_price: None,
        index_price: None,
        exchange_time_ms,
        received_time_ms,
    })
}

/// An `open-interest` record: `oi` in contracts, `oiUsd` (newer frames) as the value.
pub(super) fn open_interest(
    wire: &wire::OpenInterest<'_>,
    received_time_ms: i64,
) -> Result<OpenInterest, VenueError> {
    let (market_type, symbol) = from_native(&wire.inst_id)?;
    Ok(OpenInterest {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        open_interest: decimal("oi", &wire.oi)?,
        open_interest_value: optional_decimal("oiUsd", &wire.oi_usd)?,
        exchange_time_ms: millis("ts", &wire.ts)?,
        received_time_ms,
    })
}

/// OKX sequence ids are non-negative; `-1` marks "none" (a snapshot's `prevSeqId`).
fn sequence_id(value: Option<i64>) -> Option<u64> {
    value.and_then(|id| u64::try_from(id).ok())
}

/// A `books` message, a snapshot or a delta as the push's `action` says.
pub(super) fn book(
    wire: &wire::Book<'_>,
    kind: UpdateKind,
    received_time_ms: i64,
) -> Result<BookUpdate, VenueError> {
    let exchange_time_ms = millis("ts", &wire.ts)?;
    // Frames without `seqId` (before 2022-06) are chained by checksum alone; the book time
    // then stands in as the update id.
    let last_id = sequence_id(wire.seq_id).unwrap_or(exchange_time_ms.max(0) as u64);
    let checksum = match wire.checksum {
        None | Some(0) => None,
        Some(value) => Some(i32::try_from(value).map_err(|_| VenueError::Decimal {
            field: "checksum",
            value: value.to_string(),
        })?),
    };
    Ok(BookUpdate {
        kind,
        first_id: last_id,
        last_id,
        prev_id: sequence_id(wire.prev_seq_id),
        bids: levels("bids", &wire.bids)?,
        asks: levels("asks", &wire.asks)?,
        checksum,
        exchange_time_ms: Some(exchange_time_ms),
        received_time_ms,
    })
}
