//! Instrument discovery against the simulator: feeds that select their instruments from the
//! venues' lists subscribe to an instrument listed while they run, and unsubscribe from one
//! delisted, without interrupting the others; every trade delivered to their connections
//! is stored once, no gap is recorded, and the lists' changes are published as listings.

use std::collections::BTreeSet;
use std::time::Duration;

use marketprism_collector::{DiscoverConfig, SelectRule, VenueConfig};
use marketprism_model::{Event, Listing};
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, finished_report, sim_config, start, stored_listings};

/// Feeds of Binance spot and OKX swaps recording every USDT instrument.
fn discovering(base: VenueConfig) -> VenueConfig {
    VenueConfig {
        symbols: Vec::new(),
        channels: vec![Channel::Trades, Channel::OrderBook],
        discover: Some(DiscoverConfig {
            interval: Duration::from_secs(1),
            select: vec![SelectRule {
                base: None,
                quote: Some("USDT".into()),
                settle: None,
                expires_within: None,
                option_kind: None,
            }],
        }),
        ..base
    }
}

#[tokio::test]
async fn instruments_listed_at_run_time_are_recorded_and_delisted_ones_dropped() {
    let mut sim = sim_config(50);
    sim.symbols = vec!["BTCUSDT".into(), "ETHUSDT".into(), "BTCUSD".into()];
    // About fifteen seconds of trades.
    sim.count = Some(750);
    let mut run = start(sim, "30s").await;
    run.config.venues = vec![
        discovering(run.sim_venue(VenueKind::BinanceSpot, "", &[])),
        discovering(run.sim_venue(VenueKind::OkxSwap, "", &[])),
    ];
    run.config.validate().expect("a valid configuration");
    let stream = run.config.nats.stream.name.clone();
    let collector = run.spawn_collector();

    // Once both feeds record ETH-USDT, SOL-USDT is listed and ETH-USDT delisted.
    let recording = |events: &[Event], exchange: &str| {
        events.iter().any(|event| {
            matches!(event, Event::Trade(trade)
                if trade.symbol.as_str() == "ETH-USDT" && trade.exchange.as_str() == exchange)
        })
    };
    let mut ready = false;
    for _ in 0..100 {
        let events = all_events(&run.context, &stream).await;
        if recording(&events, "binance") && recording(&events, "okx") {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "both feeds record ETH-USDT");
    let answer = reqwest::Client::new()
        .post(format!("http://{}/control/listings", run.sim_address))
        .json(&serde_json::json!({"list": ["SOLUSDT"], "delist": ["ETHUSDT"]}))
        .send()
        .await
        .expect("listings");
    assert!(answer.status().is_success(), "{answer:?}");

    let report = finished_report(&run.sim_address).await;
    // The last trades are read and published before the collector stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.stop(collector).await;
    let events = all_events(&run.context, &stream).await;

    let delisted_ms = report.listings["ETHUSDT"]
        .delisted_ms
        .expect("ETHUSDT delisted");
    for (exchange, market) in [("binance", "binance/spot"), ("okx", "okx/perpetual")] {
        let delivered: BTreeSet<String> = report
            .trades
            .iter()
            .filter(|trade| trade.venues.contains(market) && trade.symbol.ends_with("USDT"))
            .map(|trade| {
                format!(
                    "{}-USDT:{}",
                    trade.symbol.trim_end_matches("USDT"),
                    trade.trade_id
                )
            })
            .collect();
        let stored: Vec<String> = events
            .iter()
            .filter_map(|event| match event {
                Event::Trade(trade) if trade.exchange.as_str() == exchange => {
                    Some(format!("{}:{}", trade.symbol, trade.trade_id))
                }
                _ => None,
            })
            .collect();
        let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
        assert_eq!(
            stored.len(),
            stored_set.len(),
            "{exchange}: every trade stored once"
        );
        assert_eq!(
            stored_set, delivered,
            "{exchange}: every delivered trade stored"
        );
        for symbol in ["BTC-USDT", "ETH-USDT", "SOL-USDT"] {
            assert!(
                stored_set
                    .iter()
                    .any(|trade| trade.starts_with(&format!("{symbol}:"))),
                "{exchange}: {symbol} recorded"
            );
        }
        let books = |symbol: &str| {
            events.iter().any(|event| {
                matches!(event, Event::OrderBook(book)
                    if book.exchange.as_str() == exchange && book.symbol.as_str() == symbol)
            })
        };
        assert!(
            books("SOL-USDT"),
            "{exchange}: the listed instrument's book"
        );
        let late_eth = events.iter().any(|event| {
            matches!(event, Event::Trade(trade)
                if trade.exchange.as_str() == exchange
                    && trade.symbol.as_str() == "ETH-USDT"
                    && trade.exchange_time_ms > delisted_ms)
        });
        assert!(
            !late_eth,
            "{exchange}: nothing of ETH-USDT after its delisting"
        );
    }
    let gaps: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Gap(_)))
        .collect();
    assert!(gaps.is_empty(), "no instrument lost data: {gaps:?}");

    // What the lists said, as published.
    let listings = stored_listings(&run.context, &stream).await;
    let last = |exchange: &str, symbol: &str| -> Option<&Listing> {
        listings.iter().rev().find(|listing| {
            listing.exchange.as_str() == exchange && listing.symbol.as_str() == symbol
        })
    };
    let sol = last("okx", "SOL-USDT").expect("SOL-USDT listed on OKX");
    assert_eq!(
        (sol.trading, sol.listed_ms),
        (true, report.listings["SOLUSDT"].listed_ms),
        "OKX gives its listing time"
    );
    let eth = last("okx", "ETH-USDT").expect("ETH-USDT on OKX");
    assert!(!eth.trading && eth.delisted_ms.is_some_and(|at| at >= delisted_ms));
    let eth = last("binance", "ETH-USDT").expect("ETH-USDT on Binance");
    assert!(!eth.trading, "Binance keeps it listed, not trading");
    assert!(last("binance", "SOL-USDT").is_some_and(|listing| listing.trading));
    // BTC-USD is listed but matches no rule: published, not recorded.
    assert!(last("okx", "BTC-USD").is_some());
    assert!(!events.iter().any(|event| matches!(event,
        Event::Trade(trade) if trade.symbol.as_str() == "BTC-USD")));
}
