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
    ];
    for kind in kinds {
        let protocol = kind.protocol(&symbols);
        // With an empty endpoint the URL is the path and query the simulator serves.
        let path = protocol.instruments_url("").expect("a list");
        let (status, body) = http(&address, "GET", &path).await;
        assert_eq!(status, 200, "{kind:?} {path}: {body}");
        let listed = protocol
            .parse_instruments(&body)
            .unwrap_or_else(|error| panic!("{kind:?} {path}: {error}: {body}"));
        let configured: Vec<String> = symbols
            .iter()
            .map(|symbol| protocol.native_symbol(symbol))
            .collect();
        assert_eq!(listed, configured, "{kind:?} {path}");
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
    assert!(okx.parse_instruments(&body).is_err(), "{body}");
    let bybit = VenueKind::BybitLinear.protocol(&[]);
    let (_, body) = http(
        &address,
        "GET",
        "/v5/market/instruments-info?category=linears",
    )
    .await;
    assert!(bybit.parse_instruments(&body).is_err(), "{body}");
    let deribit = VenueKind::DeribitOptions.protocol(&[]);
    let path = deribit.instruments_url("").expect("a list");
    let (_, body) = http(&address, "GET", &path).await;
    assert_eq!(
        deribit.parse_instruments(&body).expect("an empty list"),
        Vec::<String>::new(),
        "the simulator lists no options: {body}"
    );
    shutdown.cancel();
}
