//! Coinbase public market data, over its two WebSocket APIs, one submodule each:
//!
//! - [`advanced`]: Advanced Trade (`wss://advanced-trade-ws.coinbase.com`), the current
//!   retail and institutional API: `market_trades`, `level2` and `heartbeats`, every message
//!   numbered per connection (`sequence_num`).
//! - [`exchange`]: Coinbase Exchange (`wss://ws-feed.exchange.coinbase.com`, formerly
//!   Coinbase Pro): `matches` with per-product `sequence`, `level2_batch` books.
//!
//! Both name products `BASE-QUOTE` (`BTC-USD`), which is already MarketPrism's symbol form
//! ([`symbol`]), write times as RFC 3339 text (`time`), report a trade's maker side
//! (`side`) and list products alike (`listing`). Both serve the one Coinbase Exchange matching engine: trade ids are the same on
//! either, so trades recorded over both are stored once.

pub mod advanced;
pub mod exchange;
mod listing;
mod side;
pub mod symbol;
mod time;
mod trade;
