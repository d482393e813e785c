//! OKX instrument ids to and from normalized symbols.
//!
//! Spot ids are already `BASE-QUOTE`; perpetual swaps append `-SWAP`, which the market type
//! carries instead; futures (`BTC-USD-220527`) and options (`BTC-USD-220624-20000-C`) keep
//! their id as the symbol.

use marketprism_model::{MarketType, Symbol};

use crate::VenueError;

/// The OKX instrument id of `symbol` on `market_type`.
pub fn to_native(market_type: MarketType, symbol: &Symbol) -> String {
    match market_type {
        MarketType::Perpetual => format!("{symbol}-SWAP"),
        _ => symbol.as_str().to_owned(),
    }
}

/// The market and normalized symbol of an OKX instrument id.
pub fn from_native(inst_id: &str) -> Result<(MarketType, Symbol), VenueError> {
    let unknown = || VenueError::UnknownSymbol(inst_id.to_owned());
    if let Some(pair) = inst_id.strip_suffix("-SWAP") {
        return Ok((MarketType::Perpetual, pair.parse().map_err(|_| unknown())?));
    }
    let segments: Vec<&str> = inst_id.split('-').collect();
    let market_type = match segments.as_slice() {
        [_, _] => MarketType::Spot,
        [_, _, expiry] if expiry.bytes().all(|byte| byte.is_ascii_digit()) => MarketType::Futures,
        [_, _, _, _, "C" | "P"] => MarketType::Options,
        _ => return Err(unknown()),
    };
    Ok((market_type, inst_id.parse().map_err(|_| unknown())?))
}

/// Parses a configured symbol for `market_type`, given normalized (`BTC-USDT`) or as an OKX
/// instrument id (`BTC-USDT-SWAP`); futures and options must be ids of their market
/// (`BTC-USD-250328`, `BTC-USD-250328-60000-C`).
pub fn parse_configured(market_type: MarketType, text: &str) -> Result<Symbol, VenueError> {
    let upper = text.to_ascii_uppercase();
    match from_native(&upper) {
        Ok((parsed, _))
            if matches!(market_type, MarketType::Futures | MarketType::Options)
                && parsed != market_type =>
        {
            Err(VenueError::UnknownSymbol(format!(
                "{text} (not an OKX {market_type} id)"
            )))
        }
        Ok((_, symbol)) => Ok(symbol),
        Err(_) if market_type == MarketType::Perpetual => {
            from_native(&format!("{upper}-SWAP")).map(|(_, symbol)| symbol)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn instrument_ids_name_their_market() {
        let cases = [
            ("BTC-USDT", MarketType::Spot, "BTC-USDT"),
            ("BTC-USDT-SWAP", MarketType::Perpetual, "BTC-USDT"),
            ("BTC-USD-220527", MarketType::Futures, "BTC-USD-220527"),
            (
                "ETH-USD-220624-20000-C",
                MarketType::Options,
                "ETH-USD-220624-20000-C",
            ),
        ];
        for (inst_id, market_type, symbol) in cases {
            let (parsed_market, parsed_symbol) = from_native(inst_id).expect(inst_id);
            assert_eq!(
                (parsed_market, parsed_symbol.as_str()),
                (market_type, symbol)
            );
            assert_eq!(to_native(market_type, &parsed_symbol), inst_id);
        }
        assert!(from_native("BTC").is_err());
        assert!(from_native("btc-usdt").is_err());
        assert_eq!(
            parse_configured(MarketType::Perpetual, "btc-usdt").expect("normalized"),
            parse_configured(MarketType::Perpetual, "BTC-USDT-SWAP").expect("native")
        );
        assert_eq!(
            parse_configured(MarketType::Futures, "btc-usd-250328")
                .expect("a futures id")
                .as_str(),
            "BTC-USD-250328"
        );
        assert!(parse_configured(MarketType::Futures, "BTC-USD").is_err());
        assert!(parse_configured(MarketType::Options, "BTC-USD-250328").is_err());
        assert_eq!(
            parse_configured(MarketType::Options, "BTC-USD-250328-60000-C")
                .expect("an option id")
                .as_str(),
            "BTC-USD-250328-60000-C"
        );
    }

    proptest! {
        #[test]
        fn round_trip(base in "[A-Z0-9]{2,6}", quote in "[A-Z]{3,4}", perpetual in any::<bool>()) {
            let market_type = if perpetual { MarketType::Perpetual } else { MarketType::Spot };
            let symbol = Symbol::from_pair(&base, &quote).expect("valid");
            let native = to_native(market_type, &symbol);
            prop_assert_eq!(from_native(&native).expect("round trip"), (market_type, symbol.clone()));
            prop_assert_eq!(parse_configured(market_type, &native.to_ascii_lowercase()).expect("native"), symbol);
        }
    }
}
