//! Two named collectors on the same feeds (active-active): the stream deduplicates their
//! messages, so it holds about what one collector alone publishes; nothing is lost; each
//! keeps its own feed state.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;
use marketprism_bus::ensure_streams;
use marketprism_collector::Config;
use marketprism_model::{Event, Gap, GapReason};
use marketprism_testkit::NatsServer;

use marketprism_model::coverage::{feed_gaps, Span};
use tokio_util::sync::CancellationToken;

use crate::{all_events, delivered_trades, sim_config, start, Collector, Run};

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

/// Once the simulator has made every trade: the trades it delivered, and what the run's
/// stream holds once it has them all or stops growing.
async fn delivered_and_stored(run: &Run) -> (HashSet<String>, Stored) {
    let delivered = delivered_trades(&run.sim_address).await;
    let stream = &run.config.nats.stream.name;
    let mut last = 0;
    loop {
        let stored = Stored::of(&run.context, stream).await;
        if stored.distinct.len() >= delivered.len() || stored.trades == last {
            return (delivered, stored);
        }
        last = stored.trades;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Waits up to ten seconds for the run's stream to hold a message.
async fn first_message(run: &Run) {
    for _ in 0..100 {
        if run.stored_messages(&run.config.nats.stream.name).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing published within ten seconds");
}

/// The collector `name` on the run's configuration, stopping with `shutdown`.
fn spawn_named(run: &Run, name: &str, shutdown: CancellationToken) -> Collector {
    let config = Config {
        name: Some(name.to_owned()),
        ..run.config.clone()
    };
    tokio::spawn(marketprism_collector::run(config, shutdown))
}

#[tokio::test]
async fn two_collectors_on_one_feed_store_about_one_copy_and_lose_nothing() {
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 20);
    let run = start(sim, "30s").await;
    let stream = run.config.nats.stream.name.clone();
    let pair =
        ["collector-a", "collector-b"].map(|name| spawn_named(&run, name, run.shutdown.clone()));
    // The pair subscribes first, so that it receives every trade the simulator makes.
    first_message(&run).await;

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

    let (delivered, both) = delivered_and_stored(&run).await;
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

/// One of two collectors stops and starts again while the other records on: the stopped
/// one records its own gaps, the stream still holds every trade, and the feed has no gap.
#[tokio::test]
async fn a_collector_restarted_while_its_twin_records_leaves_no_feed_gap() {
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 25);
    let run = start(sim, "30s").await;
    let first_a = run.shutdown.child_token();
    let a = spawn_named(&run, "collector-a", first_a.clone());
    let b = spawn_named(&run, "collector-b", run.shutdown.clone());
    first_message(&run).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    first_a.cancel();
    a.await.expect("join").expect("clean shutdown");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let a = spawn_named(&run, "collector-a", run.shutdown.clone());

    let (delivered, stored) = delivered_and_stored(&run).await;
    run.shutdown.cancel();
    for collector in [a, b] {
        collector.await.expect("join").expect("clean shutdown");
    }
    assert_eq!(
        stored.distinct, delivered,
        "the stream differs from the delivered trades"
    );
    let gaps: Vec<Gap> = all_events(&run.context, &run.config.nats.stream.name)
        .await
        .into_iter()
        .filter_map(|event| match event {
            Event::Gap(gap) => Some(gap),
            _ => None,
        })
        .collect();
    eprintln!("gaps: {gaps:#?}");
    let missed = |name: &str| -> Vec<Span> {
        gaps.iter()
            .filter(|gap| gap.collector.as_deref() == Some(name))
            .map(|gap| Span::new(gap.from_ms, gap.to_ms))
            .collect()
    };
    assert!(
        gaps.iter()
            .all(|gap| gap.collector.as_deref() == Some("collector-a")),
        "only the restarted collector missed anything"
    );
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        assert!(
            gaps.iter().any(|gap| gap.reason == GapReason::Restart
                && gap.symbol.as_str() == symbol
                && gap.to_ms - gap.from_ms >= 4_000),
            "no restart gap of at least 4 s for {symbol}"
        );
    }
    assert_eq!(
        feed_gaps(&[missed("collector-a"), missed("collector-b")]),
        [],
        "the feed itself missed nothing"
    );
}
