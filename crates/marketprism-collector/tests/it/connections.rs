//! A venue with more streams than one connection may carry: the collector spreads its
//! instruments over the connections its plan needs, within every WebSocket limit of the
//! venue as the simulator enforces them, and records every symbol's trades.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use marketprism_model::Event;
use marketprism_venues::Channel;

use crate::{all_events, finished_report, sim_config, sim_report, start};

/// Binance spot instruments, each with its `@trade` and `@aggTrade` stream: 2,200 streams,
/// three connections of at most 1,024.
const SYMBOLS: usize = 1_100;

#[tokio::test]
async fn instruments_beyond_one_connection_are_spread_within_every_limit_of_the_venue() {
    let mut sim = sim_config(1_000);
    sim.symbols = (0..SYMBOLS)
        .map(|index| format!("S{index:04}USDT"))
        .collect();
    // Five rounds of a trade per symbol: the last ones reach every subscribed stream.
    sim.count = Some(5 * SYMBOLS as u64);
    sim.book_levels = 1;
    let mut run = start(sim, "30s").await;
    let venue = &mut run.config.venues[0];
    venue.symbols = (0..SYMBOLS)
        .map(|index| format!("S{index:04}-USDT"))
        .collect();
    venue.channels = vec![Channel::Trades, Channel::AggregateTrades];
    let collector = run.spawn_collector();

    finished_report(&run.sim_address).await;
    // Wait until the stream holds every trade delivered: the last ones are still being
    // written when the simulator reports it generated them all, so the report is read again.
    let stream = run.config.nats.stream.name.clone();
    let mut stored_trades = BTreeSet::new();
    let mut stored_aggregates = BTreeSet::new();
    let mut trades = BTreeSet::new();
    let mut aggregates = BTreeSet::new();
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let report = sim_report(&run.sim_address).await;
        // What reached an open connection, per stream kind, as `SYMBOL:id`.
        let delivered = |venue: &str| -> BTreeSet<String> {
            report
                .trades
                .iter()
                .filter(|trade| trade.venues.contains(venue))
                .map(|trade| format!("{}:{}", trade.symbol, trade.trade_id))
                .collect()
        };
        (trades, aggregates) = (
            delivered("binance/spot"),
            delivered("binance/spot/aggregate"),
        );
        stored_trades.clear();
        stored_aggregates.clear();
        for event in all_events(&run.context, &stream).await {
            let Event::Trade(trade) = event else {
                panic!("only trades expected: {event:?}");
            };
            let key = format!(
                "{}:{}",
                trade.symbol.as_str().replace('-', ""),
                trade.trade_id
            );
            if trade.aggregated {
                stored_aggregates.insert(key);
            } else {
                stored_trades.insert(key);
            }
        }
        if stored_trades == trades && stored_aggregates == aggregates {
            break;
        }
    }
    let usage = sim_report(&run.sim_address).await.ws_usage["binance_spot"].clone();
    run.stop(collector).await;

    // Every trade written to a connection was recorded, once per stream, and every symbol
    // has its trades.
    same(&stored_trades, &trades, "trades");
    same(&stored_aggregates, &aggregates, "aggregate trades");
    let symbols: HashSet<&str> = stored_aggregates
        .iter()
        .chain(&stored_trades)
        .filter_map(|key| key.split(':').next())
        .collect();
    assert_eq!(symbols.len(), SYMBOLS);

    // The planned three connections, none refused or replaced, each within the limits.
    assert_eq!(usage.connections, 3, "{usage:?}");
    assert_eq!(usage.refusals(), 0, "{usage:?}");
    assert_eq!(usage.peak_streams, 1_024);
    assert!(usage.peak_args <= usage.args_limit, "{usage:?}");
    assert!(usage.peak_messages <= usage.messages_limit, "{usage:?}");
    assert!(
        usage.peak_connection_attempts <= usage.connection_limit,
        "{usage:?}"
    );
}

/// Fails naming how many of `delivered` are missing from `stored` and how many are extra,
/// with a few of each.
fn same(stored: &BTreeSet<String>, delivered: &BTreeSet<String>, what: &str) {
    let missing: Vec<&String> = delivered.difference(stored).collect();
    let extra: Vec<&String> = stored.difference(delivered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} delivered, {} stored; {} missing, e.g. {:?}; {} not delivered, e.g. {:?}",
        delivered.len(),
        stored.len(),
        missing.len(),
        &missing[..missing.len().min(10)],
        extra.len(),
        &extra[..extra.len().min(10)],
    );
}
