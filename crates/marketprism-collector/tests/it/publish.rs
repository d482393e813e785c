//! The publisher's failure decisions against a real NATS server: a message over the payload
//! limit, a stream that is deleted.

use std::time::Duration;

use marketprism_bus::{DEADLETTER_ORIGINAL_HEADER, DEADLETTER_TRUNCATED_HEADER};
use marketprism_collector::{CollectorError, PublishConfig, PublisherError};
use marketprism_model::{Event, Side};

use crate::{all_events, sim_config, start, trade};

/// The `index`th BTC-USDT buy, with the id `trade_id`.
fn btc_buy(index: u64, trade_id: String) -> Event {
    trade(
        "BTC-USDT",
        Side::Buy,
        trade_id,
        1_700_000_000_000 + index as i64,
    )
}

#[tokio::test]
async fn messages_over_the_payload_limit_are_split_and_an_event_over_it_dead_lettered() {
    const EVENTS: u64 = 20_000;
    let run = start(sim_config(0), "30s").await;
    let max_payload = run.context.client().max_payload();
    // Limits that let one message grow far past the server's: it must be split to be stored.
    let limits = PublishConfig {
        max_events_per_message: 1_000_000,
        max_message_bytes: 64 * max_payload,
        max_outstanding_acks: 100_000,
        queue_capacity: 100_000,
        linger: Duration::from_millis(300),
        ..PublishConfig::default()
    };
    let mut events: Vec<Event> = (0..EVENTS)
        .map(|index| btc_buy(index, index.to_string()))
        .collect();
    // An event larger than any message may be.
    let oversized = btc_buy(EVENTS, "9".repeat(max_payload + 1));
    events.push(oversized.clone());
    let published =
        marketprism_collector::publish_events(&run.config.nats, &limits, events.clone())
            .await
            .expect("published");
    assert_eq!(published, EVENTS + 1);

    let names = &run.config.nats.stream;
    let stored = all_events(&run.context, &names.name).await;
    assert_eq!(stored, events[..EVENTS as usize]);
    let mut deadletters = run
        .context
        .get_stream(&names.deadletter_name)
        .await
        .expect("dead-letter stream");
    assert_eq!(deadletters.info().await.expect("info").state.messages, 1);
    let letter = deadletters.get_raw_message(1).await.expect("dead letter");
    let header = |name: &str| letter.headers.get(name).map(|value| value.to_string());
    assert!(header(DEADLETTER_TRUNCATED_HEADER).is_some());
    // The reference is the event's `Nats-Msg-Id`, itself cut to a header's length here.
    let reference = header(DEADLETTER_ORIGINAL_HEADER).unwrap_or_default();
    let reference = reference.trim_end_matches('…');
    assert!(
        !reference.is_empty() && oversized.msg_id().starts_with(reference),
        "the reference does not name the event"
    );
}

#[tokio::test]
async fn a_deleted_stream_stops_the_collector_naming_the_stream() {
    let run = start(sim_config(200), "30s").await;
    let collector = run.spawn_collector();
    let stream = run.config.nats.stream.name.clone();
    // Trades flow, then the stream is deleted under the running collector.
    for _ in 0..100 {
        if run.stored_messages(&stream).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.context.delete_stream(&stream).await.expect("delete");

    let ended = tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .expect("the collector stops by itself")
        .expect("join");
    match ended {
        Err(CollectorError::Publish(PublisherError::StreamMissing { stream: named, .. })) => {
            assert_eq!(named, stream);
        }
        other => panic!("expected the missing stream, got {other:?}"),
    }
    run.shutdown.cancel();
}
