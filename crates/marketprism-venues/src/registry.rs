//! The venues and markets MarketPrism records, as configuration files name them
//! (`venue = "binance_spot"`), and the one place that builds each one's protocol.
//!
//! Adding a venue adds a variant here; the exhaustive `match`es below then list everything
//! the new venue must supply: its market, production endpoints, symbol syntax and protocol.

use std::sync::Arc;

use marketprism_model::{Exchange, MarketType, Symbol};
use serde::{Deserialize, Serialize};

use crate::{binance, bybit, coinbase, deribit, okx, VenueError, VenueProtocol};

/// A venue and market MarketPrism can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    /// Binance spot.
    BinanceSpot,
    /// Binance USDⓈ-M perpetual futures.
    BinanceUsdm,
    /// OKX spot.
    OkxSpot,
    /// OKX perpetual swaps.
    OkxSwap,
    /// OKX expiry futures (`instType=FUTURES`, ids such as `BTC-USD-250328`).
    OkxFutures,
    /// OKX options (`instType=OPTION`, ids such as `BTC-USD-250328-60000-C`).
    OkxOptions,
    /// Deribit perpetuals.
    DeribitPerpetual,
    /// Deribit options: each option's trades and book (`BTC-27DEC24-100000-C`), and the
    /// volatility index (DVOL) of a currency (`BTC`).
    DeribitOptions,
    /// Bybit v5 spot.
    BybitSpot,
    /// Bybit v5 linear perpetuals.
    BybitLinear,
    /// Coinbase spot over the Advanced Trade API, Coinbase's current market-data API (named
    /// after its market like the other venues' spot feeds).
    CoinbaseSpot,
    /// Coinbase spot over the Coinbase Exchange API (formerly Coinbase Pro): the same market
    /// and trades as [`VenueKind::CoinbaseSpot`], books from its public `level2_batch`.
    CoinbaseExchange,
}

impl VenueKind {
    /// Every venue and market, in declaration order.
    pub const ALL: [VenueKind; 12] = [
        VenueKind::BinanceSpot,
        VenueKind::BinanceUsdm,
        VenueKind::OkxSpot,
        VenueKind::OkxSwap,
        VenueKind::OkxFutures,
        VenueKind::OkxOptions,
        VenueKind::DeribitPerpetual,
        VenueKind::DeribitOptions,
        VenueKind::BybitSpot,
        VenueKind::BybitLinear,
        VenueKind::CoinbaseSpot,
        VenueKind::CoinbaseExchange,
    ];

    /// The venue the feed records.
    pub const fn exchange(self) -> Exchange {
        match self {
            VenueKind::BinanceSpot | VenueKind::BinanceUsdm => Exchange::Binance,
            VenueKind::OkxSpot
            | VenueKind::OkxSwap
            | VenueKind::OkxFutures
            | VenueKind::OkxOptions => Exchange::Okx,
            VenueKind::DeribitPerpetual | VenueKind::DeribitOptions => Exchange::Deribit,
            VenueKind::BybitSpot | VenueKind::BybitLinear => Exchange::Bybit,
            VenueKind::CoinbaseSpot | VenueKind::CoinbaseExchange => Exchange::Coinbase,
        }
    }

    /// The market the feed records.
    pub const fn market_type(self) -> MarketType {
        match self {
            VenueKind::BinanceSpot
            | VenueKind::OkxSpot
            | VenueKind::BybitSpot
            | VenueKind::CoinbaseSpot
            | VenueKind::CoinbaseExchange => MarketType::Spot,
            VenueKind::BinanceUsdm
            | VenueKind::OkxSwap
            | VenueKind::DeribitPerpetual
            | VenueKind::BybitLinear => MarketType::Perpetual,
            VenueKind::OkxFutures => MarketType::Futures,
            VenueKind::OkxOptions | VenueKind::DeribitOptions => MarketType::Options,
        }
    }

