//! What the simulator generated and delivered.

use serde::{Deserialize, Serialize};

/// One generated trade, as the simulator put it on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTrade {
    /// Binance symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Trade id (`t`).
    pub trade_id: u64,
    /// Price text (`p`).
    pub price: String,
    /// Quantity text (`q`).
    pub quantity: String,
    /// Whether the buyer was the maker (`m`).
    pub buyer_is_maker: bool,
    /// Trade time (`T`), Unix ms.
    pub trade_time_ms: i64,
    /// Whether the frame was written to at least one open connection.
    pub delivered: bool,
    /// Where it was written: `exchange/market` (`binance/spot`, `okx/perpetual`,
    /// `bybit/spot`, ...), with `/aggregate` for Binance `aggTrade` streams.
    #[serde(default)]
    pub venues: std::collections::BTreeSet<String>,
}

/// Counts from the report, cheap to poll during long runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// True once `count` trades were generated (or the replay ended).
    pub done: bool,
    /// Trades generated.
    pub trades_generated: u64,
    /// Trades written to at least one open connection.
    pub trades_delivered: u64,
    /// Connections accepted so far.
    pub connections: u64,
}

impl Report {
    /// The report's counts.
    pub fn summary(&self) -> Summary {
        Summary {
            done: self.done,
            trades_generated: self.trades.len() as u64,
            trades_delivered: self.trades.iter().filter(|trade| trade.delivered).count() as u64,
            connections: self.connections,
        }
    }
}

/// The simulator's account of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True once `count` trades were generated (or the replay ended).
    pub done: bool,
    /// Every generated trade in order.
    pub trades: Vec<SimTrade>,
    /// Times connections were dropped on command, Unix ms.
    pub disconnects_ms: Vec<i64>,
    /// Connections accepted so far.
    pub connections: u64,
    /// Frames written to sockets (data, replies, replayed frames).
    pub frames_sent: u64,
    /// REST polls answered (`premiumIndex`, `openInterest`, long/short ratios).
    pub rest_requests: Vec<crate::RestRequest>,
    /// Derivatives values written to at least one open connection.
    pub derivatives: Vec<crate::SentDerivative>,
}
