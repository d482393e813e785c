//! Coinbase product ids to and from normalized symbols.
//!
//! Coinbase names products `BASE-QUOTE` in upper case (`BTC-USD`, `ETH-BTC`) in subscribe
//! frames, pushes and REST paths alike, which is MarketPrism's normalized form: the mapping is
//! the identity, with validation.

use marketprism_model::Symbol;

use crate::VenueError;

/// The product id of a normalized symbol: `BTC-USD` stays `BTC-USD`.
pub fn to_native(symbol: &Symbol) -> String {
    symbol.as_str().to_owned()
}

/// The normalized symbol of a product id; an id that is not `BASE-QUOTE` is unknown.
pub fn from_native(native: &str) -> Result<Symbol, VenueError> {
    native
        .parse::<Symbol>()
        .ok()
        .filter(|symbol| symbol.as_str().split('-').count() == 2)
        .ok_or_else(|| VenueError::UnknownSymbol(native.to_owned()))
}

/// Parses a configured symbol, in either case (`BTC-USD`, `btc-usd`).
pub fn parse_configured(text: &str) -> Result<Symbol, VenueError> {
    from_native(&text.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_normalized_symbols() {
        let symbol = parse_configured("btc-usd").expect("valid");
        assert_eq!(symbol.as_str(), "BTC-USD");
        assert_eq!(to_native(&symbol), "BTC-USD");
        assert_eq!(from_native("ETH-BTC").expect("valid").as_str(), "ETH-BTC");
        for wrong in ["BTCUSD", "BTC-USD-1", "", "BTC-"] {
            assert!(from_native(wrong).is_err(), "{wrong:?}");
        }
    }
}
