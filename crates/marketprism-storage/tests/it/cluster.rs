//! Storage scaled out: on a three-node JetStream cluster with streams of three replicas,
//! losing the stream's leader while events arrive and storage consumes them loses and
//! duplicates no row; two workers sharing the durable consumer lose nothing when one dies
//! mid-batch.

use std::time::Duration;

use async_nats::jetstream;
use marketprism_model::codec;
use marketprism_testkit::NatsCluster;

use crate::{eventually, setup, trade, Harness, Nats};

/// Trades published.
const TRADES: u64 = 3_000;

/// Publishes trade `id` until the stream acknowledges it, with the same `Nats-Msg-Id` each
/// time, as the collector does: a retry of a message the old leader stored is absorbed.
async fn publish_until_acked(context: &jetstream::Context, id: u64) {
    let event = trade(id, "100.5");
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, event.msg_id().as_str());
        let sent = context
            .publish_with_headers(event.subject(), headers, codec::encode(&event).into())
            .await;
        if let Ok(ack) = sent {
            if ack.await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_killed_stream_leader_loses_and_duplicates_no_row() {
    let cluster = NatsCluster::start(3).expect("nats cluster");
    let mut harness = Harness::start_on(Nats::Cluster(cluster), "cluster_test");
    let context = setup(&harness).await;
    let (shutdown, storage) = harness.run_storage();

    let publisher = {
        let context = context.clone();
        tokio::spawn(async move {
            for id in 1..=TRADES {
                publish_until_acked(&context, id).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let client = harness.client();
    // Storage has written some when the leader goes.
    assert!(eventually(&client, "SELECT least(count(), 500) FROM trades FINAL", 500).await >= 500);
    let mut stream = context
        .get_stream(&harness.config.nats.stream.name)
        .await
        .expect("stream");
    let leader = stream
        .info()
        .await
        .expect("stream info")
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.leader.clone())
        .expect("the stream has a leader");
    let Nats::Cluster(cluster) = &mut harness.nats else {
        unreachable!("the harness runs on the cluster");
    };
    cluster
        .node_named(&leader)
        .expect("the leader is a node")
        .kill()
        .expect("kill the stream leader");
    eprintln!("killed the stream leader {leader}");

    publisher.await.expect("every trade published");
    let mut stored = 0;
    for _ in 0..12 {
        stored = eventually(&client, "SELECT count() FROM trades FINAL", TRADES).await;
        if stored == TRADES {
            break;
        }
    }
    assert_eq!(stored, TRADES, "rows in trades FINAL");
    let raw: u64 = client
        .query("SELECT count() FROM trades")
        .fetch_one()
        .await
        .expect("raw count");
    eprintln!("{raw} rows before merging, {stored} in FINAL");
    let distinct: u64 = client
        .query("SELECT uniqExact(trade_id) FROM trades")
        .fetch_one()
        .await
        .expect("distinct ids");
    assert_eq!(distinct, TRADES);
    shutdown.cancel();
    storage.await.expect("join").expect("clean stop");
}

/// Messages storage's consumer has delivered and not had acknowledged; 0 before storage
/// created it.
async fn ack_pending(context: &jetstream::Context, harness: &Harness) -> usize {
    let Ok(stream) = context.get_stream(&harness.config.nats.stream.name).await else {
        return 0;
    };
    let consumer: Result<jetstream::consumer::PullConsumer, _> = stream
        .get_consumer(&harness.config.consumer.durable_name)
        .await;
    match consumer {
        Ok(mut consumer) => consumer.info().await.map_or(0, |info| info.num_ack_pending),
        Err(_) => 0,
    }
}

/// Two storage workers share the durable consumer; one dies holding a batch it fetched and
/// did not acknowledge. JetStream redelivers that batch to the other after the ack wait: no
/// row is lost, and `FINAL` holds none twice.
#[tokio::test]
async fn two_workers_share_the_consumer_and_one_dying_mid_batch_loses_nothing() {
    const ROWS: u64 = 4_000;
    let harness = Harness::start("workers_test");
    let context = setup(&harness).await;
    for id in 1..=ROWS {
        publish_until_acked(&context, id).await;
    }
    let worker = |config: &marketprism_storage::Config| {
        let mut config = config.clone();
        let port = marketprism_servers::free_port().expect("port");
        config.listen = ([127, 0, 0, 1], port).into();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(marketprism_storage::run(config, shutdown.clone()));
        (shutdown, task)
    };
    // The first worker fetches and waits 2 s for its batch to fill; it dies before writing.
    let mut holding = harness.impatient_config();
    holding.batch.max_rows = 100_000;
    holding.batch.max_wait = Duration::from_secs(2);
    let (_, dying) = worker(&holding);
    let mut fetched = 0;
    for _ in 0..250 {
        fetched = ack_pending(&context, &harness).await;
        if fetched > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dying.abort();
    let _ = dying.await;
    assert!(fetched > 0, "the first worker held no batch");
    let client = harness.client();
    let written: u64 = client
        .query("SELECT count() FROM trades")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(written, 0, "the first worker wrote before it died");

    let mut surviving_config = harness.impatient_config();
    surviving_config.batch.max_rows = 200;
    let (shutdown, surviving) = worker(&surviving_config);
    let mut stored = 0;
    for _ in 0..6 {
        stored = eventually(&client, "SELECT count() FROM trades FINAL", ROWS).await;
        if stored == ROWS {
            break;
        }
    }
    assert_eq!(stored, ROWS, "rows in trades FINAL");
    let distinct: u64 = client
        .query("SELECT uniqExact(trade_id) FROM trades")
        .fetch_one()
        .await
        .expect("distinct ids");
    assert_eq!(distinct, ROWS);
    shutdown.cancel();
    surviving.await.expect("join").expect("clean stop");
    let info = crate::consumer_info(&context, &harness).await;
    assert_eq!(info.num_ack_pending, 0, "every message settled");
    // Each delivery takes a consumer sequence number: more of them than messages means the
    // dead worker's batch was delivered again.
    let deliveries = info.delivered.consumer_sequence;
    assert!(
        deliveries > ROWS,
        "{deliveries} deliveries of {ROWS} messages: the dead worker's batch was not redelivered"
    );
    eprintln!(
        "{fetched} messages held by the worker that died; {deliveries} deliveries of {ROWS} messages"
    );
}
