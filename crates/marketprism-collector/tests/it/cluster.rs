//! The collector on a three-node JetStream cluster with streams of three replicas: losing
//! the stream's leader under load costs no trade and stores none twice.

use std::time::Duration;

use marketprism_testkit::endpoints::ready_becomes;
use marketprism_testkit::NatsCluster;

use crate::outage::every_trade_stored_once;
use crate::{sim_config, start_on};

#[tokio::test]
async fn a_killed_stream_leader_costs_no_trade_and_stores_none_twice() {
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    // About 40 s of trades: the election and the time around it.
    sim.count = Some(u64::from(RATE) * 40);
    let cluster = NatsCluster::start(3).expect("nats cluster");
    let mut run = start_on(cluster, sim, "30s").await;
    let port = marketprism_servers::free_port().expect("port");
    run.config.listen = ([127, 0, 0, 1], port).into();
    let base = format!("http://127.0.0.1:{port}");
    let collector = run.spawn_collector();
    ready_becomes(&base, 200, &["ready"]).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    let stream_name = run.config.nats.stream.name.clone();
    let mut stream = run.context.get_stream(&stream_name).await.expect("stream");
    let info = stream.info().await.expect("stream info");
    assert_eq!(info.config.num_replicas, 3);
    let leader = info
        .cluster
        .as_ref()
        .and_then(|cluster| cluster.leader.clone())
        .expect("the stream has a leader");
    run.nats
        .node_named(&leader)
        .expect("the leader is a node of the cluster")
        .kill()
        .expect("kill the stream leader");
    let killed = std::time::Instant::now();
    eprintln!("killed the stream leader {leader}");

    // Another node takes over; the collector publishes on, retrying what was not
    // acknowledged with the same ids.
    let mut new_leader = None;
    for _ in 0..600 {
        if let Ok(info) = stream.info().await {
            new_leader = info
                .cluster
                .as_ref()
                .and_then(|cluster| cluster.leader.clone())
                .filter(|name| *name != leader);
            if new_leader.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "new stream leader {new_leader:?} after {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    assert!(new_leader.is_some(), "no new stream leader within a minute");
    ready_becomes(&base, 200, &["ready"]).await;
    eprintln!(
        "collector ready {:.1} s after the kill",
        killed.elapsed().as_secs_f64()
    );

    every_trade_stored_once(&run, &[]).await;
    run.stop(collector).await;
}
