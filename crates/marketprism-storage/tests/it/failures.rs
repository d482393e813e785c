//! Each failure decision against the real servers: rows the server refuses, events that
//! cannot be rows, a poison message at the payload limit, a hung server.

use std::time::Duration;

use marketprism_bus::{
    DEADLETTER_ERROR_HEADER, DEADLETTER_ORIGINAL_HEADER, DEADLETTER_TRUNCATED_HEADER,
};
use marketprism_model::{codec, Event};
use marketprism_storage::StorageErrorKind;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

use crate::{consumer_info, dead_letters, eventually, publish, setup, trade, Harness};

/// The reason a dead letter carries.
fn reason(letter: &async_nats::jetstream::message::StreamMessage) -> String {
    letter
        .headers
        .get(DEADLETTER_ERROR_HEADER)
        .map(|value| value.to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn rows_the_server_refuses_are_dead_lettered_and_the_others_stored() {
    let harness = Harness::start("refused_rows_test");
    let context = setup(&harness).await;
    let client = harness.client();
    // A table that refuses some rows for their content: ClickHouse answers VIOLATED_CONSTRAINT.
    client
        .query("ALTER TABLE trades ADD CONSTRAINT below_a_million CHECK price < 1000000")
        .execute()
        .await
        .expect("constraint");
    let refused = trade(3, "5000000");
    for id in [1, 2] {
        publish(&context, &trade(id, "100")).await;
    }
    // The refused trade travels in a message with two good ones.
    let mut encoder = codec::MessageEncoder::new(trade(4, "101"));
    encoder.push(refused.clone());
    encoder.push(trade(5, "102"));
    let message = encoder.finish();
    context
        .publish(message.subject, message.body.into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    for id in [6, 7] {
        publish(&context, &trade(id, "100")).await;
    }

    let (shutdown, storage) = harness.run_storage();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 6).await,
        6
    );
    let deadletters = dead_letters(&context, &harness, 1).await;
    let letter = deadletters.get_raw_message(1).await.expect("dead letter");
    assert_eq!(
        codec::decode("trade.binance.spot.BTC-USDT", &letter.payload).expect("the event"),
        [refused]
    );
    assert!(
        reason(&letter).contains("VIOLATED_CONSTRAINT"),
        "{}",
        reason(&letter)
    );
    let ids: Vec<String> = client
        .query("SELECT trade_id FROM trades FINAL ORDER BY trade_id")
        .fetch_all()
        .await
        .expect("ids");
    assert_eq!(ids, ["1", "2", "4", "5", "6", "7"]);

    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
    let info = consumer_info(&context, &harness).await;
    assert_eq!(info.num_ack_pending, 0, "every message was settled");
    assert_eq!(info.num_redelivered, 0, "and none redelivered");
}

#[tokio::test]
async fn one_unusable_event_costs_that_event_only() {
    let harness = Harness::start("unusable_event_test");
    let context = setup(&harness).await;
    let subject = "trade.binance.spot.BTC-USDT";
    let Event::Trade(mut no_quantity) = trade(2, "100") else {
        unreachable!("trade() builds trades")
    };
    no_quantity.quantity = "0".parse().expect("valid");
    let wrongly_typed = br#"{"type":"trade","exchange":"binance","market_type":"spot","symbol":"BTC-USDT","trade_id":"3","aggregated":false,"price":100,"quantity":"1","side":"buy","exchange_time_ms":1,"received_time_ms":2}"#;
    let other_symbol = codec::encode(&{
        let Event::Trade(mut trade) = trade(4, "100") else {
            unreachable!("trade() builds trades")
        };
        trade.symbol = "ETH-USDT".parse().expect("valid");
        Event::Trade(trade)
    });
    let mut body = b"[".to_vec();
    for (index, event) in [
        codec::encode(&trade(1, "100")),
        codec::encode(&Event::Trade(no_quantity)),
        wrongly_typed.to_vec(),
        other_symbol,
        codec::encode(&trade(5, "100")),
    ]
    .iter()
    .enumerate()
    {
        if index > 0 {
            body.push(b',');
        }
        body.extend(event);
    }
    body.push(b']');
    context
        .publish(subject, body.into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let (shutdown, storage) = harness.run_storage();
    let client = harness.client();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 2).await,
        2
    );
    let deadletters = dead_letters(&context, &harness, 3).await;
    let mut reasons = Vec::new();
    for sequence in 1..=3 {
        let letter = deadletters.get_raw_message(sequence).await.expect("letter");
        reasons.push(reason(&letter));
    }
    assert!(
        reasons[0].contains("quantity must be positive"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("malformed event"), "{reasons:?}");
    assert!(reasons[2].contains("ETH-USDT"), "{reasons:?}");
    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
    assert_eq!(consumer_info(&context, &harness).await.num_ack_pending, 0);
}

#[tokio::test]
async fn a_poison_message_at_the_payload_limit_is_dead_lettered_cut_to_fit() {
    let harness = Harness::start("poison_test");
    let context = setup(&harness).await;
    let max_payload = context.client().max_payload();
    // Not an event, and as large as a message may be: a whole copy with its error header
    // would not fit.
    let poison = vec![b'x'; max_payload - 64];
    context
        .publish("trade.binance.spot.BTC-USDT", poison.clone().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    publish(&context, &trade(1, "100")).await;

    let (shutdown, storage) = harness.run_storage();
    let client = harness.client();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 1).await,
        1
    );
    let deadletters = dead_letters(&context, &harness, 1).await;
    let letter = deadletters.get_raw_message(1).await.expect("dead letter");
    assert!(letter.payload.len() < poison.len());
    assert!(poison.starts_with(&letter.payload));
    let header = |name: &str| letter.headers.get(name).map(|value| value.to_string());
    assert_eq!(
        header(DEADLETTER_TRUNCATED_HEADER),
        Some(poison.len().to_string())
    );
    assert_eq!(
        header(DEADLETTER_ORIGINAL_HEADER),
        Some(format!("{}:1", harness.config.nats.stream.name))
    );
    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
    let info = consumer_info(&context, &harness).await;
    assert_eq!(info.num_ack_pending, 0, "the consumer drained");
    assert_eq!(info.num_redelivered, 0);
}

