//! The simulator lists the configured symbols as each venue lists its instruments, and the
//! venues' own parsers read them back.

use std::collections::BTreeMap;

use marketprism_model::Symbol;
use marketprism_sim::{Config, VenueUsage};
use marketprism_venues::VenueKind;

use crate::{http, report, start};

/// The simulator's symbols, each with its normalized form.
const SYMBOLS: [(&str, &str); 3] = [
    ("BTCUSDT", "BTC-USDT"),
    ("ETHUSDT", "ETH-USDT"),
    ("BTCUSD", "BTC-USD"),
];

#[tokio::test]
async fn every_venue_lists_the_configured_symbols_as_its_parser_reads_them() {
    let (address, shutdown) = start(Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: SYMBOLS.map(|(symbol, _)| symbol.to_owned()).to_vec(),
        ..Config::default()
    })
    .await;
    let symbols: Vec<Symbol> = SYMBOLS
        .iter()
        .map(|(_, normalized)| normalized.parse().expect("valid"))
        .collect();
    let kinds = [
        VenueKind::BinanceSpot,
        VenueKind::BinanceUsdm,
        VenueKind::OkxSpot,
        VenueKind::OkxSwap,
        VenueKind::DeribitPerpetual,
        VenueKind::BybitSpot,
        VenueKind::BybitLinear,
        VenueKind::CoinbaseSpot,
        VenueKind::CoinbaseExchange,
    ];
    for kind in kinds {
        let protocol = kind.protocol(&symbols);
        // With an empty endpoint the URL is the path and query the simulator serves.
        let path = protocol.instruments_url("").expect("a list");
        let (status, body) = http(&address, "GET", &path).await;
        assert_eq!(status, 200, "{kind:?} {path}: {body}");
        let listed = protocol
            .parse_instruments(&body, 1)
            .unwrap_or_else(|error| panic!("{kind:?} {path}: {error}: {body}"));
        let names: Vec<&str> = listed.iter().map(|l| l.venue_symbol.as_str()).collect();
        let configured: Vec<String> = symbols
            .iter()
            .map(|symbol| protocol.native_symbol(symbol))
            .collect();
        assert_eq!(names, configured, "{kind:?} {path}");
        let listed_symbols: Vec<&Symbol> = listed.iter().map(|l| &l.symbol).collect();
        assert_eq!(
            listed_symbols,
            symbols.iter().collect::<Vec<_>>(),
            "{kind:?} {path}"
        );
        assert!(listed.iter().all(|l| l.trading), "{kind:?} {path}");
    }

    let report = report(&address).await;
    assert!(report
        .rest_requests
        .iter()
        .any(|request| request.path == "/fapi/v1/exchangeInfo" && request.status == 200));
    let usage: BTreeMap<String, VenueUsage> = report.rest_usage;
    let counted = |venue: &str| usage.get(venue).map(|usage| (usage.requests, usage.weight));
    assert_eq!(counted("binance_spot"), Some((1, 20)));
    assert_eq!(counted("binance_usdm"), Some((1, 1)));
    assert_eq!(counted("okx"), Some((2, 2)));
    assert_eq!(counted("deribit"), Some((1, 1)));
    assert_eq!(counted("bybit"), Some((2, 2)));
    assert_eq!(counted("coinbase"), Some((1, 1)));
    assert_eq!(counted("coinbase_exchange"), Some((1, 1)));
    shutdown.cancel();
}

#[tokio::test]
async fn unknown_list_parameters_get_each_venue_s_error_answer() {
    let (address, shutdown) = start(Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    })
    .await;
    let okx = VenueKind::OkxSwap.protocol(&[]);
    let (_, body) = http(&address, "GET", "/api/v5/public/instruments?instType=SWAPS").await;
    assert!(okx.parse_instruments(&body, 1).is_err(), "{body}");
    let bybit = VenueKind::BybitLinear.protocol(&[]);
    let (_, body) = http(
        &address,
        "GET",
        "/v5/market/instruments-info?category=linears",
    )
    .await;
    assert!(bybit.parse_instruments(&body, 1).is_err(), "{body}");
    // OKX lists options per instrument family only.
    let (_, body) = http(
        &address,
        "GET",
        "/api/v5/public/instruments?instType=OPTION",
    )
    .await;
    assert!(okx.parse_instruments(&body, 1).is_err(), "{body}");
    shutdown.cancel();
}

/// Futures and options: one of each per symbol (an expiry and a strike of the simulator's
/// own), listed as the venue lists them, and read back by the venues' parsers.
#[tokio::test]
async fn futures_and_options_are_listed_per_symbol() {
    let (address, shutdown) = start(Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: vec!["BTCUSD".into(), "ETHUSD".into()],
        ..Config::default()
    })
    .await;
    let list = |protocol: std::sync::Arc<dyn marketprism_venues::VenueProtocol>| {
        let address = address.clone();
        async move {
            let mut listed = Vec::new();
            for path in protocol.instruments_urls("") {
                let (status, body) = http(&address, "GET", &path).await;
                assert_eq!(status, 200, "{path}: {body}");
                listed.extend(
                    protocol
                        .parse_instruments(&body, 1)
                        .unwrap_or_else(|error| panic!("{path}: {error}: {body}"))
                        .into_iter()
                        .map(|listing| listing.venue_symbol),
                );
            }
            listed
        }
    };
    let symbols = |names: &[&str]| -> Vec<Symbol> {
        names
            .iter()
            .map(|name| name.parse().expect("valid"))
            .collect()
    };
    assert_eq!(
        list(VenueKind::OkxFutures.protocol(&[])).await,
        ["BTC-USD-261225", "ETH-USD-261225"]
    );
    assert_eq!(
        list(VenueKind::OkxOptions.protocol(&symbols(&["ETH-USD-261225-60000-C"]))).await,
        ["ETH-USD-261225-60000-C"]
    );
    assert_eq!(
        list(VenueKind::DeribitOptions.protocol(&[])).await,
        ["BTC-25DEC26-60000-C", "ETH-25DEC26-60000-C"]
    );
    // Deribit allows one `get_instruments` a second.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, body) = http(
        &address,
        "GET",
        "/api/v2/public/get_instruments?currency=ETH&kind=option",
    )
    .await;
    assert_eq!(
        VenueKind::DeribitOptions
            .protocol(&[])
            .parse_instruments(&body, 1)
            .expect("a list")
            .into_iter()
            .map(|listing| listing.venue_symbol)
            .collect::<Vec<_>>(),
        ["ETH-25DEC26-60000-C"]
    );
    shutdown.cancel();
}
