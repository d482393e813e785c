//! Venue, market and symbol identifiers as they appear in subjects and ClickHouse rows.

use std::fmt;
use std::str::FromStr;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A trading venue MarketPrism records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exchange {
    /// Binance (`binance.com`).
    Binance,
    /// OKX (`okx.com`).
    Okx,
    /// Deribit (`deribit.com`).
    Deribit,
    /// Bybit (`bybit.com`).
    Bybit,
    /// Coinbase (`coinbase.com`): Advanced Trade and the Exchange feed.
    Coinbase,
}

impl Exchange {
    /// The lowercase identifier used in subjects, message ids and rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Okx => "okx",
            Exchange::Deribit => "deribit",
            Exchange::Bybit => "bybit",
            Exchange::Coinbase => "coinbase",
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of market an instrument trades on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarketType {
    /// Spot: the base asset is exchanged for the quote asset.
    Spot,
    /// Perpetual swaps (Binance USDⓈ-M perpetuals, OKX swaps, Bybit linear, Deribit
    /// perpetuals).
    Perpetual,
    /// Futures with an expiry date.
    Futures,
    /// Options.
    Options,
}

impl MarketType {
    /// The lowercase identifier used in subjects, message ids and rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            MarketType::Spot => "spot",
            MarketType::Perpetual => "perpetual",
            MarketType::Futures => "futures",
            MarketType::Options => "options",
        }
    }
}

impl fmt::Display for MarketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalized instrument symbol: upper-case segments joined by `-`, e.g. `BTC-USDT`.
///
/// The form is safe to use as one NATS subject token (no `.`, `*`, `>` or whitespace).
/// Symbols up to 24 bytes are stored inline, so copying one onto every event allocates
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(CompactString);

/// Why a string is not a valid normalized [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid symbol {input:?}: {reason}")]
pub struct SymbolError {
    input: String,
    reason: &'static str,
}

/// Longest symbol accepted; long enough for option names such as `BTC-27DEC24-100000-C`.
const MAX_SYMBOL_LEN: usize = 64;

impl Symbol {
    /// Builds `BASE-QUOTE` from its two assets.
    pub fn from_pair(base: &str, quote: &str) -> Result<Self, SymbolError> {
        format!("{base}-{quote}").parse()
    }

    /// The symbol text, e.g. `BTC-USDT`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment (the base asset for pairs).
    pub fn base(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }

    /// The second segment (the quote asset for pairs), if any.
    pub fn quote(&self) -> Option<&str> {
        self.0.split('-').nth(1)
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason| SymbolError {
            input: input.to_owned(),
            reason,
        };
        if input.is_empty() || input.len() > MAX_SYMBOL_LEN {
            return Err(error("length must be 1 to 64 characters"));
        }
        for segment in input.split('-') {
            if segment.is_empty() {
                return Err(error("empty segment"));
            }
            if !segment
                .bytes()
                .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
            {
                return Err(error("segments must be upper-case ASCII letters or digits"));
            }
        }
        Ok(Symbol(CompactString::from(input)))
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = CompactString::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_pairs_and_option_names() {
        let symbol: Symbol = "BTC-USDT".parse().expect("valid");
        assert_eq!(symbol.base(), "BTC");
        assert_eq!(symbol.quote(), Some("USDT"));
        assert!("BTC-27DEC24-100000-C".parse::<Symbol>().is_ok());
        assert!("BTC".parse::<Symbol>().is_ok());
    }

    #[test]
    fn rejects_subject_breaking_characters() {
        for bad in [
            "",
            "btc-usdt",
            "BTC.USDT",
            "BTC-*",
            "BTC->",
            "BTC USDT",
            "BTC--USDT",
            "-BTC",
        ] {
            assert!(bad.parse::<Symbol>().is_err(), "{bad:?} accepted");
        }
    }
}
