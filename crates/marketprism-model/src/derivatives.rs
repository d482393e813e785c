//! Derivatives data: funding rates, open interest, liquidations and volatility indices.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Exchange, MarketType, Side, Symbol};

/// A perpetual's funding rate as the venue published it, with the prices it reported beside.
///
/// Fields the venue did not send in this message are `None` (a ticker delta carries only what
/// changed); nothing is filled in with zeros or local times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundingRate {
    /// Venue.
    pub exchange: Exchange,
    /// Market (perpetual).
    pub market_type: MarketType,
    /// Normalized instrument.
    pub symbol: Symbol,
    /// The current funding rate (per funding interval).
    #[serde(with = "rust_decimal::serde::str")]
    pub funding_rate: Decimal,
    /// The predicted next rate, when the venue publishes one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_decimal"
    )]
    pub predicted_rate: Option<Decimal>,
    /// When the next funding happens, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_funding_time_ms: Option<i64>,
    /// Mark price, when sent with the rate.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_decimal"
    )]
    pub mark_price: Option<Decimal>,
    /// Index price, when sent with the rate.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_decimal"
    )]
    pub index_price: Option<Decimal>,
    /// Venue time of the message, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}

/// Open interest of a derivative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenInterest {
    /// Venue.
    pub exchange: Exchange,
    /// Market.
    pub market_type: MarketType,
    /// Normalized instrument.
    pub symbol: Symbol,
    /// Open interest in contracts (or base units where the venue counts so).
    #[serde(with = "rust_decimal::serde::str")]
    pub open_interest: Decimal,
    /// Open interest's notional value in the quote currency, when sent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_decimal"
    )]
    pub open_interest_value: Option<Decimal>,
    /// Venue time of the message, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}

/// A forced liquidation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liquidation {
    /// Venue.
    pub exchange: Exchange,
    /// Market.
    pub market_type: MarketType,
    /// Normalized instrument.
    pub symbol: Symbol,
    /// Side of the liquidation order: `Sell` liquidates a long position.
    pub side: Side,
    /// Price of the liquidation order (or its fill).
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    /// Quantity liquidated.
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Venue time of the liquidation, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}

/// A volatility index value, e.g. Deribit's DVOL; the symbol names the currency (`BTC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolatilityIndex {
    /// Venue.
    pub exchange: Exchange,
    /// Market the index describes (options).
    pub market_type: MarketType,
    /// The currency, e.g. `BTC`.
    pub symbol: Symbol,
    /// The index value.
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    /// Venue time of the value, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}

/// An optional decimal written as its exact text, or absent. (Decoding goes through a string
/// so it works inside the internally tagged `Event`.)
pub(crate) mod optional_decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(decimal) => serializer.collect_str(decimal),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| Decimal::from_str_exact(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Whose positioning a long/short ratio measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioKind {
    /// Top traders, weighted by position size.
    TopPositions,
    /// Top traders, counted by account.
    TopAccounts,
    /// All accounts.
    AllAccounts,
}

impl RatioKind {
    /// The identifier stored in rows and message ids.
    pub const fn as_str(self) -> &'static str {
        match self {
            RatioKind::TopPositions => "top_positions",
            RatioKind::TopAccounts => "top_accounts",
            RatioKind::AllAccounts => "all_accounts",
        }
    }
}

/// A long/short ratio over a period, as the venue's statistics endpoint published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongShortRatio {
    /// Venue.
    pub exchange: Exchange,
    /// Market (perpetual).
    pub market_type: MarketType,
    /// Normalized instrument (OKX's all-account series is per currency: `BTC`).
    pub symbol: Symbol,
    /// Whose positioning is measured.
    pub kind: RatioKind,
    /// The statistics period, e.g. `5m`.
    pub period: String,
    /// Longs divided by shorts.
    #[serde(with = "rust_decimal::serde::str")]
    pub ratio: Decimal,
    /// Share of longs (0–1), when published.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_decimal"
    )]
    pub long_share: Option<Decimal>,
    /// Share of shorts (0–1), when published.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_decimal"
    )]
    pub short_share: Option<Decimal>,
    /// Start of the period the value describes, Unix milliseconds (the venue's timestamp).
    pub exchange_time_ms: i64,
    /// Local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}
