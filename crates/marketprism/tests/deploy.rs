//! `marketprism up`, `status`, `down` and their failure messages, run as a user runs them.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{marketprism, text};
use marketprism_servers::{free_port_block, read_pid};
use marketprism_testkit::NatsServer;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Ports a deployment uses from its base.
const PORTS: u16 = marketprism_deploy::Ports::COUNT;

/// A base port with the ports above it free, which no other test is handed.
fn port_base() -> u16 {
    free_port_block(PORTS).expect("free ports")
}

fn assert_nothing_listens(base: u16) {
    for port in base..base + PORTS {
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
            16,
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
            8,
            "{}",
            text(&status)
        );
        assert!(
            text(&status).contains("rows in trades"),
            "{}",
            text(&status)
        );
        assert!(
            text(&status).contains("gap messages waiting") && text(&status).contains("gaps: "),
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
fn a_cluster_shows_every_node_reads_through_a_lost_one_and_restarts_only_it() {
    let state = tempfile::tempdir().expect("tempdir");
    let base = free_port_block(marketprism_deploy::CLUSTER_PORTS).expect("free ports");
    let up = marketprism(
        &["up", "--sim", "--cluster", "--port-base", &base.to_string()],
        state.path(),
    );
    assert!(up.status.success(), "up --cluster failed:\n{}", text(&up));
    let report = text(&up);
    let nodes = [
        "nats-1",
        "nats-2",
        "nats-3",
        "zookeeper",
        "clickhouse-1-1",
        "clickhouse-1-2",
        "clickhouse-2-1",
        "clickhouse-2-2",
        "storage-1",
        "storage-2",
        "collector-1",
        "collector-2",
    ];
    for node in nodes {
        assert!(
            report.contains(&format!("Starting {node} ... started")),
            "{node}:\n{report}"
        );
    }
    assert!(report.contains("new trades"), "{report}");

    let status = marketprism(&["status"], state.path());
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    // The nodes, the simulator, the backfill, the gateway and Prometheus.
    assert_eq!(
        shown.matches(" healthy ").count(),
        nodes.len() + 4,
        "{shown}"
    );
    assert!(shown.contains("stream replicas: leader nats-"), "{shown}");
    // Under load a follower may be an operation or two behind at any instant; both catch up.
    let mut followers = shown;
    for _ in 0..30 {
        if followers.matches(" current").count() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
        followers = text(&marketprism(&["status"], state.path()));
    }
    assert_eq!(followers.matches(" current").count(), 2, "{followers}");

    // Lose the node every client names first: status says so and still reads the data
    // through another node.
    let lost = read_pid(&state.path().join("run/clickhouse-1-1.pid")).expect("pid");
    kill(
        Pid::from_raw(i32::try_from(lost).expect("pid")),
        Signal::SIGKILL,
    )
    .expect("kill");
    let status = marketprism(&["status"], state.path());
    let shown = text(&status);
    assert!(!status.status.success(), "{shown}");
    assert!(shown.contains("clickhouse-1-1: not running"), "{shown}");
    let trades: u64 = shown
        .lines()
        .find_map(|line| line.strip_prefix("rows in trades: "))
        .and_then(|rows| rows.trim().parse().ok())
        .unwrap_or_else(|| panic!("no trade count:\n{shown}"));
    assert!(trades > 0, "{shown}");

    let again = marketprism(&["up"], state.path());
    let report = text(&again);
    assert!(again.status.success(), "{report}");
    assert!(
        report.contains("Starting clickhouse-1-1 ... started"),
        "{report}"
    );
    assert_eq!(
        report.matches("... already running").count(),
        nodes.len() + 3,
        "{report}"
    );

    let logs = marketprism(&["logs", "nats", "-n", "1"], state.path());
    assert!(logs.status.success(), "{}", text(&logs));
    assert_eq!(
        text(&logs).matches("==> nats-").count(),
        3,
        "{}",
        text(&logs)
    );

    let down = marketprism(&["down"], state.path());
    assert!(down.status.success(), "{}", text(&down));
    for port in base..base + marketprism_deploy::CLUSTER_PORTS {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still answers after down"
        );
    }
}

#[test]
fn a_port_in_use_is_named_and_nothing_is_left_running() {
    let state = tempfile::tempdir().expect("tempdir");
    // Occupy the storage port: NATS, ClickHouse and the simulator start first and must be
    // stopped again. A port found free can be taken before it is bound here, so another
    // block is tried then.
    let (base, _occupied) = (0..16)
        .find_map(|_| {
            let base = port_base();
            let listener = TcpListener::bind(("127.0.0.1", base + 4)).ok()?;
            Some((base, listener))
        })
        .expect("a free port block whose storage port can be bound");
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
         database = \"no`such db\"\n\n[ports]\nnats = {}\nclickhouse_http = {}\nclickhouse_tcp = {}\nsim = {}\nstorage = {}\ncollector = {}\nnats_monitoring = {}\n",
        base,
        base + 1,
        base + 2,
        base + 3,
        base + 4,
        base + 5,
        base + 6
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

/// `marketprism status` on `state`, killed and failed if it has not ended within a minute.
fn status_within_a_minute(state: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .arg("status")
        .arg("--state-dir")
        .arg(state)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("marketprism runs");
    let started = Instant::now();
    while child.try_wait().expect("waits").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let output = child.wait_with_output().expect("killed");
            panic!("status hung for a minute:\n{}", text(&output));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().expect("output")
}

/// Runs `marketprism status` on `state` until `holds` says so of its output, failing after a
/// minute with `what` and the last output.
fn wait_for_status(state: &Path, what: &str, holds: impl Fn(&Output) -> bool) {
    let started = Instant::now();
    loop {
        let status = status_within_a_minute(state);
        if holds(&status) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not {what} within a minute:\n{}",
            text(&status)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until `marketprism status` on `state` succeeds: every service ready; `when` says
/// after what, for the failure message.
fn wait_until_status_succeeds(state: &Path, when: &str) {
    wait_for_status(state, &format!("ready {when}"), |status| {
        status.status.success()
    });
}

/// A deployment, stopped with `down` if the test fails, so that it leaves nothing running.
struct Deployed<'a>(&'a Path);

impl Drop for Deployed<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = marketprism(&["down"], self.0);
        }
    }
}

