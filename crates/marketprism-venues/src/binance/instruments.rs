//! `exchangeInfo` answers ([`super::wire::BinanceExchangeInfo`]) to listings.

use marketprism_model::{Exchange, Listing, MarketType};

use super::symbol::SymbolMap;
use super::wire::BinanceExchangeInfo;
use crate::VenueError;

/// The listings of `market_type` in an `exchangeInfo` answer received at `received_time_ms`;
/// symbols resolve as frames' do ([`SymbolMap::listed`]).
///
/// Spot symbols carry no contract type. USDⓈ-M lists perpetuals (`contractType`
/// `PERPETUAL`) beside quarterly contracts (`BTCUSDT_210924`, `CURRENT_QUARTER`) and symbols
/// whose contract type is empty (`BTCSTUSDT`, `PENDING_TRADING`): only the perpetuals are of
/// this market, so none has an expiry (their `deliveryDate` is a date in 2100). A symbol trades while its
/// `status` is `TRADING` (`BREAK`, `PENDING_TRADING`, `SETTLING` otherwise). USDⓈ-M
/// symbols are listed at their `onboardDate` and settle in their `marginAsset`.
pub(super) fn listings(
    info: BinanceExchangeInfo<'_>,
    body: &str,
    market_type: MarketType,
    symbols: &SymbolMap,
    received_time_ms: i64,
) -> Result<Vec<Listing>, VenueError> {
    let Some(entries) = info.symbols else {
        return Err(match (info.code, info.msg) {
            (Some(code), Some(msg)) => VenueError::Unrecognized(format!("code {code}: {msg}")),
            _ => VenueError::unrecognized(body),
        });
    };
    Ok(entries
        .into_iter()
        .filter(|entry| {
            entry
                .contract_type
                .as_deref()
                .is_none_or(|kind| kind == "PERPETUAL")
        })
        .filter_map(|entry| {
            let symbol = symbols.listed(&entry.symbol, &entry.base_asset, &entry.quote_asset)?;
            Some(Listing {
                exchange: Exchange::Binance,
                market_type,
                symbol,
                venue_symbol: entry.symbol.into_owned(),
                base: entry.base_asset.into_owned(),
                quote: entry.quote_asset.into_owned(),
                settle: entry.margin_asset.map(Into::into),
                expiry_ms: None,
                strike: None,
                option_kind: None,
                trading: entry.status == "TRADING",
                listed_ms: entry.onboard_date.unwrap_or(received_time_ms),
                delisted_ms: None,
                received_time_ms,
            })
        })
        .collect())
}
