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
    /// Binance symbols to trade, e.g. `BTCUSDT`; an entry `PREFIX{N}SUFFIX` stands for `N`
    /// generated symbols numbered from 0, zero-padded to the width of `N - 1`: `S{200}USDT`
    /// is `S000USDT` to `S199USDT` (see [`Config::symbol_list`]).
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
    /// The configured symbols in upper case, in order and each once, generated ones
    /// expanded (see [`Config::symbols`]).
    pub fn symbol_list(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.symbols
            .iter()
            .flat_map(|entry| expand(&entry.to_ascii_uppercase()))
            .filter(|symbol| seen.insert(symbol.clone()))
            .collect()
    }

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

/// The symbols an entry of [`Config::symbols`] stands for: itself, or the `N` symbols of
/// `PREFIX{N}SUFFIX`.
fn expand(entry: &str) -> Vec<String> {
    let generated = entry.split_once('{').and_then(|(prefix, rest)| {
        let (count, suffix) = rest.split_once('}')?;
        Some((prefix, count.parse::<usize>().ok()?, suffix))
    });
    match generated {
        Some((prefix, count, suffix)) => {
            let width = count.saturating_sub(1).to_string().len();
            (0..count)
                .map(|number| format!("{prefix}{number:0width$}{suffix}"))
                .collect()
        }
        None => vec![entry.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_symbols_expand_in_order_each_once() {
        let config = Config {
            symbols: vec![
                "btcusdt".into(),
                "S{200}USDT".into(),
                "BTCUSDT".into(),
                "x{3}btc".into(),
            ],
            ..Config::default()
        };
        let symbols = config.symbol_list();
        assert_eq!(symbols.len(), 1 + 200 + 3);
        assert_eq!(&symbols[..3], ["BTCUSDT", "S000USDT", "S001USDT"]);
        assert_eq!(symbols[200], "S199USDT");
        assert_eq!(&symbols[201..], ["X0BTC", "X1BTC", "X2BTC"]);
        assert_eq!(
            expand("S{TEN}USDT"),
            ["S{TEN}USDT"],
            "not a count: kept as written"
        );
    }
}