/// `up --sim` on fresh ports in `state`, which must succeed: the port base, and the
/// deployment stopped if the test fails.
fn deployed_with_the_simulator(state: &Path) -> (u16, Deployed<'_>) {
    let base = port_base();
    let up = marketprism(&["up", "--sim", "--port-base", &base.to_string()], state);
    assert!(up.status.success(), "up failed:\n{}", text(&up));
    (base, Deployed(state))
}

/// A deployment's process frozen with SIGSTOP, continued when dropped.
struct Frozen(Pid);

impl Frozen {
    fn new(state: &Path, service: &str) -> Self {
        let pid = read_pid(&state.join("run").join(format!("{service}.pid"))).expect("pid file");
        let pid = Pid::from_raw(i32::try_from(pid).expect("pid in range"));
        kill(pid, Signal::SIGSTOP).expect("stops");
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

#[test]
fn status_names_a_frozen_server_as_timed_out_and_fails() {
    let state = tempfile::tempdir().expect("tempdir");
    let (base, deployed) = deployed_with_the_simulator(state.path());

    for service in ["clickhouse", "nats", "sim"] {
        let frozen = Frozen::new(state.path(), service);
        let status = status_within_a_minute(state.path());
        let message = text(&status);
        assert!(!status.status.success(), "{service} frozen:\n{message}");
        assert!(
            message.contains(&format!("Error: {service}: timed out after 3 s answering")),
            "{service} frozen:\n{message}"
        );
        assert!(
            !message.contains(&format!("{service:<10} healthy")),
            "{service} frozen:\n{message}"
        );
        assert!(
            message.contains("the process is stopped by a signal"),
            "{service} frozen:\n{message}"
        );
        drop(frozen);
    }

    // Continued, every service is ready again once the clients have reconnected.
    wait_until_status_succeeds(state.path(), "after continuing");
    drop(deployed);
    let down = marketprism(&["down"], state.path());
    assert!(down.status.success(), "down:\n{}", text(&down));
    assert_nothing_listens(base);
}

#[test]
fn a_server_that_cannot_run_is_named_by_its_path() {
    let state = tempfile::tempdir().expect("tempdir");
    let base = port_base();
    let server = state.path().join("clickhouse-server");
    std::fs::write(&server, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&server, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let up = marketprism(
        &[
            "up",
            "--sim",
            "--port-base",
            &base.to_string(),
            "--clickhouse-server",
            &server.display().to_string(),
        ],
        state.path(),
    );
    assert!(!up.status.success());
    let message = text(&up);
    assert!(
        message.contains(&format!(
            "starting clickhouse failed: cannot run {}: Permission denied (os error 13)",
            server.display()
        )),
        "{message}"
    );
    assert!(message.contains("chmod +x"), "{message}");
    assert_nothing_listens(base);
}

/// `up` restarts a killed service while the source is paused: no new row can show that data
/// flows, and `up` says the source is quiet instead of stopping what it restarted.
#[test]
fn up_restarts_what_is_down_while_the_source_is_quiet() {
    let state = tempfile::tempdir().expect("tempdir");
    let (base, deployed) = deployed_with_the_simulator(state.path());

    let paused = Frozen::new(state.path(), "sim");
    // Everything the collector published is stored before storage dies, so that the
    // restarted storage has nothing left to write.
    wait_for_status(state.path(), "storage caught up", |status| {
        text(status).contains("storage consumer lag: 0 messages pending, 0 awaiting ack")
    });
    let storage = read_pid(&state.path().join("run").join("storage.pid")).expect("pid file");
    kill(
        Pid::from_raw(i32::try_from(storage).expect("pid in range")),
        Signal::SIGKILL,
    )
    .expect("storage killed");
    let again = marketprism(&["up", "--verify-timeout", "5"], state.path());
    let report = text(&again);
    assert!(again.status.success(), "{report}");
    assert!(report.contains("the source is quiet"), "{report}");
    assert!(
        report.contains("sim is running but not ready (timed out"),
        "{report}"
    );
    let storage_line = report
        .lines()
        .find(|line| line.trim_start().starts_with("storage "))
        .unwrap_or_default();
    assert!(storage_line.contains("started"), "{report}");
    let restarted = read_pid(&state.path().join("run").join("storage.pid")).expect("pid file");
    assert_ne!(restarted, storage);
    assert!(
        marketprism_servers::is_alive(restarted, "store"),
        "storage left running:\n{report}"
    );

    // The source continues: rows flow again without another `up`.
    drop(paused);
    wait_until_status_succeeds(state.path(), "after the source continued");
    drop(deployed);
    let down = marketprism(&["down"], state.path());
    assert!(down.status.success(), "down:\n{}", text(&down));
    assert_nothing_listens(base);
}

/// The file mode bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

/// A NATS client signing in with the nkey seed in `seed_file`, and the errors the server
/// sends it (permissions violations among them).
async fn nats_as(
    url: &str,
    seed_file: &Path,
) -> (
    async_nats::Client,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let seed = std::fs::read_to_string(seed_file).expect("seed");
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client = async_nats::ConnectOptions::new()
        .nkey(seed.trim().to_owned())
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let async_nats::Event::ServerError(error) = event {
                    seen.lock().expect("errors").push(error.to_string());
                }
            }
        })
        .connect(url)
        .await
        .expect("admitted with its nkey");
    (client, errors)
}