    /// The venue's production WebSocket endpoint.
    pub const fn default_endpoint(self) -> &'static str {
        match self {
            VenueKind::BinanceSpot => binance::SPOT_WS_ENDPOINT,
            VenueKind::BinanceUsdm => binance::USDM_WS_ENDPOINT,
            VenueKind::OkxSpot
            | VenueKind::OkxSwap
            | VenueKind::OkxFutures
            | VenueKind::OkxOptions => okx::WS_ENDPOINT,
            VenueKind::DeribitPerpetual | VenueKind::DeribitOptions => deribit::WS_ENDPOINT,
            VenueKind::BybitSpot | VenueKind::BybitLinear => bybit::WS_ENDPOINT,
            VenueKind::CoinbaseSpot => coinbase::advanced::WS_ENDPOINT,
            VenueKind::CoinbaseExchange => coinbase::exchange::WS_ENDPOINT,
        }
    }

    /// The venue's production REST endpoint (book snapshots, polls).
    pub const fn default_rest_endpoint(self) -> &'static str {
        match self {
            VenueKind::BinanceSpot => binance::SPOT_REST_ENDPOINT,
            VenueKind::BinanceUsdm => binance::USDM_REST_ENDPOINT,
            VenueKind::OkxSpot
            | VenueKind::OkxSwap
            | VenueKind::OkxFutures
            | VenueKind::OkxOptions => okx::REST_ENDPOINT,
            VenueKind::DeribitPerpetual | VenueKind::DeribitOptions => deribit::REST_ENDPOINT,
            VenueKind::BybitSpot | VenueKind::BybitLinear => bybit::REST_ENDPOINT,
            VenueKind::CoinbaseSpot => coinbase::advanced::REST_ENDPOINT,
            VenueKind::CoinbaseExchange => coinbase::exchange::REST_ENDPOINT,
        }
    }

    /// An instrument of the market, as configuration writes it: what a feed's channels can be
    /// checked against before any instrument is chosen.
    pub const fn example_symbol(self) -> &'static str {
        match self {
            VenueKind::BinanceSpot
            | VenueKind::BinanceUsdm
            | VenueKind::OkxSpot
            | VenueKind::OkxSwap
            | VenueKind::BybitSpot
            | VenueKind::BybitLinear => "BTC-USDT",
            VenueKind::OkxFutures => "BTC-USD-261225",
            VenueKind::OkxOptions => "BTC-USD-261225-60000-C",
            VenueKind::DeribitPerpetual => "BTC-PERPETUAL",
            VenueKind::DeribitOptions => "BTC-25DEC26-60000-C",
            VenueKind::CoinbaseSpot | VenueKind::CoinbaseExchange => "BTC-USD",
        }
    }

    /// Parses a configured symbol, normalized (`BTC-USDT`) or as the venue writes it
    /// (`btcusdt`, `BTC-USDT-SWAP`, `BTC-PERPETUAL`; Coinbase writes `BTC-USD`). Futures and
    /// options keep their instrument id as their symbol (`BTC-USD-250328`,
    /// `BTC-27DEC24-100000-C`).
    pub fn parse_symbol(self, text: &str) -> Result<Symbol, VenueError> {
        let market_type = self.market_type();
        match self {
            VenueKind::BinanceSpot | VenueKind::BinanceUsdm => {
                binance::symbol::parse_configured(text)
            }
            VenueKind::OkxSpot
            | VenueKind::OkxSwap
            | VenueKind::OkxFutures
            | VenueKind::OkxOptions => okx::symbol::parse_configured(market_type, text),
            VenueKind::DeribitPerpetual | VenueKind::DeribitOptions => {
                deribit::symbol::parse_configured(market_type, text)
            }
            VenueKind::BybitSpot | VenueKind::BybitLinear => bybit::symbol::parse_configured(text),
            VenueKind::CoinbaseSpot | VenueKind::CoinbaseExchange => {
                coinbase::symbol::parse_configured(text)
            }
        }
    }

    /// The venue's protocol for a feed of `symbols` (normalized). Venues whose frames write
    /// symbols without a separator split them as these are split; any symbol still resolves.
    pub fn protocol(self, symbols: &[Symbol]) -> Arc<dyn VenueProtocol> {
        let market_type = self.market_type();
        match self {
            VenueKind::BinanceSpot => Arc::new(binance::Binance::spot(
                binance::symbol::SymbolMap::new(symbols),
            )),
            VenueKind::BinanceUsdm => Arc::new(binance::Binance::usdm(
                binance::symbol::SymbolMap::new(symbols),
            )),
            VenueKind::OkxSpot | VenueKind::OkxSwap | VenueKind::OkxFutures => {
                Arc::new(okx::Okx::new(market_type))
            }
            VenueKind::OkxOptions => Arc::new(okx::Okx::options(symbols)),
            VenueKind::DeribitPerpetual | VenueKind::DeribitOptions => {
                Arc::new(deribit::Deribit::new(market_type))
            }
            VenueKind::BybitSpot => {
                Arc::new(bybit::Bybit::spot(bybit::symbol::SymbolMap::new(symbols)))
            }
            VenueKind::BybitLinear => {
                Arc::new(bybit::Bybit::linear(bybit::symbol::SymbolMap::new(symbols)))
            }
            VenueKind::CoinbaseSpot => Arc::new(coinbase::advanced::CoinbaseAdvanced::new()),
            VenueKind::CoinbaseExchange => Arc::new(coinbase::exchange::CoinbaseExchange::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_s_example_symbol_is_an_instrument_of_its_market() {
        for kind in VenueKind::ALL {
            let symbol = kind
                .parse_symbol(kind.example_symbol())
                .unwrap_or_else(|error| panic!("{kind:?}: {error}"));
            assert!(kind.protocol(&[]).in_instrument_list(&symbol), "{kind:?}");
        }
    }

    #[test]
    fn each_kind_names_the_venue_and_market_its_protocol_records() {
        for kind in VenueKind::ALL {
            let protocol = kind.protocol(&[]);
            assert_eq!(protocol.exchange(), kind.exchange(), "{kind:?}");
            assert_eq!(protocol.market_type(), kind.market_type(), "{kind:?}");
        }
    }
}
