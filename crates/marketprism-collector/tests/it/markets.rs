//! OKX futures and options and Deribit options against the simulator, which trades one
//! future and one option (a call) of each of its symbols on the symbol's own trades and
//! book: every trade written to those markets is stored once, and every published book
//! equals the simulator's true book at its update id.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use marketprism_collector::VenueConfig;
use marketprism_model::Event;
use marketprism_sim::TrueBook;
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, finished_report, levels, sim_config, sim_symbol, start};

#[tokio::test]
async fn okx_futures_and_options_and_deribit_options_trades_and_books() {
    const MARKETS: [&str; 3] = ["okx/futures", "okx/options", "deribit/options"];
    let mut sim = marketprism_sim::Config {
        symbols: vec!["BTCUSD".into(), "ETHUSD".into()],
        ..sim_config(40)
    };
    // About eight seconds of trades.
    sim.count = Some(320);
    let mut run = start(sim, "30s").await;
    let channels = vec![Channel::Trades, Channel::OrderBook];
    run.config.venues = vec![
        VenueConfig {
            channels: channels.clone(),
            ..run.sim_venue(
                VenueKind::OkxFutures,
                "",
                &["BTC-USD-261225", "eth-usd-261225"],
            )
        },
        VenueConfig {
            channels: channels.clone(),
            ..run.sim_venue(
                VenueKind::OkxOptions,
                "",
                &["BTC-USD-261225-60000-C", "ETH-USD-261225-60000-C"],
            )
        },
        VenueConfig {
            channels,
            ..run.sim_venue(
                VenueKind::DeribitOptions,
                "",
                &["BTC-25DEC26-60000-C", "ETH-25DEC26-60000-C"],
            )
        },
    ];
    run.config.validate().expect("a valid configuration");
    run.config.books.depth = 10;
    let collector = run.spawn_collector();
    let report = finished_report(&run.sim_address).await;
    // What the simulator wrote to each market, as `SYMBOL:id`.
    let mut delivered: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for trade in &report.trades {
        for market in MARKETS {
            if trade.venues.contains(market) {
                delivered
                    .entry(market)
                    .or_default()
                    .insert(format!("{}:{}", trade.symbol, trade.trade_id));
            }
        }
    }
    for market in MARKETS {
        let count = delivered.get(market).map_or(0, BTreeSet::len);
        assert!(count > 20, "{market}: only {count} trades written");
    }
    let expected: usize = delivered.values().map(BTreeSet::len).sum();

    // Until every written trade is stored, or the stream stops growing.
    let stream = run.config.nats.stream.name.clone();
    let mut last = usize::MAX;
    let events = loop {
        let events = all_events(&run.context, &stream).await;
        let trades = events
            .iter()
            .filter(|event| matches!(event, Event::Trade(_)))
            .count();
        if trades >= expected || trades == last {
            break events;
        }
        last = trades;
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in &events {
        if let Event::Trade(trade) = event {
            let market = format!("{}/{}", trade.exchange.as_str(), trade.market_type.as_str());
            let symbol = sim_symbol(trade.symbol.as_str());
            stored
                .entry(market)
                .or_default()
                .push(format!("{symbol}:{}", trade.trade_id));
        }
    }
    for market in MARKETS {
        let ids = stored.remove(market).unwrap_or_default();
        let distinct: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), distinct.len(), "{market}: a trade stored twice");
        assert_eq!(
            Some(&distinct),
            delivered.get(market),
            "{market}: stored trades differ from written ones"
        );
    }
    assert!(stored.is_empty(), "trades of other markets: {stored:?}");
    let gaps: Vec<&Event> = events
        .iter()
        .filter(|event| matches!(event, Event::Gap(_)))
        .collect();
    assert!(gaps.is_empty(), "gaps recorded: {gaps:?}");

    // Every published book is the simulator's book at its update id.
    let client = reqwest::Client::new();
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        let Event::OrderBook(book) = event else {
            continue;
        };
        let market = format!("{}/{}", book.exchange.as_str(), book.market_type.as_str());
        let truth: TrueBook = client
            .get(format!(
                "http://{}/control/book?symbol={}&update_id={}&limit=10",
                run.sim_address,
                sim_symbol(book.symbol.as_str()),
                book.update_id
            ))
            .send()
            .await
            .expect("truth")
            .json()
            .await
            .expect("a true book exists for every published update id");
        assert_eq!(book.bids, levels(&truth.bids), "{market} {}", book.symbol);
        assert_eq!(book.asks, levels(&truth.asks), "{market} {}", book.symbol);
        *checked.entry(market).or_default() += 1;
    }
    for market in MARKETS {
        let count = checked.get(market).copied().unwrap_or(0);
        assert!(count > 10, "{market}: only {count} books published");
    }
    run.stop(collector).await;
}
