//! `marketprism up`, `status`, `down` and their failure messages, run as a user runs them.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use marketprism_servers::{free_port, port_free};
use marketprism_testkit::NatsServer;

fn marketprism(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("marketprism runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A base port with the six ports above it free.
fn port_base() -> u16 {
    loop {
        let base = free_port().expect("port");
        if base < 60_000 && (base..base + 6).all(port_free) {
            return base;
        }
    }
}

fn assert_nothing_listens(base: u16) {
    for port in base..base + 6 {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers: something was left half-started"
        );
    }
}

#[test]
fn up_status_down_twice_on_a_clean_state_dir() {
    let state = tempfile::tempdir().expect("tempdir");
    for round in 1..=2 {
        // Fresh ports each round: a parallel test may have been handed a port the first
        // round released.
        let base = port_base().to_string();
        let up = marketprism(&["up", "--sim", "--port-base", &base], state.path());
        assert!(
            up.status.success(),
            "up (round {round}) failed:\n{}",
            text(&up)
        );
        let report = text(&up);
        assert!(report.contains("MarketPrism is up"), "{report}");
        assert!(report.contains("new trades"), "{report}");

        let again = marketprism(&["up", "--sim"], state.path());
        assert!(again.status.success(), "{}", text(&again));
        assert_eq!(
            text(&again).matches("already running").count(),
            10,
            "{}",
            text(&again)
        );

        let status = marketprism(&["status"], state.path());
        assert!(
            status.status.success(),
            "status (round {round}):\n{}",
            text(&status)
        );
        assert_eq!(
            text(&status).matches(" healthy ").count(),
            5,
            "{}",
            text(&status)
        );
        assert!(
            text(&status).contains("rows in trades"),
            "{}",
            text(&status)
        );

        let down = marketprism(&["down"], state.path());
        assert!(
            down.status.success(),
            "down (round {round}):\n{}",
            text(&down)
        );
        assert!(
            text(&down).contains("Waiting for storage to write everything in the stream ... done"),
            "{}",
            text(&down)
        );
        let stopped = marketprism(&["status"], state.path());
        assert!(!stopped.status.success());
        assert_nothing_listens(base.parse().expect("port"));
    }
}

#[test]
fn a_port_in_use_is_named_and_nothing_is_left_running() {
    let state = tempfile::tempdir().expect("tempdir");
    let base = port_base();
    // Occupy the storage port: NATS, ClickHouse and the simulator start first and must be
    // stopped again.
    let _occupied = TcpListener::bind(("127.0.0.1", base + 4)).expect("bind");
    let up = marketprism(
        &["up", "--sim", "--port-base", &base.to_string()],
        state.path(),
    );
    assert!(!up.status.success());
    let message = text(&up);
    assert!(message.contains("starting storage failed"), "{message}");
    assert!(
        message.contains(&format!("port {} is already in use", base + 4)),
        "{message}"
    );
    assert!(message.contains("fix:"), "{message}");
    for port in [base, base + 1, base + 3] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} left running:\n{message}"
        );
    }
}

#[test]
fn a_missing_server_binary_is_named_with_the_install_command() {
    let state = tempfile::tempdir().expect("tempdir");
    let up = marketprism(
        &["up", "--sim", "--nats-server", "/nonexistent/nats-server"],
        state.path(),
    );
    assert!(!up.status.success());
    let message = text(&up);
    assert!(message.contains("locating nats-server failed"), "{message}");
    assert!(
        message.contains("/nonexistent/nats-server does not exist"),
        "{message}"
    );
    assert!(message.contains("apt-get install nats-server"), "{message}");
}

#[test]
fn clickhouse_refusing_the_schema_is_reported_and_rolled_back() {
    let state = tempfile::tempdir().expect("tempdir");
    let base = port_base();
    let manifest = format!(
        "source = \"sim\"\nnats_server = \"/usr/sbin/nats-server\"\nclickhouse_server = \"/usr/sbin/clickhouse-server\"\n\
         database = \"no`such db\"\n\n[ports]\nnats = {}\nclickhouse_http = {}\nclickhouse_tcp = {}\nsim = {}\nstorage = {}\ncollector = {}\n",
        base,
        base + 1,
        base + 2,
        base + 3,
        base + 4,
        base + 5
    );
    std::fs::write(state.path().join("deployment.toml"), manifest).expect("write manifest");

    let up = marketprism(&["up"], state.path());
    assert!(!up.status.success());
    let message = text(&up);
    assert!(
        message.contains("applying the ClickHouse schema failed: ClickHouse refused the schema"),
        "{message}"
    );
    assert!(message.contains("fix:"), "{message}");
    assert_nothing_listens(base);
}

#[test]
fn nats_without_jetstream_is_named_with_the_fix() {
    let nats = NatsServer::start_without_jetstream().expect("nats-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("storage.toml");
    std::fs::write(&config, format!("[nats]\nurl = \"{}\"\n", nats.url())).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .args(["streams", "init", "--config"])
        .arg(&config)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let message = text(&output);
    assert!(
        message.contains("JetStream is not enabled on the NATS server"),
        "{message}"
    );
}
