//! NATS outages under load: a stopped server, a killed one restarted later, a shutdown
//! during an outage and a server that is not there at start. The collector keeps reading its
//! venue, spools what JetStream does not acknowledge, is not ready meanwhile, and loses
//! nothing.

use std::collections::HashSet;
use std::time::Duration;

use marketprism_collector::SpoolConfig;
use marketprism_model::{Event, GapReason};
use marketprism_testkit::endpoints::ready_becomes;
use marketprism_testkit::{NatsServer, Tmpfs};
use tempfile::TempDir;

use crate::{all_events, delivered_trades, sim_config, sim_report, start, start_on, Run};

/// The run's collector on a fixed port with a spool in a fresh directory: the endpoint's
/// base URL and the directory.
fn spooling(run: &mut Run) -> (String, TempDir) {
    let port = marketprism_servers::free_port().expect("port");
    run.config.listen = ([127, 0, 0, 1], port).into();
    let dir = tempfile::tempdir().expect("tempdir");
    run.config.publish.ack_timeout = Duration::from_secs(2);
    run.config.publish.spool = Some(SpoolConfig {
        path: dir.path().join("spool"),
        max_bytes: 256 << 20,
        when_full: Default::default(),
        sync_interval: Duration::from_secs(1),
    });
    (format!("http://127.0.0.1:{port}"), dir)
}

/// Waits for the simulator to finish, then for the stream to hold as many trades as it
/// delivered, and checks each delivered trade is stored exactly once and no gap was
/// recorded but for the `allowed` reasons.
pub(crate) async fn every_trade_stored_once<N>(run: &Run<N>, allowed: &[GapReason]) {
    let delivered = delivered_trades(&run.sim_address).await;
    assert!(!delivered.is_empty());
    let stream = &run.config.nats.stream.name;
    let mut last_len = usize::MAX;
    // Until every delivered trade is there, or the stream stops growing.
    let stored = loop {
        let events = all_events(&run.context, stream).await;
        let trades = events
            .iter()
            .filter(|event| matches!(event, Event::Trade(_)))
            .count();
        if trades >= delivered.len() || trades == last_len {
            break events;
        }
        last_len = trades;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let gaps: Vec<&Event> = stored
        .iter()
        .filter(|event| matches!(event, Event::Gap(gap) if !allowed.contains(&gap.reason)))
        .collect();
    assert!(gaps.is_empty(), "gaps recorded: {gaps:?}");
    let ids: Vec<String> = stored
        .iter()
        .filter_map(|event| match event {
            Event::Trade(trade) => Some(format!(
                "{}:{}",
                trade.symbol.as_str().replace('-', ""),
                trade.trade_id
            )),
            _ => None,
        })
        .collect();
    let distinct: HashSet<String> = ids.iter().cloned().collect();
    eprintln!(
        "{} trades delivered, {} stored ({} distinct)",
        delivered.len(),
        ids.len(),
        distinct.len()
    );
    assert_eq!(ids.len(), distinct.len(), "a trade stored twice");
    assert_eq!(
        distinct, delivered,
        "stored trades differ from delivered ones"
    );
}

#[tokio::test]
async fn a_stopped_then_killed_nats_server_costs_no_trade() {
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    // About 90 s of trades: the 60 s stop, the kill with 10 s down, and time around them.
    sim.count = Some(u64::from(RATE) * 90);
    let mut run = start(sim, "30s").await;
    let (base, _spool) = spooling(&mut run);
    let collector = run.spawn_collector();
    ready_becomes(&base, 200, &["ready"]).await;

    // A 60 s stop: nothing answers, nothing fails fast.
    run.nats.pause().expect("pause nats-server");
    let (body, took) = ready_becomes(&base, 503, &["spool"]).await;
    eprintln!("NATS stopped: not ready after {took:?}: {body}");
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(took)).await;
    run.nats.resume().expect("resume nats-server");
    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("NATS resumed after 60 s: ready again after {took:?}");

    // A kill, and a new server on the same store 10 s later.
    run.nats.kill().expect("kill nats-server");
    let (body, took) = ready_becomes(&base, 503, &["spool"]).await;
    eprintln!("NATS killed: not ready after {took:?}: {body}");
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(took)).await;
    run.nats.restart().expect("restart nats-server");
    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("NATS restarted: ready again after {took:?}");

    every_trade_stored_once(&run, &[]).await;
    run.stop(collector).await;
}

