//! Storage on a three-node JetStream cluster with streams of three replicas: losing the
//! stream's leader while events arrive and storage consumes them loses and duplicates no
//! row.

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
