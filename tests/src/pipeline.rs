//! One MarketPrism pipeline (simulator → collector → JetStream → storage → ClickHouse) run
//! as separate processes of the `marketprism` binary, as in production.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use marketprism_servers::{free_port, log_tail, port_open, Service};
use marketprism_sim::Report;

use crate::services::Services;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Short name; also names the database, stream and consumer.
    pub name: String,
    /// (Binance symbol, normalized symbol) pairs the simulator trades.
    pub symbols: Vec<(String, String)>,
    /// Simulator trades per second.
    pub rate: u32,
    /// Trades to generate; `None` for endless.
    pub count: Option<u64>,
    /// Simulator seed.
    pub seed: u64,
    /// The collector's venues, all pointed at the simulator.
    pub venues: Vec<VenueSpec>,
    /// Whether the collector also publishes every applied book update (`books.deltas`).
    pub book_deltas: bool,
    /// The collector's `books.interval`, e.g. `0s` (every update) or `1s`.
    pub book_interval: &'static str,
    /// Order-book levels per side in the simulator.
    pub book_levels: u32,
}

/// One `[[venues]]` section of the collector configuration.
#[derive(Debug, Clone)]
pub struct VenueSpec {
    /// Venue kind, e.g. `binance_usdm`.
    pub venue: &'static str,
    /// Path of the venue's endpoint on the simulator, e.g. `/fapi`.
    pub path: &'static str,
    /// Configured symbols.
    pub symbols: Vec<String>,
    /// Channels, e.g. `trades`, `orderbook`.
    pub channels: Vec<&'static str>,
    /// Polled series: (data, interval, period).
    pub polls: Vec<(&'static str, &'static str, &'static str)>,
}

impl VenueSpec {
    /// Binance spot with the spec's normalized symbols.
    pub fn binance_spot(symbols: &[(String, String)], channels: Vec<&'static str>) -> Self {
        VenueSpec {
            venue: "binance_spot",
            path: "",
            symbols: symbols
                .iter()
                .map(|(_, normalized)| normalized.clone())
                .collect(),
            channels,
            polls: Vec::new(),
        }
    }

