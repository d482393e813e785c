//! `/ready` and `/health` follow the commits and the disks: a frozen ClickHouse or a disk
//! short of space makes storage not ready, saying why, and it is ready again once rows
//! commit and space is freed.

use std::time::Duration;

use bytesize::ByteSize;
use marketprism_telemetry::disk::DiskWatch;
use marketprism_testkit::endpoints::{health, ready_becomes};
use marketprism_testkit::Tmpfs;

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

/// A watched directory whose filesystem runs short of space makes storage not ready, naming
/// the directory and the fix, before anything fails; freeing the space makes it ready again.
#[tokio::test]
async fn a_disk_short_of_space_makes_storage_not_ready_until_space_is_freed() {
    let Some(tmpfs) = Tmpfs::mount_or_explain(8 * 1024 * 1024, "the disk-threshold test") else {
        return;
    };
    let harness = Harness::start("disk_test");
    let context = setup(&harness).await;
    let mut config = harness.config.clone();
    let port = marketprism_servers::free_port().expect("port");
    config.listen = ([127, 0, 0, 1], port).into();
    config.disks = vec![DiskWatch {
        name: "the JetStream store".into(),
        path: tmpfs.path().to_owned(),
        min_free: ByteSize::mib(4),
        fix: Some("lower the stream's max_bytes".into()),
    }];
    let base = format!("http://127.0.0.1:{port}");
    let shutdown = CancellationToken::new();
    let storage = tokio::spawn(marketprism_storage::run(config, shutdown.clone()));
    publish(&context, &trade(1, "100")).await;
    let client = harness.client();
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 1).await,
        1
    );
    ready_becomes(&base, 200, &["ready"]).await;

    let filler = tmpfs.fill().expect("fill the tmpfs");
    let mount = tmpfs.path().display().to_string();
    let (body, took) = ready_becomes(
        &base,
        503,
        &[
            "the JetStream store",
            &mount,
            "below its threshold",
            "max_bytes",
        ],
    )
    .await;
    eprintln!("disk filled: not ready after {took:?}: {body}");

    std::fs::remove_file(filler).expect("free the space");
    let (_, took) = ready_becomes(&base, 200, &["ready"]).await;
    eprintln!("space freed: ready after {took:?}");
    publish(&context, &trade(2, "100")).await;
    assert_eq!(
        eventually(&client, "SELECT count() FROM trades FINAL", 2).await,
        2
    );
    shutdown.cancel();
    storage.await.expect("join").expect("clean shutdown");
}
