//! The consumer writes, dead-letters and survives a failing ClickHouse without loss.

use std::time::Duration;

use marketprism_bus::DEADLETTER_ERROR_HEADER;
use marketprism_model::{codec, Event};
use marketprism_schema::{migrations, Dialect};
use tokio_util::sync::CancellationToken;

use marketprism_storage::{FundingRateRow, OrderBookDeltaRow, OrderBookRow};

use crate::{
    consumer_info, dead_letters, derivatives, eventually, gap, orderbook, orderbook_delta, publish,
    setup, trade, Harness,
};

#[tokio::test]
async fn writes_events_dead_letters_garbage_and_acks_everything() {
    let harness = Harness::start("consume_test");
    let context = setup(&harness).await;
    for event in derivatives() {
        publish(&context, &event).await;
    }
    for event in [
        trade(1, "100.5"),
        trade(2, "100.25"),
        trade(3, "101"),
        gap(),
        orderbook(7),
        orderbook_delta(7),
    ] {
        publish(&context, &event).await;
    }
    // A republish with the same Nats-Msg-Id is absorbed by the stream.
    publish(&context, &trade(2, "100.25")).await;
    context
        .publish("trade.binance.spot.BTC-USDT", "not an event".into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let shutdown = CancellationToken::new();
    let mut config = harness.config.clone();
    let port = marketprism_servers::free_port().expect("port");
    config.listen = ([127, 0, 0, 1], port).into();
    let storage = tokio::spawn(marketprism_storage::run(config, shutdown.clone()));
    let client = harness.client();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 3).await,
        3
    );
    assert_eq!(
        eventually(&client, "SELECT count() FROM gaps FINAL", 1).await,
        1
    );
    assert_eq!(
        eventually(&client, "SELECT count() FROM orderbooks FINAL", 1).await,
        1
    );
    let stored: OrderBookRow = client
        .query("SELECT ?fields FROM orderbooks FINAL")
        .fetch_one()
        .await
        .expect("book row");
    let Event::OrderBook(book) = orderbook(7) else {
        unreachable!("orderbook() builds a book");
    };
    assert_eq!(
        stored,
        OrderBookRow::try_from(&book).expect("fits"),
        "levels stored as arrays, exactly"
    );
    assert_eq!(
        eventually(&client, "SELECT count() FROM orderbook_deltas FINAL", 1).await,
        1
    );
    let stored: OrderBookDeltaRow = client
        .query("SELECT ?fields FROM orderbook_deltas FINAL")
        .fetch_one()
        .await
        .expect("delta row");
    let Event::OrderBookDelta(delta) = orderbook_delta(7) else {
        unreachable!("orderbook_delta() builds a delta");
    };
    assert_eq!(stored, OrderBookDeltaRow::try_from(&delta).expect("fits"));
    for table in [
        "funding_rates",
        "open_interests",
        "liquidations",
        "volatility_indices",
        "long_short_ratios",
    ] {
        let query = format!("SELECT count() FROM {table} FINAL");
        assert_eq!(eventually(&client, &query, 1).await, 1, "{table}");
    }
    let stored: FundingRateRow = client
        .query("SELECT ?fields FROM funding_rates FINAL")
        .fetch_one()
        .await
        .expect("funding row");
    let Event::FundingRate(rate) = &derivatives()[0] else {
        unreachable!("derivatives() starts with a funding rate");
    };
    assert_eq!(
        stored,
        FundingRateRow::try_from(rate).expect("fits"),
        "absent fields stay NULL, present ones exact"
    );

    let deadletters = dead_letters(&context, &harness, 1).await;
    let letter = deadletters.get_raw_message(1).await.expect("dead letter");
    assert_eq!(
        letter.subject.as_str(),
        "deadletter.storage.trade.binance.spot.BTC-USDT"
    );
    assert_eq!(letter.payload.as_ref(), b"not an event");
    assert!(letter.headers.get(DEADLETTER_ERROR_HEADER).is_some());

    // Every committed message's latency is observed once: the test events were received in
    // 2023, so all land beyond the last bucket.
    let committed = derivatives().len() + 6;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let sample = |name: &str| {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse::<f64>().ok())
    };
    assert_eq!(
        sample("marketprism_storage_commit_latency_seconds_count"),
        Some(committed as f64),
        "{metrics}"
    );
    assert_eq!(
        sample(r#"marketprism_storage_commit_latency_seconds_bucket{le="30.0"}"#),
        Some(0.0),
        "{metrics}"
    );

    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
    let info = consumer_info(&context, &harness).await;
    assert_eq!(info.num_ack_pending, 0, "every message settled");
    assert_eq!(info.num_pending, 0, "every message delivered");
}

#[tokio::test]
async fn failed_inserts_are_redelivered_until_clickhouse_accepts_them() {
    let harness = Harness::start("redelivery_test");
    let context = setup(&harness).await;
    let client = harness.client();
    // Make every insert fail, as an unavailable or refusing server would.
    client
        .query("DROP TABLE trades")
        .execute()
        .await
        .expect("drop");

    let (shutdown, storage) = harness.run_storage();
    for id in 1..=50 {
        publish(&context, &trade(id, "42.42")).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let info = consumer_info(&context, &harness).await;
    assert_eq!(
        info.ack_floor.stream_sequence, 0,
        "nothing may be acked while inserts fail"
    );

    let version: String = client
        .query("SELECT version()")
        .fetch_one()
        .await
        .expect("version");
    let dialect = Dialect::for_version(&version).expect("known");
    client
        .query(&migrations::TRADES.create_statement(dialect))
        .execute()
        .await
        .expect("recreate");
    let added = migrations::TRADES_SOURCE
        .alter_statement(dialect, &[])
        .expect("a column to add");
    client.query(&added).execute().await.expect("add source");

    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 50).await,
        50
    );
    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
}

#[tokio::test]
async fn a_message_of_several_events_stores_each_and_dead_letters_only_the_unwritable_one() {
    let harness = Harness::start("several_events_test");
    let context = setup(&harness).await;
    // 19 fractional digits do not fit Decimal(38, 18): that trade alone cannot be written.
    let unwritable = trade(12, "0.0000000000000000001");
    let mut encoder = codec::MessageEncoder::new(trade(11, "1.5"));
    encoder.push(unwritable.clone());
    encoder.push(trade(13, "2.25"));
    let message = encoder.finish();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, message.msg_id.as_str());
    context
        .publish_with_headers(message.subject, headers, message.body.into())
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
    let ids: Vec<String> = client
        .query("SELECT trade_id FROM trades FINAL ORDER BY trade_id")
        .fetch_all()
        .await
        .expect("trade ids");
    assert_eq!(ids, ["11", "13"]);

    let deadletters = dead_letters(&context, &harness, 1).await;
    let letter = deadletters.get_raw_message(1).await.expect("dead letter");
    assert_eq!(
        codec::decode("trade.binance.spot.BTC-USDT", &letter.payload).expect("an event"),
        [unwritable]
    );
    let reason = letter
        .headers
        .get(DEADLETTER_ERROR_HEADER)
        .map(|value| value.to_string())
        .unwrap_or_default();
    assert!(reason.contains("Decimal(38, 18)"), "{reason}");

    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
    let info = consumer_info(&context, &harness).await;
    assert_eq!(info.num_ack_pending, 0, "the message was settled");
    assert_eq!(info.num_redelivered, 0, "and not redelivered");
}
