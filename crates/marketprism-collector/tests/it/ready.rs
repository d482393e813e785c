//! `/ready` and `/health` follow the data: a stalled NATS server or a silent feed makes the
//! collector not ready, saying why, and it is ready again once data flows.

use std::time::Duration;

use marketprism_testkit::endpoints::{health, ready_becomes};

use crate::{sim_config, start, Run};

/// The run's collector on a fixed port, and the base URL of its endpoint.
fn listening(run: &mut Run) -> String {
    let port = marketprism_servers::free_port().expect("port");
    run.config.listen = ([127, 0, 0, 1], port).into();
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_stalled_nats_server_makes_the_collector_not_ready_until_it_acknowledges() {
    let mut run = start(sim_config(200), "30s").await;
    let base = listening(&mut run);
    run.config.publish.ack_deadline = Duration::from_secs(2);
    let collector = run.spawn_collector();

    ready_becomes(&base, 200, &["ready"]).await;
    let healthy = health(&base).await;
    assert_eq!(healthy["service"], "collector");
    assert_eq!(healthy["status"], "healthy");
    assert_eq!(healthy["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(healthy["dependencies"]["nats"]["status"], "up");
    assert!(healthy.get("reason").is_none(), "{healthy}");

    // Trades keep arriving while JetStream stops answering.
    run.nats.pause().expect("pause nats-server");
    let (body, took) = ready_becomes(&base, 503, &["unacknowledged publish"]).await;
    eprintln!("NATS stopped: not ready after {took:?}: {body}");
    let unhealthy = health(&base).await;
    assert_eq!(unhealthy["status"], "unhealthy");
    assert_eq!(unhealthy["dependencies"]["nats"]["status"], "down");
    let reason = unhealthy["reason"].as_str().expect("a reason");
    assert!(reason.contains("publish.ack_deadline"), "{reason}");

    run.nats.resume().expect("resume nats-server");
    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("NATS resumed: ready after {took:?}");
    assert_eq!(health(&base).await["status"], "healthy");
    run.stop(collector).await;
}

#[tokio::test]
async fn a_feed_silent_past_its_watchdog_makes_the_collector_not_ready() {
    let mut run = start(sim_config(200), "1s").await;
    let base = listening(&mut run);
    // The silenced simulator swallows subscribe replies too; retry sooner than the default.
    run.config.connection.subscribe_timeout = Duration::from_secs(1);
    let collector = run.spawn_collector();
    ready_becomes(&base, 200, &["ready"]).await;

    reqwest::Client::new()
        .post(format!("http://{}/control/silence", run.sim_address))
        .json(&serde_json::json!({ "ms": 4_000 }))
        .send()
        .await
        .expect("silenced");
    let (body, took) = ready_becomes(&base, 503, &["0 of 1 venue connections subscribed"]).await;
    eprintln!("feed silenced: not ready after {took:?}: {body}");
    assert!(body.contains("connection.watchdog (1s)"), "{body}");

    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("feed resumed: ready after {took:?}");
    run.stop(collector).await;
}
