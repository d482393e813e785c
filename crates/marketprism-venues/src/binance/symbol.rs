//! Binance symbols to and from normalized symbols.
//!
//! Binance concatenates base and quote asset: `BTCUSDT` in frames and REST queries, lower
//! case in stream names (`btcusdt@trade`). Bybit writes symbols the same way, so both use
//! [`crate::concatenated`].

pub use crate::concatenated::{parse_configured, to_native, SymbolMap};
