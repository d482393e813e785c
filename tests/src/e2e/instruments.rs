//! The simulator's instruments as the pipeline stores them: the symbol under which each feed
//! (`exchange/market`, as the simulator labels what it sent) records the trades, book and
//! derivatives values of a simulator symbol.

use super::scenarios::normalized;

/// The expiry of the simulator's OKX futures and options, as OKX writes it.
const OKX_EXPIRY: &str = "261225";

/// The expiry of the simulator's Deribit options, as Deribit writes it.
const DERIBIT_EXPIRY: &str = "25DEC26";

/// The strike of the simulator's one option (a call) per symbol.
const STRIKE: &str = "60000";

/// The stored symbol of simulator symbol `symbol` (`BTCUSDT`, one the scenarios trade) on
/// `feed`: the pair (`BTC-USDT`) on spot and perpetual markets, else the id of the
/// simulator's one future or call option of the symbol (`BTC-USDT-261225`,
/// `BTC-USDT-261225-60000-C`, and `BTC-USDT-25DEC26-60000-C` for Deribit's linear
/// `BTC_USDT-25DEC26-60000-C`).
pub(super) fn stored_symbol(feed: &str, symbol: &str) -> String {
    let pair = normalized(symbol);
    match feed {
        "okx/futures" => format!("{pair}-{OKX_EXPIRY}"),
        "okx/options" => format!("{pair}-{OKX_EXPIRY}-{STRIKE}-C"),
        "deribit/options" => format!("{pair}-{DERIBIT_EXPIRY}-{STRIKE}-C"),
        _ => pair,
    }
}

/// The simulator symbol, of `symbols`, that `feed` stores as `stored`.
pub(super) fn sim_symbol<'a>(feed: &str, stored: &str, symbols: &[&'a str]) -> Option<&'a str> {
    symbols
        .iter()
        .copied()
        .find(|symbol| stored_symbol(feed, symbol) == stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_feed_stores_the_simulator_s_instrument_of_a_symbol() {
        let cases = [
            ("binance/spot", "BTCUSDT", "BTC-USDT"),
            ("deribit/perpetual", "ETHUSDT", "ETH-USDT"),
            ("okx/futures", "BTCUSDT", "BTC-USDT-261225"),
            ("okx/options", "ETHUSDT", "ETH-USDT-261225-60000-C"),
            ("deribit/options", "BTCUSDT", "BTC-USDT-25DEC26-60000-C"),
        ];
        for (feed, symbol, stored) in cases {
            assert_eq!(stored_symbol(feed, symbol), stored, "{feed}");
            assert_eq!(
                sim_symbol(feed, stored, &["ETHUSDT", "BTCUSDT"]),
                Some(symbol)
            );
        }
        assert_eq!(
            sim_symbol("okx/futures", "BTC-USDT-261226", &["BTCUSDT"]),
            None
        );
    }
}