    /// The TOML section, pointed at the simulator on `sim_port`.
    fn toml(&self, sim_port: u16) -> String {
        let mut section = format!(
            "[[venues]]\nvenue = \"{venue}\"\nendpoint = \"ws://127.0.0.1:{sim_port}{path}\"\n\
             rest_endpoint = \"http://127.0.0.1:{sim_port}\"\nsymbols = [{symbols}]\nchannels = [{channels}]\n",
            venue = self.venue,
            path = self.path,
            symbols = toml_strings(&self.symbols),
            channels = toml_strings(&self.channels),
        );
        for (data, interval, period) in &self.polls {
            section.push_str(&format!(
                "[[venues.polls]]\ndata = \"{data}\"\ninterval = \"{interval}\"\nperiod = \"{period}\"\n"
            ));
        }
        section
    }
}

/// The items as the inside of a TOML array of strings.
fn toml_strings<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(|item| format!("\"{}\"", item.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A running pipeline.
pub struct Pipeline {
    binary: PathBuf,
    dir: PathBuf,
    storage_config: PathBuf,
    sim_port: u16,
    storage_port: u16,
    /// Client on the pipeline's database.
    pub clickhouse: clickhouse::Client,
    /// The pipeline's JetStream settings.
    pub nats_url: String,
    /// The pipeline's dead-letter stream.
    pub deadletter_stream: String,
    /// The pipeline's event stream.
    pub stream: String,
    /// The storage consumer's durable name.
    pub durable: String,
    sim: Service,
    storage: Option<Service>,
    collector: Service,
    http: reqwest::Client,
}

impl Pipeline {
    /// Writes the configuration, initializes schema and streams (twice, to prove both are
    /// idempotent), and starts simulator, storage and collector, waiting until they are ready.
    pub async fn start(
        binary: &Path,
        services: &Services,
        spec: &Spec,
        dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let sim_port = free_port()?;
        let storage_port = free_port()?;
        let collector_port = free_port()?;
        let database = format!("marketprism_{}", spec.name);
        let stream = format!("MARKETPRISM_{}", spec.name.to_ascii_uppercase());
        let deadletter_stream = format!("{stream}_DEADLETTER");

        let storage_config = dir.join("storage.toml");
        std::fs::write(
            &storage_config,
            format!(
                r#"listen = "127.0.0.1:{storage_port}"

[nats]
url = "{nats}"

[nats.stream]
name = "{stream}"
deadletter_name = "{deadletter_stream}"

[clickhouse]
url = "{clickhouse}"
database = "{database}"

[consumer]
durable_name = "storage-{name}"
# Short, so that a killed storage's unacked batch is redelivered quickly.
ack_wait = "5s"
retry_delay = "500ms"
"#,
                nats = services.nats_url,
                clickhouse = services.clickhouse_url,
                name = spec.name,
            ),
        )?;
        let venues: Vec<String> = spec
            .venues
            .iter()
            .map(|venue| venue.toml(sim_port))
            .collect();
        let collector_config = dir.join("collector.toml");
        std::fs::write(
            &collector_config,
            format!(
                r#"listen = "127.0.0.1:{collector_port}"

[nats]
url = "{nats}"

[nats.stream]
name = "{stream}"
deadletter_name = "{deadletter_stream}"

[connection]
backoff_initial = "200ms"
backoff_max = "2s"
watchdog = "10s"

[books]
deltas = {deltas}
interval = "{interval}"

{venues}"#,
                nats = services.nats_url,
                deltas = spec.book_deltas,
                interval = spec.book_interval,
                venues = venues.join("\n"),
            ),
        )?;

        for _ in 0..2 {
            run_tool(
                binary,
                dir,
                "migrate",
                &["migrate", "--config"],
                &storage_config,
            )?;
            run_tool(
                binary,
                dir,
                "streams-init",
                &["streams", "init", "--config"],
                &storage_config,
            )?;
        }

        let mut sim = Command::new(binary);
        sim.args([
            "sim",
            "--listen",
            &format!("127.0.0.1:{sim_port}"),
            "--seed",
            &spec.seed.to_string(),
        ])
        .args(["--rate", &spec.rate.to_string(), "--ping-interval", "2"])
        .args(["--book-levels", &spec.book_levels.to_string()])
        .arg("--symbols")
        .arg(
            spec.symbols
                .iter()
                .map(|(native, _)| native.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        if let Some(count) = spec.count {
            sim.args(["--count", &count.to_string()]);
        }
        let sim = Service::spawn("sim", sim, &dir.join("sim.log"))?;
        // The collector's first connection must find the simulator listening; a refused
        // connection would (rightly) be recorded as a gap.
        wait_for_port(sim_port, &dir.join("sim.log")).await?;
        let storage = start_service(binary, "store", &storage_config, dir)?;
        let mut collector_command = Command::new(binary);
        collector_command
            .arg("collect")
            .arg("--config")
            .arg(&collector_config);
        let collector = Service::spawn("collector", collector_command, &dir.join("collector.log"))?;

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let clickhouse = clickhouse::Client::default()
            .with_url(&services.clickhouse_url)
            .with_database(&database)
            .with_validation(false);
        // Read back with the row types checked against the tables wherever the server can.
        let version = marketprism_storage::server_version(&clickhouse).await?;
        let clickhouse = marketprism_storage::validating(
            clickhouse,
            marketprism_schema::Dialect::for_version(&version)?,
        );
        let pipeline = Pipeline {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            storage_config,
            sim_port,
            storage_port,
            clickhouse,
            nats_url: services.nats_url.clone(),
            deadletter_stream,
            durable: format!("storage-{}", spec.name),
            stream,
            sim,
            storage: Some(storage),
            collector,
            http,
        };
        pipeline.wait_ready("storage", storage_port).await?;
        pipeline.wait_ready("collector", collector_port).await?;
        Ok(pipeline)
    }

    async fn wait_ready(&self, name: &str, port: u16) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = self
                .http
                .get(format!("http://127.0.0.1:{port}/ready"))
                .send()
                .await
            {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "{name} not ready after 30 s; log:\n{}",
            log_tail(&self.dir.join(format!("{name}.log")), 20)
        )
    }

    /// A successful answer to `GET http://127.0.0.1:{port}{path}`.
    async fn get(&self, port: u16, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("http://127.0.0.1:{port}{path}");
        Ok(self.http.get(url).send().await?.error_for_status()?)
    }

    /// The simulator's report.
    pub async fn sim_report(&self) -> anyhow::Result<Report> {
        Ok(self
            .get(self.sim_port, "/control/report")
            .await?
            .json()
            .await?)
    }

    /// Process ids of the simulator, the collector and (while it runs) storage.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        let mut pids = vec![("sim", self.sim.pid()), ("collector", self.collector.pid())];
        pids.extend(
            self.storage
                .as_ref()
                .map(|storage| ("storage", storage.pid())),
        );
        pids
    }

    /// The storage service's Prometheus metrics text.
    pub async fn storage_metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .get(self.storage_port, "/metrics")
            .await?
            .text()
            .await?)
    }

    /// Messages the storage consumer has not been delivered yet plus those awaiting its ack.
    pub async fn consumer_lag(&self) -> anyhow::Result<u64> {
        let client = async_nats::connect(&self.nats_url).await?;
        let context = async_nats::jetstream::new(client);
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = context
            .get_consumer_from_stream(&self.durable, &self.stream)
            .await?;
        let info = consumer.info().await?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }

    /// The simulator's counts.
    pub async fn sim_summary(&self) -> anyhow::Result<marketprism_sim::Summary> {
        Ok(self
            .get(self.sim_port, "/control/summary")
            .await?
            .json()
            .await?)
    }

    /// Has the simulator drop every connection.
    pub async fn drop_connections(&self) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/control/disconnect", self.sim_port);
        self.http.post(url).send().await?.error_for_status()?;
        Ok(())
    }

