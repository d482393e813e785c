//! The normalized trade.

use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Exchange, MarketType, Symbol};

/// The taker's side of a trade: `Buy` means an aggressive buyer lifted an ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The taker bought.
    Buy,
    /// The taker sold.
    Sell,
}

impl Side {
    /// The lowercase identifier stored in rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// How the collector learned of a trade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TradeSource {
    /// The venue's live stream.
    #[default]
    Ws,
    /// The venue's REST trade history, recovering trades a gap missed.
    Rest,
}

impl TradeSource {
    /// The lowercase identifier stored in rows.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradeSource::Ws => "ws",
            TradeSource::Rest => "rest",
        }
    }

    /// True for the live stream, which messages leave out.
    pub const fn is_ws(&self) -> bool {
        matches!(self, TradeSource::Ws)
    }
}

/// One public trade as the venue reported it.
///
/// Prices and quantities are the venue's decimal strings, kept exactly (scale included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trade {
    /// Venue that matched the trade.
    pub exchange: Exchange,
    /// Market the instrument trades on.
    pub market_type: MarketType,
    /// Normalized instrument, e.g. `BTC-USDT`.
    pub symbol: Symbol,
    /// The venue's trade identifier (an aggregate id when `aggregated`); ids up to 24 bytes
    /// are stored inline.
    pub trade_id: CompactString,
    /// True when the venue reports one aggregate of fills at a price (Binance `aggTrade`);
    /// aggregate ids live in a different id space from single-trade ids.
    pub aggregated: bool,
    /// Execution price.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    /// Executed quantity in base units.
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    /// Taker side.
    pub side: Side,
    /// Venue's execution time, Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Local time the frame carrying the trade was received, Unix milliseconds.
    pub received_time_ms: i64,
    /// The venue's per-instrument trade counter where it has no holes (Binance trade and
    /// aggregate ids, Deribit `trade_seq`): a jump means trades were missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// Where the trade came from: the live stream or, for a recovered trade, REST history.
    #[serde(default, skip_serializing_if = "TradeSource::is_ws")]
    pub source: TradeSource,
}
