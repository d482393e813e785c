//! What a venue's instrument list says of one instrument: the rows of the `instruments` table
//! and what the collector's discovery selects from.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Exchange, MarketType, Symbol};

/// Whether an option pays on the price rising above its strike or falling below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionKind {
    /// A call.
    Call,
    /// A put.
    Put,
}

impl OptionKind {
    /// The lowercase identifier stored in rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            OptionKind::Call => "call",
            OptionKind::Put => "put",
        }
    }
}

/// One instrument as its venue lists it.
///
/// A venue's list names what trades now; an instrument that leaves it (delisted, expired) is
/// published once more with [`Self::delisted_ms`] set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// Venue.
    pub exchange: Exchange,
    /// Market.
    pub market_type: MarketType,
    /// Normalized instrument, e.g. `BTC-USDT`, `BTC-USD-261225-60000-C`.
    pub symbol: Symbol,
    /// The venue's own name of the instrument, e.g. `BTCUSDT`, `BTC-USDT-SWAP`.
    pub venue_symbol: String,
    /// Base asset, upper-case (`BTC`).
    pub base: String,
    /// Quote asset, upper-case (`USDT`).
    pub quote: String,
    /// The asset a derivative settles in, when the venue names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<String>,
    /// When a future or option expires, Unix milliseconds; `None` for spot and perpetuals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_ms: Option<i64>,
    /// An option's strike price.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::derivatives::optional_decimal"
    )]
    pub strike: Option<Decimal>,
    /// Call or put, for options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option_kind: Option<OptionKind>,
    /// Whether the venue says it trades now (listed but halted or not yet open is `false`).
    pub trading: bool,
    /// When the venue listed it, Unix milliseconds: the venue's own time where its list gives
    /// one, otherwise when it was first seen on the list.
    pub listed_ms: i64,
    /// When it was first seen missing from the list, or expired, Unix milliseconds; `None`
    /// while listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delisted_ms: Option<i64>,
    /// When the list saying this was received, Unix milliseconds.
    pub received_time_ms: i64,
}
