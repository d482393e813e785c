//! Two named collectors on the same feeds (active-active): the stream deduplicates their
//! messages, so it holds about what one collector alone publishes; nothing is lost; each
//! keeps its own feed state.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;
use marketprism_bus::ensure_streams;
use marketprism_collector::Config;
use marketprism_model::Event;
use marketprism_testkit::NatsServer;

use crate::{all_events, sim_config, sim_report, start};

/// What a stream holds: its size, and the trades in it.
struct Stored {
    bytes: u64,
    messages: u64,
    trades: usize,
    distinct: HashSet<String>,
}

impl Stored {
    async fn of(context: &jetstream::Context, stream: &str) -> Stored {
        let mut handle = context.get_stream(stream).await.expect("stream");
        let state = handle.info().await.expect("stream info").state.clone();
        let keys: Vec<String> = all_events(context, stream)
            .await
            .into_iter()
            .filter_map(|event| match event {
                Event::Trade(trade) => Some(format!(
                    "{}:{}",
                    trade.symbol.as_str().replace('-', ""),
                    trade.trade_id
                )),
                _ => None,
            })
            .collect();
        Stored {
            bytes: state.bytes,
            messages: state.messages,
            trades: keys.len(),
            distinct: keys.into_iter().collect(),
        }
    }

    fn bytes_per_trade(&self) -> f64 {
        self.bytes as f64 / self.distinct.len().max(1) as f64
    }
}

#[tokio::test]
async fn two_collectors_on_one_feed_store_about_one_copy_and_lose_nothing() {
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 20);
    let run = start(sim, "30s").await;
    let stream = run.config.nats.stream.name.clone();
    let named = |name: &str| Config {
        name: Some(name.to_owned()),
        ..run.config.clone()
    };
    let pair = ["collector-a", "collector-b"].map(|name| {
        tokio::spawn(marketprism_collector::run(
            named(name),
            run.shutdown.clone(),
        ))
    });
    // The pair subscribes first, so that it receives every trade the simulator makes.
    for _ in 0..100 {
        if run.stored_messages(&stream).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One collector alone, on a server of its own, on the same simulator: the yardstick.
    let alone_nats = NatsServer::start().expect("nats-server");
    let mut alone = run.config.clone();
    alone.nats.url = alone_nats.url();
    let alone_context = jetstream::new(
        marketprism_bus::connect(&alone.nats, "test")
            .await
            .expect("connect"),
    );
    ensure_streams(&alone_context, &alone.nats.stream)
        .await
        .expect("streams");
    let single = tokio::spawn(marketprism_collector::run(alone, run.shutdown.clone()));

    let report = loop {
        let report = sim_report(&run.sim_address).await;
        if report.done {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let delivered: HashSet<String> = report
        .trades
        .iter()
        .filter(|trade| trade.delivered)
        .map(|trade| format!("{}:{}", trade.symbol, trade.trade_id))
        .collect();
    // Until the pair's stream holds every delivered trade, or stops growing.
    let mut last = 0;
    let both = loop {
        let stored = Stored::of(&run.context, &stream).await;
        if stored.distinct.len() >= delivered.len() || stored.trades == last {
            break stored;
        }
        last = stored.trades;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    run.shutdown.cancel();
    for collector in pair.into_iter().chain([single]) {
        collector.await.expect("join").expect("clean shutdown");
    }
    let one = Stored::of(&alone_context, &stream).await;

    let ratio = both.bytes_per_trade() / one.bytes_per_trade();
    eprintln!(
        "{} trades delivered; two collectors: {} messages, {} bytes, {} trades ({} distinct); \
         one collector: {} messages, {} bytes, {} trades ({} distinct); \
         stream bytes per trade, two against one: {ratio:.3}",
        delivered.len(),
        both.messages,
        both.bytes,
        both.trades,
        both.distinct.len(),
        one.messages,
        one.bytes,
        one.trades,
        one.distinct.len(),
    );
    assert_eq!(
        both.distinct, delivered,
        "the pair's stream differs from the delivered trades"
    );
    assert!(
        one.distinct.len() * 10 >= delivered.len() * 9,
        "the collector alone stored {} of {} trades",
        one.distinct.len(),
        delivered.len()
    );
    assert!(
        ratio <= 1.1,
        "two collectors' stream holds {ratio:.3}x the bytes per trade of one"
    );

    // Each named collector keeps its feed state under its own name.
    let bucket = marketprism_bus::state_bucket(&run.context, &run.config.nats.stream)
        .await
        .expect("state bucket");
    let keys: HashSet<String> = bucket
        .keys()
        .await
        .expect("keys")
        .try_collect()
        .await
        .expect("keys");
    for name in ["collector-a", "collector-b"] {
        for symbol in ["BTC-USDT", "ETH-USDT"] {
            let key = format!("{name}.binance.spot.{symbol}");
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
    }
}
