//! Deribit instrument names to and from normalized symbols.
//!
//! | Deribit | market | symbol |
//! |---|---|---|
//! | `BTC-PERPETUAL` (inverse) | perpetual | `BTC-USD` |
//! | `ETH_USDC-PERPETUAL` (linear) | perpetual | `ETH-USDC` |
//! | `BTC_USDC` | spot | `BTC-USDC` |
//! | `BTC-24SEP21` | futures | `BTC-24SEP21` |
//! | `BTC-24SEP21-40000-P` | options | `BTC-24SEP21-40000-P` |
//! | `XRP_USDC-30JUN23-0d625-C` | options | `XRP-USDC-30JUN23-0D625-C` |

use marketprism_model::{MarketType, Symbol};

use crate::VenueError;

const PERPETUAL: &str = "-PERPETUAL";

/// Settlement currencies of linear instruments, written `BASE_QUOTE` by Deribit.
const LINEAR_QUOTES: &[&str] = &["USDC", "USDT"];

/// The market and normalized symbol of a Deribit instrument name.
pub fn from_native(name: &str) -> Result<(MarketType, Symbol), VenueError> {
    let unknown = || VenueError::UnknownSymbol(name.to_owned());
    let symbol = |text: String| text.parse::<Symbol>().map_err(|_| unknown());
    if let Some(underlying) = name.strip_suffix(PERPETUAL) {
        let pair = match underlying.split_once('_') {
            Some((base, quote)) => format!("{base}-{quote}"),
            None => format!("{underlying}-USD"),
        };
        return Ok((MarketType::Perpetual, symbol(pair)?));
    }
    let normalized = name.replacen('_', "-", 1).to_ascii_uppercase();
    let linear = name.contains('_');
    let segments = normalized.split('-').count() - usize::from(linear);
    let market_type = match segments {
        1 if linear => MarketType::Spot,
        2 => MarketType::Futures,
        4 if normalized.ends_with("-C") || normalized.ends_with("-P") => MarketType::Options,
        _ => return Err(unknown()),
    };
    Ok((market_type, symbol(normalized)?))
}

/// The Deribit instrument name of `symbol` on `market_type`.
pub fn to_native(market_type: MarketType, symbol: &Symbol) -> String {
    let text = symbol.as_str();
    let linear = symbol
        .quote()
        .is_some_and(|quote| LINEAR_QUOTES.contains(&quote));
    match market_type {
        MarketType::Perpetual if linear => format!(
            "{}_{}{PERPETUAL}",
            symbol.base(),
            symbol.quote().unwrap_or_default()
        ),
        MarketType::Perpetual => format!("{}{PERPETUAL}", symbol.base()),
        _ if linear => {
            let native = text.replacen('-', "_", 1);
            if market_type == MarketType::Options {
                // Decimal strikes are written with a lower-case `d`: `0d625`.
                lower_strike_separator(&native)
            } else {
                native
            }
        }
        _ => text.to_owned(),
    }
}

fn lower_strike_separator(name: &str) -> String {
    let mut segments: Vec<String> = name.split('-').map(str::to_owned).collect();
    if let Some(strike) = segments
        .len()
        .checked_sub(2)
        .and_then(|index| segments.get_mut(index))
    {
        *strike = strike.replace('D', "d");
    }
    segments.join("-")
}

/// Parses a configured symbol for `market_type`, normalized (`BTC-USD`) or as a Deribit name
/// (`BTC-PERPETUAL`); a bare currency (`BTC`) names the volatility index of that currency.
pub fn parse_configured(market_type: MarketType, text: &str) -> Result<Symbol, VenueError> {
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        return text
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| VenueError::UnknownSymbol(text.to_owned()));
    }
    match from_native(text) {
        Ok((_, symbol)) => Ok(symbol),
        Err(error) => match market_type {
            MarketType::Perpetual | MarketType::Spot => {
                text.to_ascii_uppercase().parse().map_err(|_| error)
            }
            _ => Err(error),
        },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn instrument_names_name_their_market() {
        let cases = [
            ("BTC-PERPETUAL", MarketType::Perpetual, "BTC-USD"),
            ("ETH_USDC-PERPETUAL", MarketType::Perpetual, "ETH-USDC"),
            ("BTC_USDC", MarketType::Spot, "BTC-USDC"),
            ("BTC-24SEP21", MarketType::Futures, "BTC-24SEP21"),
            (
                "BTC-24SEP21-40000-P",
                MarketType::Options,
                "BTC-24SEP21-40000-P",
            ),
            (
                "XRP_USDC-30JUN23-0d625-C",
                MarketType::Options,
                "XRP-USDC-30JUN23-0D625-C",
            ),
        ];
        for (name, market_type, symbol) in cases {
            let (parsed_market, parsed_symbol) = from_native(name).expect(name);
            assert_eq!(
                (parsed_market, parsed_symbol.as_str()),
                (market_type, symbol)
            );
            assert_eq!(to_native(market_type, &parsed_symbol), name);
        }
        assert!(from_native("BTC").is_err());
        assert_eq!(
            parse_configured(MarketType::Perpetual, "btc-usd")
                .expect("normalized")
                .as_str(),
            "BTC-USD"
        );
    }

    proptest! {
        #[test]
        fn perpetual_round_trip(base in "[A-Z]{2,5}", linear in any::<bool>()) {
            let quote = if linear { "USDC" } else { "USD" };
            let symbol = Symbol::from_pair(&base, quote).expect("valid");
            let native = to_native(MarketType::Perpetual, &symbol);
            prop_assert_eq!(from_native(&native).expect("round trip"), (MarketType::Perpetual, symbol));
        }

        #[test]
        fn option_round_trip(base in "[A-Z]{3}", day in 1u8..29, strike in 1u32..200_000, put in any::<bool>()) {
            let name = format!("{base}-{day}SEP26-{strike}-{}", if put { "P" } else { "C" });
            let (market_type, symbol) = from_native(&name).expect("option");
            prop_assert_eq!(market_type, MarketType::Options);
            prop_assert_eq!(to_native(market_type, &symbol), name);
        }
    }
}