/// `up` deploys with authentication on: NATS and ClickHouse refuse a client without
/// credentials, the credentials are readable by their owner alone, and each identity may do
/// its job and nothing beyond it.
#[test]
fn strangers_are_refused_and_each_service_is_confined_to_its_job() {
    let state = tempfile::tempdir().expect("tempdir");
    let (base, deployed) = deployed_with_the_simulator(state.path());

    let secrets = state.path().join("secrets");
    assert_eq!(mode(&secrets), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&secrets).expect("secrets") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert_eq!(files, 9, "6 nkeys and 3 ClickHouse passwords");
    let nats_config =
        std::fs::read_to_string(state.path().join("config/nats.conf")).expect("nats.conf");
    assert!(!nats_config.contains("\"SU"), "a seed in nats.conf");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let url = format!("nats://127.0.0.1:{base}");
        let stranger = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(&url)
            .await;
        assert!(
            stranger.is_err(),
            "NATS admitted a client without credentials"
        );

        // What each identity may not publish: another's dead letters, trades (a forged trade
        // would replace a real one in ClickHouse), books, stream management.
        for (identity, subject) in [
            (
                "collector",
                "deadletter.storage.trade.binance.spot.BTC-USDT",
            ),
            ("collector", "$JS.API.STREAM.DELETE.MARKETPRISM"),
            ("storage", "trade.binance.spot.BTC-USDT"),
            (
                "storage",
                "$JS.API.CONSUMER.MSG.NEXT.MARKETPRISM.marketprism-backfill",
            ),
            ("backfill", "orderbook.binance.spot.BTC-USDT"),
            ("reader", "trade.binance.spot.BTC-USDT"),
            (
                "reader",
                "$JS.API.CONSUMER.DELETE.MARKETPRISM.marketprism-storage",
            ),
            ("gateway", "trade.binance.spot.BTC-USDT"),
            (
                "gateway",
                "$JS.API.CONSUMER.DELETE.MARKETPRISM.marketprism-storage",
            ),
        ] {
            let (client, errors) = nats_as(&url, &secrets.join(format!("{identity}.nkey"))).await;
            client
                .publish(subject, "forged".into())
                .await
                .expect("sent");
            client.flush().await.expect("flushed");
            let started = Instant::now();
            loop {
                let seen = errors.lock().expect("errors").clone();
                if seen.iter().any(|error| error.contains(subject)) {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{identity} published to {subject} unrefused; server errors: {seen:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        // What they may: the reader reads the storage consumer's state, the collector its
        // bucket; neither gets an error.
        let (reader, errors) = nats_as(&url, &secrets.join("reader.nkey")).await;
        let stream = async_nats::jetstream::new(reader)
            .get_stream("MARKETPRISM")
            .await
            .expect("the reader reads the stream");
        stream
            .consumer_info("marketprism-storage")
            .await
            .expect("the reader reads the storage consumer");
        assert!(errors.lock().expect("errors").is_empty());
        let (collector, errors) = nats_as(&url, &secrets.join("collector.nkey")).await;
        async_nats::jetstream::new(collector)
            .get_key_value("marketprism_feed_state")
            .await
            .expect("the collector opens its bucket");
        assert!(errors.lock().expect("errors").is_empty());

        let clickhouse = format!("http://127.0.0.1:{}/", base + 1);
        let as_user = |user: &'static str, identity: &str| {
            Some((
                user,
                secrets.join(format!("{identity}.clickhouse-password")),
            ))
        };
        let reader = as_user("marketprism_reader", "reader");
        let storage = as_user("marketprism_storage", "storage");
        let (status, body) = clickhouse_as(&clickhouse, None, "SELECT 1").await;
        assert_ne!(status, 200, "ClickHouse answered a stranger: {body}");
        let (status, body) = clickhouse_as(
            &clickhouse,
            reader.clone(),
            "SELECT count() FROM marketprism.trades",
        )
        .await;
        assert_eq!(status, 200, "the reader cannot read: {body}");
        let (status, body) = clickhouse_as(
            &clickhouse,
            reader,
            "INSERT INTO marketprism.trades SELECT * FROM marketprism.trades LIMIT 1",
        )
        .await;
        assert_ne!(status, 200, "the reader wrote");
        assert!(body.contains("readonly"), "{body}");
        let (status, body) = clickhouse_as(
            &clickhouse,
            storage.clone(),
            "SELECT count() FROM marketprism.gaps",
        )
        .await;
        assert_eq!(status, 200, "storage cannot read its tables: {body}");
        let (status, body) = clickhouse_as(&clickhouse, storage, "CREATE DATABASE elsewhere").await;
        assert_ne!(
            status, 200,
            "storage created a database outside its own: {body}"
        );
    });

    drop(deployed);
    let down = marketprism(&["down"], state.path());
    assert!(down.status.success(), "down:\n{}", text(&down));
}

/// Runs `sql` on ClickHouse's HTTP interface at `url`, as `credentials` (a user and the file
/// holding its password) or without any; the status and the body.
async fn clickhouse_as(
    url: &str,
    credentials: Option<(&str, std::path::PathBuf)>,
    sql: &str,
) -> (u16, String) {
    let mut request = reqwest::Client::new().post(url).body(sql.to_owned());
    if let Some((user, password_file)) = credentials {
        let password = std::fs::read_to_string(password_file).expect("password");
        request = request.basic_auth(user, Some(password.trim()));
    }
    let response = request.send().await.expect("ClickHouse answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}
