//! `public/instruments` answers ([`super::wire::InstrumentsAnswer`]) to listings.

use marketprism_model::{Exchange, Listing, MarketType, OptionKind, Symbol};

use super::symbol::from_native;
use super::wire::{Instrument, InstrumentsAnswer};
use crate::decimal::{decimal, millis};
use crate::VenueError;

/// The listings of `market_type` in a `public/instruments` answer received at
/// `received_time_ms`.
///
/// An answer lists the one instrument type asked for; an id that names another market, or
/// none ([`from_native`], which names frames' instruments too), is left out. An instrument
/// trades while its `state` is `live` (`suspend`, `preopen`, `test` otherwise). Spot pairs
/// name their assets (`baseCcy`, `quoteCcy`); derivatives name their underlying (`uly`, or
/// `instFamily`), whose two currencies are taken as base and quote. Times (`listTime`,
/// `expTime`) and option terms (`stk`, `optType`) are read where given.
pub(super) fn listings(
    answer: InstrumentsAnswer<'_>,
    market_type: MarketType,
    received_time_ms: i64,
) -> Result<Vec<Listing>, VenueError> {
    if answer.code != "0" {
        return Err(VenueError::Unrecognized(format!(
            "code {}: {}",
            answer.code, answer.msg
        )));
    }
    answer
        .data
        .iter()
        .filter_map(|instrument| {
            let (listed_market, symbol) = from_native(&instrument.inst_id).ok()?;
            (listed_market == market_type)
                .then(|| listing(instrument, market_type, symbol, received_time_ms))
        })
        .collect()
}

/// One instrument's listing, named `symbol`.
fn listing(
    instrument: &Instrument<'_>,
    market_type: MarketType,
    symbol: Symbol,
    received_time_ms: i64,
) -> Result<Listing, VenueError> {
    let (base, quote) = assets(instrument)?;
    Ok(Listing {
        exchange: Exchange::Okx,
        market_type,
        symbol,
        venue_symbol: instrument.inst_id.clone().into_owned(),
        base,
        quote,
        settle: given(&instrument.settle_ccy).map(str::to_owned),
        expiry_ms: given(&instrument.exp_time)
            .map(|time| millis("expTime", time))
            .transpose()?,
        strike: given(&instrument.stk)
            .map(|strike| decimal("stk", strike))
            .transpose()?,
        option_kind: match instrument.opt_type.as_ref() {
            "" => None,
            "C" => Some(OptionKind::Call),
            "P" => Some(OptionKind::Put),
            other => {
                return Err(VenueError::Unrecognized(format!(
                    "{}: optType {other:?}",
                    instrument.inst_id
                )))
            }
        },
        trading: instrument.state == "live",
        listed_ms: given(&instrument.list_time)
            .map(|time| millis("listTime", time))
            .transpose()?
            .unwrap_or(received_time_ms),
        delisted_ms: None,
        received_time_ms,
    })
}

/// Base and quote currency: a spot pair's own, a derivative's underlying's.
fn assets(instrument: &Instrument<'_>) -> Result<(String, String), VenueError> {
    if !instrument.base_ccy.is_empty() && !instrument.quote_ccy.is_empty() {
        return Ok((
            instrument.base_ccy.clone().into_owned(),
            instrument.quote_ccy.clone().into_owned(),
        ));
    }
    [&instrument.uly, &instrument.inst_family]
        .into_iter()
        .find_map(|underlying| underlying.split_once('-'))
        .map(|(base, quote)| (base.to_owned(), quote.to_owned()))
        .ok_or_else(|| {
            VenueError::Unrecognized(format!(
                "{}: neither baseCcy and quoteCcy nor uly",
                instrument.inst_id
            ))
        })
}

/// A field OKX sends empty when it does not apply, `None` then.
fn given(value: &str) -> Option<&str> {
    Some(value).filter(|value| !value.is_empty())
}
