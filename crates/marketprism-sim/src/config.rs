//! Simulator settings (command-line flags of `marketprism sim`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What the simulator serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Seed of the trade generator.
    pub seed: u64,
    /// The id of each symbol's first trade; later ones count up from it.
    pub first_trade_id: u64,
    /// Binance symbols to trade, e.g. `BTCUSDT`.
    pub symbols: Vec<String>,
    /// Trades per second across all symbols.
    pub rate: u32,
    /// Trades to generate before stopping; `None` runs forever.
    pub count: Option<u64>,
    /// Order-book levels per side of every symbol.
    pub book_levels: u32,
    /// Interval of server pings (Binance: 20 s).
    pub ping_interval: Duration,
    /// Serve this captured session (its frames and REST responses) instead of generated
    /// data.
    pub replay: Option<PathBuf>,
    /// Replay speed factor; 0 sends as fast as possible.
    pub replay_speed: f64,
    /// Hold the replay until `POST /control/start` instead of starting it when a client
    /// first subscribes.
    pub replay_hold: bool,
    /// How many of its latest trades per symbol each venue's trade history serves.
    pub history_retention: crate::HistoryRetention,
}

impl Config {
    /// How many trades, values and requests the report keeps: all of a run with a trade
    /// count, the latest [`crate::RETAINED_FOREVER`] of one that runs forever.
    pub fn report_retention(&self) -> Option<usize> {
        match self.count {
            Some(_) => None,
            None => Some(crate::RETAINED_FOREVER),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9443)),
            seed: 1,
            first_trade_id: crate::FIRST_TRADE_ID,
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            rate: 100,
            count: None,
            book_levels: crate::DEFAULT_LEVELS,
            ping_interval: Duration::from_secs(20),
            replay: None,
            replay_speed: 1.0,
            replay_hold: false,
            history_retention: crate::HistoryRetention::default(),
        }
    }
}