#[tokio::test]
async fn a_hung_server_times_out_and_the_batch_is_retried_without_redelivery() {
    let harness = Harness::start("hung_server_test");
    let context = setup(&harness).await;
    let config = harness.impatient_config();
    let clickhouse = Pid::from_raw(i32::try_from(harness.clickhouse.pid()).expect("pid"));
    let shutdown = CancellationToken::new();
    let storage = tokio::spawn(marketprism_storage::run(config, shutdown.clone()));
    publish(&context, &trade(1, "100")).await;
    let client = harness.client();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 1).await,
        1
    );

    // The server stops answering for several request timeouts and ack waits.
    kill(clickhouse, Signal::SIGSTOP).expect("stop ClickHouse");
    for id in 2..=20 {
        publish(&context, &trade(id, "100")).await;
    }
    tokio::time::sleep(Duration::from_secs(8)).await;
    kill(clickhouse, Signal::SIGCONT).expect("resume ClickHouse");

    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 20).await,
        20
    );
    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
    let info = consumer_info(&context, &harness).await;
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(
        info.num_redelivered, 0,
        "progress acks held the batch while it was retried"
    );
}

#[tokio::test]
async fn a_missing_stream_stops_storage_saying_so() {
    let harness = Harness::start("missing_stream_test");
    let error = marketprism_storage::run(harness.config.clone(), CancellationToken::new())
        .await
        .expect_err("no stream to consume");
    assert_eq!(error.kind(), StorageErrorKind::StreamUnavailable);
    assert!(std::error::Error::source(&error).is_some(), "{error}");
    assert!(error.to_string().contains("streams init"), "{error}");
}
