//! Bybit symbols to and from normalized symbols.
//!
//! Bybit v5 concatenates base and quote coin on spot and linear alike (`BTCUSDT`) in topics,
//! pushes and REST queries. Binance writes symbols the same way, so both use
//! [`crate::concatenated`].

pub use crate::concatenated::{parse_configured, to_native, SymbolMap};
