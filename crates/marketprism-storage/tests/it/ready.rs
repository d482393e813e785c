//! `/ready` and `/health` follow the commits: a frozen ClickHouse makes storage not ready,
//! saying why, and it is ready again once rows commit.

use std::time::Duration;

use marketprism_testkit::endpoints::{health, ready_becomes};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio_util::sync::CancellationToken;

use crate::{eventually, publish, setup, trade, Harness};

#[tokio::test]
async fn a_frozen_clickhouse_makes_storage_not_ready_until_rows_commit() {
    let harness = Harness::start("ready_test");
    let context = setup(&harness).await;
    let mut config = harness.impatient_config();
    let port = marketprism_servers::free_port().expect("port");
    config.listen = ([127, 0, 0, 1], port).into();
    config.consumer.commit_deadline = Duration::from_secs(3);
    let base = format!("http://127.0.0.1:{port}");
    let clickhouse = Pid::from_raw(i32::try_from(harness.clickhouse.pid()).expect("pid"));
    let shutdown = CancellationToken::new();
    let storage = tokio::spawn(marketprism_storage::run(config, shutdown.clone()));
    publish(&context, &trade(1, "100")).await;
    let client = harness.client();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 1).await,
        1
    );
    ready_becomes(&base, 200, &["ready"]).await;
    let healthy = health(&base).await;
    assert_eq!(healthy["service"], "storage");
    assert_eq!(healthy["status"], "healthy");
    assert_eq!(healthy["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(healthy["dependencies"]["nats"]["status"], "up");
    assert!(healthy.get("reason").is_none(), "{healthy}");

    kill(clickhouse, Signal::SIGSTOP).expect("stop ClickHouse");
    for id in 2..=20 {
        publish(&context, &trade(id, "100")).await;
    }
    let (body, took) = ready_becomes(&base, 503, &["no commit", "ClickHouse"]).await;
    eprintln!("ClickHouse stopped: not ready after {took:?}: {body}");
    let unhealthy = health(&base).await;
    assert_eq!(unhealthy["status"], "unhealthy");
    assert_eq!(unhealthy["dependencies"]["clickhouse"]["status"], "down");
    assert_eq!(unhealthy["dependencies"]["nats"]["status"], "up");
    let reason = unhealthy["reason"].as_str().expect("a reason");
    assert!(reason.contains("consumer.commit_deadline"), "{reason}");

    kill(clickhouse, Signal::SIGCONT).expect("resume ClickHouse");
    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("ClickHouse resumed: ready after {took:?}");
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 20).await,
        20
    );
    let recovered = health(&base).await;
    assert_eq!(recovered["status"], "healthy");
    assert_eq!(recovered["dependencies"]["clickhouse"]["status"], "up");
    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
}
