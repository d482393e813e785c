//! Order books against the simulator's faults: every published book equals the simulator's
//! true book at its update id, and every fault that loses data yields exactly one gap.

use std::time::Duration;

use async_nats::jetstream;
use marketprism_model::{codec, Decimal, Event, GapReason, OrderBook, PriceLevel};
use marketprism_sim::{BookFault, TrueBook};

use crate::{sim_config, start};

/// Every event in the stream, in order.
async fn all_events(context: &jetstream::Context, stream: &str) -> Vec<Event> {
    let mut stream = context.get_stream(stream).await.expect("stream");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut events = Vec::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            events.push(codec::decode(&message.subject, &message.payload).expect("valid event"));
        }
    }
    events
}

fn books(events: &[Event]) -> impl Iterator<Item = &OrderBook> {
    events.iter().filter_map(|event| match event {
        Event::OrderBook(book) => Some(book),
        _ => None,
    })
}

fn gaps(events: &[Event], reason: GapReason) -> usize {
    events
        .iter()
        .filter(|event| matches!(event, Event::Gap(gap) if gap.reason == reason))
        .count()
}

/// Waits until `condition` holds over the stream's events (up to fifteen seconds).
async fn wait_for(
    context: &jetstream::Context,
    stream: &str,
    what: &str,
    condition: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    for _ in 0..150 {
        let events = all_events(context, stream).await;
        if condition(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn levels(side: &[[String; 2]]) -> Vec<PriceLevel> {
    side.iter()
        .map(|[price, quantity]| {
            PriceLevel::new(
                price.parse::<Decimal>().expect("price"),
                quantity.parse::<Decimal>().expect("quantity"),
            )
        })
        .collect()
}

async fn inject(sim: &str, kind: BookFault) {
    reqwest::Client::new()
        .post(format!("http://{sim}/control/book-fault"))
        .json(&serde_json::json!({ "kind": kind, "symbol": "BTCUSDT" }))
        .send()
        .await
        .expect("fault injected");
}

/// The newest BTC-USDT book's update id.
fn latest_btc_update(events: &[Event]) -> u64 {
    books(events)
        .filter(|book| book.symbol.as_str() == "BTC-USDT")
        .map(|book| book.update_id)
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn books_stay_correct_through_every_fault_with_one_gap_per_loss() {
    let mut run = start(sim_config(10), "1s").await;
    run.config.venues[0].channels = vec![marketprism_collector::ChannelName::Orderbook];
    run.config.venues[0].rest_endpoint = Some(format!("http://{}", run.sim_address));
    run.config.books.depth = 10;
    // The silenced simulator swallows subscribe replies too; retry sooner than the default.
    run.config.connection.subscribe_timeout = Duration::from_secs(2);
    let collector = tokio::spawn(marketprism_collector::run(
        run.config.clone(),
        run.shutdown.clone(),
    ));
    let stream = run.config.nats.stream.name.clone();
    let context = run.context.clone();
    let sim = run.sim_address.clone();

    let events = wait_for(&context, &stream, "books of both symbols", |events| {
        let symbols: std::collections::HashSet<&str> =
            books(events).map(|book| book.symbol.as_str()).collect();
        symbols.len() == 2 && books(events).count() > 20
    })
    .await;
    assert_eq!(gaps(&events, GapReason::SequenceBreak), 0, "clean start");

    // Each loss ends with one sequence-break gap and fresh books after it.
    for (step, faults) in [
        vec![BookFault::Drop],
        vec![BookFault::Reorder],
        // The resync after the drop receives a snapshot older than the stream first.
        vec![BookFault::StaleSnapshot, BookFault::Drop],
    ]
    .into_iter()
    .enumerate()
    {
        let before = latest_btc_update(&all_events(&context, &stream).await);
        for fault in faults {
            inject(&sim, fault).await;
        }
        // Recovered, and several correct books published since.
        wait_for(&context, &stream, "a sequence-break gap", |events| {
            gaps(events, GapReason::SequenceBreak) == step + 1
                && latest_btc_update(events) > before + 20
        })
        .await;
    }

    // A duplicate loses nothing: it is skipped, and no gap claims missing data.
    inject(&sim, BookFault::Duplicate).await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    // A silent socket is replaced; the connection's gap covers the books too.
    reqwest::Client::new()
        .post(format!("http://{sim}/control/silence"))
        .json(&serde_json::json!({ "ms": 2_500 }))
        .send()
        .await
        .expect("silenced");
    let before = latest_btc_update(&all_events(&context, &stream).await);
    let events = wait_for(&context, &stream, "books after the silence", |events| {
        gaps(events, GapReason::Stale) == 2 && latest_btc_update(events) > before + 10
    })
    .await;
    assert_eq!(
        gaps(&events, GapReason::SequenceBreak),
        3,
        "one gap per loss, none for the duplicate or the reconnect"
    );

    let client = reqwest::Client::new();
    let mut checked = 0;
    for book in books(&events) {
        let native = book.symbol.as_str().replace('-', "");
        let truth: TrueBook = client
            .get(format!(
                "http://{sim}/control/book?symbol={native}&update_id={}&limit=10",
                book.update_id
            ))
            .send()
            .await
            .expect("truth")
            .json()
            .await
            .expect("a true book exists for every published update id");
        assert_eq!(book.bids, levels(&truth.bids), "bids at {}", book.update_id);
        assert_eq!(book.asks, levels(&truth.asks), "asks at {}", book.update_id);
        checked += 1;
    }
    assert!(checked > 50, "only {checked} books published");

    run.shutdown.cancel();
    collector.await.expect("join").expect("clean shutdown");
}
