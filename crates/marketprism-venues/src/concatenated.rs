//! Concatenated symbols (`BTCUSDT`, as Binance and Bybit write them; Binance stream names use
//! lower case) to and from normalized `BASE-QUOTE` symbols.
//!
//! The venue writes no separator, so the split is taken from the configured symbols first and
//! from a list of quote assets otherwise.

use std::collections::HashMap;

use marketprism_model::Symbol;

use crate::VenueError;

/// Quote assets of Binance and Bybit markets, longest first: the first match wins, so
/// `FDUSD` is not read as `USD`. Source: Binance `GET /api/v3/exchangeInfo` (`quoteAsset`)
/// and Bybit `GET /v5/market/instruments-info` (`quoteCoin`).
const QUOTE_ASSETS: &[&str] = &[
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "DOGE", "IDRT", "BIDR", "BVND", "DAI", "BTC",
    "ETH", "BNB", "EUR", "TRY", "BRL", "GBP", "AUD", "JPY", "MXN", "ARS", "PLN", "RON", "ZAR",
    "UAH", "XRP", "TRX", "DOT", "NGN", "RUB", "COP", "CZK",
];

/// The concatenated form of a normalized symbol: `BTC-USDT` becomes `BTCUSDT`.
pub fn to_native(symbol: &Symbol) -> String {
    symbol.as_str().replace('-', "")
}

/// Splits a concatenated symbol on a known quote asset: `BTCUSDT` becomes `BTC-USDT`.
pub fn from_native(native: &str) -> Result<Symbol, VenueError> {
    let upper = native.to_ascii_uppercase();
    QUOTE_ASSETS
        .iter()
        .filter(|quote| upper.len() > quote.len() && upper.ends_with(*quote))
        .find_map(|quote| Symbol::from_pair(&upper[..upper.len() - quote.len()], quote).ok())
        .ok_or_else(|| VenueError::UnknownSymbol(native.to_owned()))
}

/// Parses a configured symbol given either normalized (`BTC-USDT`) or native (`btcusdt`).
pub fn parse_configured(text: &str) -> Result<Symbol, VenueError> {
    if text.contains('-') {
        text.to_ascii_uppercase()
            .parse()
            .map_err(|_| VenueError::UnknownSymbol(text.to_owned()))
    } else {
        from_native(text)
    }
}

/// Resolves the `s` field of frames to normalized symbols, preferring the configured split.
#[derive(Debug, Clone, Default)]
pub struct SymbolMap {
    by_native: HashMap<String, Symbol>,
}

impl SymbolMap {
    /// Builds a map from the configured symbols.
    pub fn new<'a>(symbols: impl IntoIterator<Item = &'a Symbol>) -> Self {
        let by_native = symbols
            .into_iter()
            .map(|symbol| (to_native(symbol), symbol.clone()))
            .collect();
        SymbolMap { by_native }
    }

    /// The normalized symbol for an upper-case concatenated symbol.
    pub fn resolve(&self, native: &str) -> Result<Symbol, VenueError> {
        match self.by_native.get(native) {
            Some(symbol) => Ok(symbol.clone()),
            None => from_native(native),
        }
    }

    /// The symbol of an instrument its venue lists as `native` with the assets `base` and
    /// `quote`, as frames resolve it: [`Self::resolve`]'s split, even where it differs from
    /// the list's assets; for a name it cannot split (a quote asset outside its list), the
    /// list's `BASE-QUOTE` when that concatenates to `native`, which frames resolve to once
    /// it is configured. `None` for a name neither gives (Bybit's `BTCPERP`, quoted in
    /// `USDC`).
    pub fn listed(&self, native: &str, base: &str, quote: &str) -> Option<Symbol> {
        self.resolve(native).ok().or_else(|| {
            Symbol::from_pair(&base.to_ascii_uppercase(), &quote.to_ascii_uppercase())
                .ok()
                .filter(|symbol| to_native(symbol) == native)
        })
    }

    /// The symbol of an instrument on a market-wide stream, if it is recorded: a configured
    /// symbol, or any symbol when none is configured (a replay records everything).
    pub fn recorded(&self, native: &str) -> Option<Result<Symbol, VenueError>> {
        if self.by_native.is_empty() {
            return Some(from_native(native));
        }
        self.by_native.get(native).cloned().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn quote_assets_are_listed_longest_first() {
        assert!(QUOTE_ASSETS
            .windows(2)
            .all(|pair| pair[0].len() >= pair[1].len()));
    }

    #[test]
    fn splits_on_the_longest_quote() {
        assert_eq!(from_native("BTCUSDT").expect("known").as_str(), "BTC-USDT");
        assert_eq!(
            from_native("btcfdusd").expect("known").as_str(),
            "BTC-FDUSD"
        );
        assert_eq!(from_native("ETHBTC").expect("known").as_str(), "ETH-BTC");
        assert!(from_native("USDT").is_err());
        assert!(from_native("XYZABC").is_err());
    }

    #[test]
    fn configured_split_wins_over_the_quote_list() {
        let odd: Symbol = "ABCUSD-T".parse().expect("valid");
        let map = SymbolMap::new([&odd]);
        assert_eq!(map.resolve("ABCUSDT").expect("configured"), odd);
        assert_eq!(
            map.resolve("ETHUSDT").expect("fallback").as_str(),
            "ETH-USDT"
        );
    }

    #[test]
    fn a_listed_name_is_split_as_frames_are() {
        let map = SymbolMap::default();
        // The quote list's split wins over the list's assets, as it does for frames.
        assert_eq!(
            map.listed("BTCAEUR", "BTC", "AEUR")
                .expect("splits")
                .as_str(),
            "BTCA-EUR"
        );
        // A quote asset outside the list: the list's assets, which concatenate to the name.
        assert_eq!(
            map.listed("BTCUSDS", "BTC", "USDS")
                .expect("listed")
                .as_str(),
            "BTC-USDS"
        );
        assert!(map.resolve("BTCUSDS").is_err());
        let configured: Symbol = "BTC-USDS".parse().expect("valid");
        assert_eq!(
            SymbolMap::new([&configured])
                .resolve("BTCUSDS")
                .expect("configured"),
            configured
        );
        // A name the assets do not make.
        assert_eq!(map.listed("BTCPERP", "BTC", "USDC"), None);
    }

    proptest! {
        #[test]
        fn native_round_trip(base in "[A-Z0-9]{2,8}", quote_index in 0..QUOTE_ASSETS.len()) {
            let quote = QUOTE_ASSETS[quote_index];
            // A base that itself ends in a longer quote asset would be split differently by
            // Binance's own naming too; such listings do not exist.
            prop_assume!(!QUOTE_ASSETS.iter().any(|q| q.len() > quote.len() && format!("{base}{quote}").ends_with(q)));
            let symbol = Symbol::from_pair(&base, quote).expect("valid");
            let native = to_native(&symbol);
            prop_assert_eq!(parse_configured(&native.to_ascii_lowercase()).expect("known quote"), symbol.clone());
            prop_assert_eq!(parse_configured(symbol.as_str()).expect("normalized"), symbol);
        }
    }
}
