//! Normalized market-data events shared by every MarketPrism component.
//!
//! The model is venue-agnostic: parsers in `marketprism-venues` produce these types, the
//! collector publishes them to JetStream under [`Event::subject`] with [`Event::msg_id`] as the
//! `Nats-Msg-Id`, and storage decodes them with [`codec::decode`] into ClickHouse rows.
//! Nothing in this crate performs I/O; [`now_ms`] reads the clock, for the components that
//! stamp receive times.

mod book;
pub mod codec;
pub mod coverage;
mod derivatives;
mod event;
mod gap;
mod instrument;
mod listing;
mod trade;

pub use book::{OrderBook, OrderBookDelta, PriceLevel};
pub use derivatives::{
    FundingRate, Liquidation, LongShortRatio, OpenInterest, RatioKind, VolatilityIndex,
};
pub use event::{DataType, Event};
pub use gap::{Gap, GapReason, GapState, GapStatus, IdRange};
pub use instrument::{Exchange, MarketType, Symbol, SymbolError};
pub use listing::{Listing, OptionKind};
pub use rust_decimal::Decimal;
pub use trade::{Side, Trade, TradeSource};

/// The local wall-clock time, Unix milliseconds: the unit of every time in the model.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