    /// Queues a book fault in the simulator for `symbol` (Binance form).
    pub async fn inject_book_fault(
        &self,
        kind: marketprism_sim::BookFault,
        symbol: &str,
    ) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/control/book-fault", self.sim_port);
        self.http
            .post(url)
            .json(&serde_json::json!({ "kind": kind, "symbol": symbol }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The simulator's true book of `symbol` (Binance form) right after `update_id` (after
    /// event `update_id` with `by_event`, Bybit's numbering).
    pub async fn true_book(
        &self,
        symbol: &str,
        update_id: u64,
        by_event: bool,
        limit: usize,
    ) -> anyhow::Result<Option<marketprism_sim::TrueBook>> {
        let by = if by_event { "&by=event" } else { "" };
        let url = format!(
            "http://127.0.0.1:{}/control/book?symbol={symbol}&update_id={update_id}&limit={limit}{by}",
            self.sim_port
        );
        let response = self.http.get(url).send().await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(response.error_for_status()?.json().await?))
    }

    /// Stops the collector with SIGTERM (it drains its acks); true if it exited 0.
    pub fn stop_collector(&mut self) -> anyhow::Result<bool> {
        Ok(self.collector.terminate(Duration::from_secs(20))?.success())
    }

    /// `SELECT count() FROM <from>`: `trades FINAL` counts distinct rows, `trades` also the
    /// copies a merge has not yet collapsed.
    pub async fn count(&self, from: &str) -> anyhow::Result<u64> {
        Ok(self
            .clickhouse
            .query(&format!("SELECT count() FROM {from}"))
            .fetch_one()
            .await?)
    }

    /// Polls `SELECT count() FROM <table> FINAL` until it stays the same for two seconds.
    pub async fn wait_until_settled(&self, table: &str) -> anyhow::Result<u64> {
        let mut rows = Settling::default();
        loop {
            let count = self.count(&format!("{table} FINAL")).await?;
            if rows.settled(count, Duration::from_secs(2)) {
                return Ok(count);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills storage with SIGKILL, as a crash or OOM kill would.
    pub fn kill_storage(&mut self) -> anyhow::Result<()> {
        if let Some(mut storage) = self.storage.take() {
            storage.kill().context("killing storage")?;
        }
        Ok(())
    }

    /// Starts storage again with the same configuration and durable consumer.
    pub async fn restart_storage(&mut self) -> anyhow::Result<()> {
        self.storage = Some(start_service(
            &self.binary,
            "store",
            &self.storage_config,
            &self.dir,
        )?);
        self.wait_ready("storage", self.storage_port).await
    }

    /// Polls `SELECT count() FROM trades FINAL` until it reaches `expected` or `timeout`
    /// passes; returns the last count and when it was read.
    pub async fn wait_for_trades(
        &self,
        expected: u64,
        timeout: Duration,
    ) -> anyhow::Result<(u64, Instant)> {
        let started = Instant::now();
        loop {
            let count = self.count("trades FINAL").await?;
            if count >= expected || started.elapsed() > timeout {
                return Ok((count, Instant::now()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops collector, storage and simulator with SIGTERM; true if the collector and
    /// storage drained and exited successfully.
    pub fn stop(mut self) -> anyhow::Result<bool> {
        let grace = Duration::from_secs(20);
        let collector = self.collector.terminate(grace)?;
        let storage = match self.storage.as_mut() {
            Some(storage) => storage.terminate(grace)?.success(),
            None => false,
        };
        self.sim.terminate(grace)?;
        Ok(collector.success() && storage)
    }
}

/// Watches a count read again and again, to tell when it stops changing.
#[derive(Debug, Default)]
pub struct Settling {
    last: u64,
    changed: Option<Instant>,
}

impl Settling {
    /// Records `count`; true once it has not changed for `after`.
    pub fn settled(&mut self, count: u64, after: Duration) -> bool {
        let now = Instant::now();
        match self.changed {
            Some(changed) if count == self.last => now.duration_since(changed) > after,
            _ => {
                self.last = count;
                self.changed = Some(now);
                false
            }
        }
    }
}

/// Waits until something accepts TCP connections on `port` (up to 30 s).
async fn wait_for_port(port: u16, log: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if port_open(port) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "nothing listens on port {port} after 30 s; log:\n{}",
        log_tail(log, 20)
    )
}

fn start_service(
    binary: &Path,
    subcommand: &str,
    config: &Path,
    dir: &Path,
) -> anyhow::Result<Service> {
    let name = if subcommand == "store" {
        "storage"
    } else {
        subcommand
    };
    let mut command = Command::new(binary);
    command.arg(subcommand).arg("--config").arg(config);
    Ok(Service::spawn(
        name,
        command,
        &dir.join(format!("{name}.log")),
    )?)
}

fn run_tool(
    binary: &Path,
    dir: &Path,
    name: &str,
    args: &[&str],
    config: &Path,
) -> anyhow::Result<()> {
    let log = dir.join(format!("{name}.log"));
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let status = Command::new(binary)
        .args(args)
        .arg(config)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .status()
        .with_context(|| format!("running marketprism {name}"))?;
    if !status.success() {
        bail!(
            "marketprism {name} failed ({status}); log:\n{}",
            log_tail(&log, 20)
        );
    }
    Ok(())
}
