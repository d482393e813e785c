//! `marketprism check-config` accepts the examples and names the file, place and key of errors.

use std::process::Command;

fn check(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .arg("check-config")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn accepts_the_examples() {
    let (ok, text) = check(&[
        "--collector",
        "examples/collector.toml",
        "--storage",
        "examples/storage.toml",
        "--backfill",
        "examples/backfill.toml",
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("valid collector configuration")
            && text.contains("valid storage configuration")
            && text.contains("valid backfill configuration"),
        "{text}"
    );
}

#[test]
fn names_the_file_line_and_key_of_a_typo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("collector.toml");
    std::fs::write(
        &path,
        "[[venues]]\nvenue = \"binance_spot\"\nsymbols = [\"BTC-USDT\"]\nchanels = [\"trades\"]\n",
    )
    .expect("write");
    let (ok, text) = check(&["--collector", path.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(
        text.contains("collector.toml") && text.contains("chanels") && text.contains("line 4"),
        "{text}"
    );
}

#[test]
fn reports_inconsistent_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("storage.toml");
    std::fs::write(
        &path,
        "[batch]\nmax_rows = 100000\n[consumer]\nmax_ack_pending = 10\n",
    )
    .expect("write");
    let (ok, text) = check(&["--storage", path.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(text.contains("max_ack_pending"), "{text}");
}

#[test]
fn rejects_malformed_endpoint_urls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = dir.path().join("collector.toml");
    std::fs::write(
        &collector,
        "[[venues]]\nvenue = \"binance_spot\"\nendpoint = \"ws//127.0.0.1:9443\"\nsymbols = [\"BTC-USDT\"]\nchannels = [\"trades\"]\n",
    )
    .expect("write");
    let (ok, text) = check(&["--collector", collector.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(text.contains("venues[0].endpoint"), "{text}");

    let storage = dir.path().join("storage.toml");
    std::fs::write(&storage, "[clickhouse]\nurl = \"localhost:8123\"\n").expect("write");
    let (ok, text) = check(&["--storage", storage.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(text.contains("clickhouse.url"), "{text}");
}

#[test]
fn config_show_names_where_each_value_came_from() {
    let output = Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .args([
            "config",
            "show",
            "storage",
            "--config",
            "examples/storage.toml",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env(
            "MARKETPRISM_CLICKHOUSE_URL",
            "http://clickhouse.internal:8123",
        )
        .env(
            "MARKETPRISM_NATS_URL",
            "nats://recorder:s3cret@nats.internal:4222",
        )
        .env("MARKETPRISM_STORAGE__BATCH__MAX_ROWS", "1234")
        // Variables of other tools and other services are not configuration of this one.
        .env("MARKETPRISM_NATS_SERVER", "/usr/sbin/nats-server")
        .env("MARKETPRISM_COLLECTOR__PUBLISH__LINGER", "9ms")
        .env_remove("MARKETPRISM_ENV")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |key: &str| {
        text.lines()
            .find(|line| line.starts_with(&format!("{key} = ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("clickhouse.url").contains("clickhouse.internal"),
        "{text}"
    );
    assert!(
        line("clickhouse.url").contains("MARKETPRISM_CLICKHOUSE_URL"),
        "{text}"
    );
    assert!(line("batch.max_rows").contains("1234"), "{text}");
    assert!(
        line("batch.max_rows").contains("MARKETPRISM_STORAGE__BATCH__MAX_ROWS"),
        "{text}"
    );
    assert!(
        line("batch.max_wait").ends_with("examples/storage.toml"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret") && line("nats.url").contains("****"),
        "{text}"
    );
}

/// The simulator, serving Binance's instrument list with BTCUSDT and ETHUSDT, until dropped.
struct Sim {
    child: std::process::Child,
    port: u16,
}

impl Sim {
    fn start() -> Self {
        let port = marketprism_servers::free_port().expect("port");
        let child = Command::new(env!("CARGO_BIN_EXE_marketprism"))
            .args(["sim", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--rate", "1", "--symbols", "BTCUSDT,ETHUSDT"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sim runs");
        let started = std::time::Instant::now();
        while !marketprism_servers::port_open(port) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the simulator did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Sim { child, port }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A collector configuration recording `symbols` of Binance spot from `rest_endpoint`.
fn collector_with(dir: &std::path::Path, rest_endpoint: &str, symbols: &str) -> String {
    let path = dir.join("collector.toml");
    std::fs::write(
        &path,
        format!(
            "[[venues]]\nvenue = \"binance_spot\"\nrest_endpoint = \"{rest_endpoint}\"\n\
             symbols = [{symbols}]\nchannels = [\"trades\"]\n"
        ),
    )
    .expect("write");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn symbols_the_venue_does_not_list_fail_the_check() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint = format!("http://127.0.0.1:{}", sim.port);

    let listed = collector_with(dir.path(), &endpoint, "\"BTC-USDT\", \"ETH-USDT\"");
    let (ok, text) = check(&["--collector", &listed, "--symbols"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("binance.spot: the venue lists every symbol"),
        "{text}"
    );

    let unlisted = collector_with(dir.path(), &endpoint, "\"BTC-USDT\", \"NOPE-USDT\"");
    let (ok, text) = check(&["--collector", &unlisted, "--symbols"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("binance.spot: the venue does not list NOPE-USDT"),
        "{text}"
    );
    assert!(!text.contains("does not list BTC-USDT"), "{text}");
    // Without `--symbols` nothing is asked of the venue.
    let (ok, text) = check(&["--collector", &unlisted]);
    assert!(ok, "{text}");
}

#[test]
fn a_venue_that_does_not_answer_leaves_the_symbols_unchecked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = marketprism_servers::free_port().expect("port");
    let path = collector_with(
        dir.path(),
        &format!("http://127.0.0.1:{closed}"),
        "\"NOPE-USDT\"",
    );
    let (ok, text) = check(&["--collector", &path, "--symbols"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("binance.spot: symbols not checked: "),
        "{text}"
    );
}
