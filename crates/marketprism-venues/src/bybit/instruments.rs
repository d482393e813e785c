//! `instruments-info` answers ([`super::wire::InstrumentsInfoAnswer`]) to listings.

use marketprism_model::{Exchange, Listing, MarketType, Symbol};

use super::symbol::SymbolMap;
use super::wire::{InstrumentInfo, InstrumentsInfoAnswer};
use crate::decimal::millis;
use crate::VenueError;

/// The listings of `market_type` in an `instruments-info` answer received at
/// `received_time_ms`; symbols resolve as frames' do ([`SymbolMap::listed`]), and one
/// neither the quote list nor the listed coins name (`BTCPERP`, quoted in `USDC`) is left
/// out.
///
/// Spot symbols carry no contract type. The linear list holds perpetuals (`contractType`
/// `LinearPerpetual`) beside dated futures (`BTCUSDT-14AUG26`, `LinearFutures`): only the
/// perpetuals are of this market. A symbol trades while its `status` is `Trading`
/// (`PreLaunch`, `Delivering`, `Closed` otherwise); linear ones were listed at their
/// `launchTime`, settle in their `settleCoin` and expire at a non-zero `deliveryTime`. An
/// answer naming a next page lists only part of the market and is an error.
pub(super) fn listings(
    answer: InstrumentsInfoAnswer<'_>,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Vec<Listing>, VenueError> {
    if answer.ret_code != 0 {
        return Err(VenueError::Unrecognized(format!(
            "retCode {}: {}",
            answer.ret_code, answer.ret_msg
        )));
    }
    if let Some(cursor) = answer
        .result
        .next_page_cursor
        .filter(|cursor| !cursor.is_empty())
    {
        return Err(VenueError::Unrecognized(format!(
            "instruments-info lists only part of the market (next page {cursor:?})"
        )));
    }
    answer
        .result
        .list
        .iter()
        .filter(|instrument| {
            instrument
                .contract_type
                .as_deref()
                .is_none_or(|kind| kind == "LinearPerpetual")
        })
        .filter_map(|instrument| {
            let symbol = symbols.listed(
                &instrument.symbol,
                &instrument.base_coin,
                &instrument.quote_coin,
            )?;
            Some(listing(instrument, market_type, symbol, received_time_ms))
        })
        .collect()
}

/// One instrument's listing, named `symbol`.
fn listing(
    instrument: &InstrumentInfo<'_>,
    market_type: MarketType,
    symbol: Symbol,
    received_time_ms: i64,
) -> Result<Listing, VenueError> {
    let launch_ms = instrument
        .launch_time
        .as_deref()
        .map(|time| millis("launchTime", time))
        .transpose()?;
    let delivery_ms = instrument
        .delivery_time
        .as_deref()
        .map(|time| millis("deliveryTime", time))
        .transpose()?;
    Ok(Listing {
        exchange: Exchange::Bybit,
        market_type,
        symbol,
        venue_symbol: instrument.symbol.clone().into_owned(),
        base: instrument.base_coin.clone().into_owned(),
        quote: instrument.quote_coin.clone().into_owned(),
        settle: instrument.settle_coin.clone().map(Into::into),
        expiry_ms: delivery_ms.filter(|time| *time != 0),
        strike: None,
        option_kind: None,
        trading: instrument.status == "Trading",
        listed_ms: launch_ms.unwrap_or(received_time_ms),
        delisted_ms: None,
        received_time_ms,
    })
}
