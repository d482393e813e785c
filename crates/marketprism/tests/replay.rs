//! `marketprism replay` on real captures: events on stdout, typed errors, and an idempotent
//! backfill into JetStream.

use std::path::PathBuf;
use std::process::Command;

use marketprism_testkit::NatsServer;

fn capture(name: &str) -> PathBuf {
    marketprism_capture::captures_dir().join(name)
}

fn marketprism() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_marketprism"));
    command.env("RUST_BACKTRACE", "0");
    command
}

#[test]
fn prints_normalized_events_of_a_capture() {
    let output = marketprism()
        .arg("replay")
        .arg(capture("okx.20220513T1627Z.jsonl.gz"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
        .collect();
    let count = |kind: &str| events.iter().filter(|event| event["type"] == kind).count();
    assert_eq!(count("trade"), 16, "every trade of the capture");
    assert_eq!(count("orderbook"), 61, "one book per snapshot and update");
    assert_eq!(count("gap"), 0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("\"books_published\": 61"), "{stderr}");
}

#[test]
fn a_malformed_frame_is_reported_and_the_rest_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.jsonl");
    let good = r#"{"venue":"okx","kind":"ws","recv_ts":1.0,"conn":"c","url":"u","payload":"{\"arg\":{\"channel\":\"trades\",\"instId\":\"BTC-USDT\"},\"data\":[{\"instId\":\"BTC-USDT\",\"tradeId\":\"1\",\"px\":\"1\",\"sz\":\"1\",\"side\":\"buy\",\"ts\":\"1\"}]}"}"#;
    let bad = good.replace(r#"\"px\":\"1\""#, r#"\"px\":\"one\""#);
    std::fs::write(&path, format!("{bad}\n{good}\n")).expect("write");
    let output = marketprism()
        .arg("replay")
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("field px is not a decimal: \"one\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 records could not be replayed"),
        "{stderr}"
    );
}

#[test]
fn publishing_twice_stores_each_event_once() {
    let nats = NatsServer::start().expect("nats-server");
    let replay = || {
        let output = marketprism()
            .args(["replay", "--publish", "--nats-url", &nats.url()])
            .arg(capture("bybit.20260809T2126Z.jsonl.gz"))
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let first = replay();
    assert!(first.contains("published 570 events"), "{first}");
    let second = replay();
    assert!(second.contains("published 570 events"), "{second}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stored = runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("connect");
        let context = async_nats::jetstream::new(client);
        let mut stream = context.get_stream("MARKETPRISM").await.expect("stream");
        stream.info().await.expect("info").state.messages
    });
    assert_eq!(stored, 570, "the second run is deduplicated by Nats-Msg-Id");
}
