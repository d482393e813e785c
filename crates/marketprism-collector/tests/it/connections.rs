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

    let report = finished_report(&run.sim_address).await;
    // What reached an open connection, per stream kind, as `SYMBOL:id`.
    let delivered = |venue: &str| -> BTreeSet<String> {
        report
            .trades
            .iter()
            .filter(|trade| trade.venues.contains(venue))
            .map(|trade| format!("{}:{}", trade.symbol, trade.trade_id))
            .collect()
    };
    let (trades, aggregates) = (
        delivered("binance/spot"),
        delivered("binance/spot/aggregate"),
    );

    // Wait until the stream stops growing, then read it once.
    let stream = run.config.nats.stream.name.clone();
    let mut stored_messages = 0;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = run.stored_messages(&stream).await;
        if now == stored_messages && now > 0 {
            break;
        }
        stored_messages = now;
    }
    let mut stored_trades = BTreeSet::new();
    let mut stored_aggregates = BTreeSet::new();
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
    let usage = sim_report(&run.sim_address).await.ws_usage["binance_spot"].clone();
    run.stop(collector).await;

    // Every trade written to a connection was recorded, once per stream, and every symbol
    // has its trades.
    assert_eq!(stored_trades, trades);
    assert_eq!(stored_aggregates, aggregates);
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
