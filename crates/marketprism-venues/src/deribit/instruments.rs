//! `public/get_instruments` results ([`super::wire::Instrument`]) to listings.

use marketprism_model::{Exchange, Listing, MarketType, OptionKind, Symbol};

use super::normalize::number;
use super::symbol::from_native;
use super::wire::Instrument;
use crate::VenueError;

/// The listings of `market_type` among `instruments`, received at `received_time_ms`.
///
/// The `future` list holds perpetuals and dated futures alike: an instrument is of this
/// market when its name says so ([`from_native`], which names frames' instruments too), and
/// a name of another market, or of none, is left out. An instrument trades while
/// `is_active`; it was listed at its `creation_timestamp`. Dated futures and options expire
/// at their `expiration_timestamp`; options have a `strike` and an `option_type`.
pub(super) fn listings(
    instruments: &[Instrument<'_>],
    market_type: MarketType,
    received_time_ms: i64,
) -> Result<Vec<Listing>, VenueError> {
    instruments
        .iter()
        .filter_map(|instrument| {
            let (listed_market, symbol) = from_native(&instrument.instrument_name).ok()?;
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
    let name = &instrument.instrument_name;
    let missing = |field: &str| VenueError::Unrecognized(format!("{name}: no {field}"));
    let dated = matches!(market_type, MarketType::Futures | MarketType::Options);
    let options = market_type == MarketType::Options;
    Ok(Listing {
        exchange: Exchange::Deribit,
        market_type,
        symbol,
        venue_symbol: name.clone().into_owned(),
        base: instrument.base_currency.clone().into_owned(),
        quote: instrument.quote_currency.clone().into_owned(),
        settle: instrument.settlement_currency.clone().map(Into::into),
        expiry_ms: match instrument.expiration_timestamp {
            _ if !dated => None,
            Some(expiry) => Some(expiry),
            None => return Err(missing("expiration_timestamp")),
        },
        strike: match instrument.strike {
            _ if !options => None,
            Some(strike) => Some(number("strike", strike)?),
            None => return Err(missing("strike")),
        },
        option_kind: match instrument.option_type.as_deref() {
            _ if !options => None,
            Some("call") => Some(OptionKind::Call),
            Some("put") => Some(OptionKind::Put),
            Some(other) => {
                return Err(VenueError::Unrecognized(format!(
                    "{name}: option_type {other:?}"
                )))
            }
            None => return Err(missing("option_type")),
        },
        trading: instrument.is_active,
        listed_ms: instrument.creation_timestamp.unwrap_or(received_time_ms),
        delisted_ms: None,
        received_time_ms,
    })
}