/// JetStream's store on a full disk: nats-server stops acknowledging (2.9 wedges there,
/// current releases disable JetStream). Whatever it does, the collector spools and is not
/// ready; once the disk has room and the server is restarted, as an operator would, every
/// trade is stored.
#[tokio::test]
async fn a_nats_store_on_a_full_disk_costs_no_trade() {
    const TEST: &str = "a_nats_store_on_a_full_disk_costs_no_trade";
    let Some(disk) = Tmpfs::mount_or_explain(64 << 20, TEST) else {
        return;
    };
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 30);
    let nats = NatsServer::start_with_store(&disk.path().join("jetstream")).expect("nats-server");
    let mut run = start_on(nats, sim, "30s").await;
    let (base, _spool) = spooling(&mut run);
    let collector = run.spawn_collector();
    ready_becomes(&base, 200, &["ready"]).await;

    let filler = disk.fill().expect("fill the store's disk");
    let (body, took) = ready_becomes(&base, 503, &["spool"]).await;
    eprintln!("NATS store full: not ready after {took:?}: {body}");
    tokio::time::sleep(Duration::from_secs(5)).await;

    std::fs::remove_file(&filler).expect("free the disk");
    run.nats.restart().expect("restart nats-server");
    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("NATS restarted on a disk with room: ready after {took:?}");

    every_trade_stored_once(&run, &[]).await;
    run.stop(collector).await;
}

#[tokio::test]
async fn a_shutdown_during_an_outage_leaves_the_rest_in_the_spool_for_the_next_start() {
    const RATE: u32 = 500;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 20);
    let mut run = start(sim, "30s").await;
    let (base, _spool) = spooling(&mut run);
    run.config.publish.flush_timeout = Duration::from_secs(2);
    // Its own shutdown: the simulator stays up for the report.
    let stop_first = tokio_util::sync::CancellationToken::new();
    let collector = tokio::spawn(marketprism_collector::run(
        run.config.clone(),
        stop_first.clone(),
    ));
    ready_becomes(&base, 200, &["ready"]).await;

    run.nats.pause().expect("pause nats-server");
    ready_becomes(&base, 503, &["spool"]).await;
    // The simulator has generated everything: stop the collector while NATS is still down.
    while !sim_report(&run.sim_address).await.done {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop_first.cancel();
    // Bounded by drain_timeout + flush_timeout; the guard only keeps a hang from blocking.
    tokio::time::timeout(Duration::from_secs(60), collector)
        .await
        .expect("the collector stops during the outage")
        .expect("join")
        .expect("clean shutdown");
    run.nats.resume().expect("resume nats-server");

    // The next collector (here without venues to read: the simulator is done) republishes
    // the spool.
    let mut next = run.config.clone();
    next.connection.subscribe_timeout = Duration::from_secs(1);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let restarted = tokio::spawn(marketprism_collector::run(next, shutdown.clone()));
    // The restart is recorded as such (the feed state says where the first stopped); no
    // other gap may be.
    every_trade_stored_once(&run, &[GapReason::Restart]).await;
    shutdown.cancel();
    restarted.await.expect("join").expect("clean shutdown");
}

#[tokio::test]
async fn without_nats_no_venue_is_read_and_a_shutdown_is_honoured() {
    let mut run = start(sim_config(200), "30s").await;
    let (base, _spool) = spooling(&mut run);
    let port = marketprism_servers::free_port().expect("port");
    run.config.nats.url = format!("nats://127.0.0.1:{port}");
    let collector = run.spawn_collector();
    let (body, _) = ready_becomes(&base, 503, &[&run.config.nats.url]).await;
    eprintln!("NATS unreachable: {body}");
    assert_eq!(sim_report(&run.sim_address).await.connections, 0);
    run.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .expect("the collector stops while waiting for NATS")
        .expect("join")
        .expect("clean shutdown");
}
