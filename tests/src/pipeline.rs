//! One MarketPrism pipeline (simulator → collector → JetStream → storage → ClickHouse) run
//! as separate processes of the `marketprism` binary, as in production.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_collector::BooksConfig;
use marketprism_schema::Table;
use marketprism_servers::Service;
use marketprism_sim::Report;
use marketprism_storage::{StoredRow, TradeRow};

use crate::runner::{Names, Runner, VenueSpec};
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
    /// The collector's `books.interval`: zero publishes every update.
    pub book_interval: Duration,
    /// Order-book levels per side in the simulator.
    pub book_levels: u32,
}

/// A running pipeline.
pub struct Pipeline {
    runner: Runner,
    /// Client on the pipeline's database.
    pub clickhouse: clickhouse::Client,
    sim: Service,
    storage: Option<Service>,
    collector: Service,
    backfill: Option<Service>,
    venues: Vec<VenueSpec>,
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
        let names = Names::new(
            format!("marketprism_{}", spec.name),
            format!("MARKETPRISM_{}", spec.name.to_ascii_uppercase()),
            format!("storage-{}", spec.name),
        );
        let runner = Runner::new(binary, services, dir, names)?;
        let mut storage = runner.storage_config();
        // Short, so that a killed storage's unacked batch is redelivered quickly.
        storage.consumer.ack_wait = Duration::from_secs(5);
        storage.consumer.retry_delay = Duration::from_millis(500);
        let venues = spec
            .venues
            .iter()
            .map(|venue| venue.config(runner.ports.sim))
            .collect::<anyhow::Result<_>>()?;
        let books = BooksConfig {
            deltas: spec.book_deltas,
            interval: spec.book_interval,
            ..BooksConfig::default()
        };
        runner.write_storage_config(&storage)?;
        runner.write_collector_config(&runner.collector_config(books, venues))?;
        for _ in 0..2 {
            runner.init()?;
        }

        let symbols: Vec<&str> = spec
            .symbols
            .iter()
            .map(|(native, _)| native.as_str())
            .collect();
        let mut sim_args = vec![
            "--seed".to_owned(),
            spec.seed.to_string(),
            "--rate".to_owned(),
            spec.rate.to_string(),
            "--ping-interval".to_owned(),
            "2".to_owned(),
            "--book-levels".to_owned(),
            spec.book_levels.to_string(),
            "--symbols".to_owned(),
            symbols.join(","),
        ];
        if let Some(count) = spec.count {
            sim_args.extend(["--count".to_owned(), count.to_string()]);
        }
        let sim = runner.start_sim(sim_args)?;
        let storage = runner.start_storage()?;
        let collector = runner.start_collector()?;

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let clickhouse = clickhouse::Client::default()
            .with_url(&services.clickhouse_url)
            .with_database(&runner.names.database)
            .with_validation(false);
        // Read back with the row types checked against the tables wherever the server can.
        let version = marketprism_storage::server_version(&clickhouse).await?;
        let clickhouse = marketprism_storage::validating(
            clickhouse,
            marketprism_schema::Dialect::for_version(&version)?,
        );
        Ok(Pipeline {
            runner,
            clickhouse,
            sim,
            storage: Some(storage),
            collector,
            backfill: None,
            venues: spec.venues.clone(),
            http,
        })
    }

    /// A successful answer to `GET http://127.0.0.1:{port}{path}`.
    async fn get(&self, port: u16, path: &str) -> anyhow::Result<reqwest::Response> {
        let url = format!("http://127.0.0.1:{port}{path}");
        Ok(self.http.get(url).send().await?.error_for_status()?)
    }

    /// The run's configurations, logs and processes.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The simulator's report.
    pub async fn sim_report(&self) -> anyhow::Result<Report> {
        Ok(self
            .get(self.runner.ports.sim, "/control/report")
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
        pids.extend(
            self.backfill
                .as_ref()
                .map(|backfill| ("backfill", backfill.pid())),
        );
        pids
    }

    /// The storage service's Prometheus metrics text.
    pub async fn storage_metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .get(self.runner.ports.storage, "/metrics")
            .await?
            .text()
            .await?)
    }

    /// Messages the storage consumer has not been delivered yet plus those awaiting its ack.
    pub async fn consumer_lag(&self) -> anyhow::Result<u64> {
        self.runner.consumer_lag().await
    }

    /// Messages in the pipeline's dead-letter stream.
    pub async fn dead_letters(&self) -> anyhow::Result<u64> {
        self.runner.dead_letters().await
    }

    /// The simulator's counts.
    pub async fn sim_summary(&self) -> anyhow::Result<marketprism_sim::Summary> {
        self.runner.sim_summary().await
    }

    /// Has the simulator drop every connection.
    pub async fn drop_connections(&self) -> anyhow::Result<()> {
        let url = format!(
            "http://127.0.0.1:{}/control/disconnect",
            self.runner.ports.sim
        );
        self.http.post(url).send().await?.error_for_status()?;
        Ok(())
    }

    /// Lists the symbols `list` and delists `delist` (Binance form) in the simulator, all or
    /// none; returns when it did, the listing and delisting time of those symbols, Unix ms.
    pub async fn change_listings(&self, list: &[String], delist: &[String]) -> anyhow::Result<i64> {
        #[derive(serde::Deserialize)]
        struct Answer {
            at_ms: i64,
        }
        let url = format!(
            "http://127.0.0.1:{}/control/listings",
            self.runner.ports.sim
        );
        let answer: Answer = self
            .http
            .post(url)
            .json(&serde_json::json!({ "list": list, "delist": delist }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer.at_ms)
    }

    /// Queues a book fault in the simulator for `symbol` (Binance form).
    pub async fn inject_book_fault(
        &self,
        kind: marketprism_sim::BookFault,
        symbol: &str,
    ) -> anyhow::Result<()> {
        let url = format!(
            "http://127.0.0.1:{}/control/book-fault",
            self.runner.ports.sim
        );
        self.http
            .post(url)
            .json(&serde_json::json!({ "kind": kind, "symbol": symbol }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The simulator's true book of `symbol` (Binance form) at `id`, an update id, event
    /// number or time as `key` says.
    pub async fn true_book(
        &self,
        symbol: &str,
        key: marketprism_sim::BookKey,
        id: u64,
        limit: usize,
    ) -> anyhow::Result<Option<marketprism_sim::TrueBook>> {
        let url = format!(
            "http://127.0.0.1:{}/control/book?symbol={symbol}&update_id={id}&limit={limit}&by={}",
            self.runner.ports.sim,
            key.as_str()
        );
        let response = self.http.get(url).send().await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(response.error_for_status()?.json().await?))
    }

    /// Starts the backfill, filling the trade gaps of the run's venues from the simulator's
    /// history.
    pub fn start_backfill(&mut self) -> anyhow::Result<()> {
        self.runner.write_backfill_config(&self.venues)?;
        self.backfill = Some(self.runner.start_backfill()?);
        Ok(())
    }

    /// Stops the backfill with SIGTERM (a gap being filled is left for redelivery); true if
    /// it exited 0.
    pub fn stop_backfill(&mut self) -> anyhow::Result<bool> {
        match self.backfill.take() {
            Some(mut backfill) => Ok(backfill.terminate(Duration::from_secs(20))?.success()),
            None => Ok(true),
        }
    }

    /// Stops storage with SIGTERM (it commits what it holds); true if it exited 0.
    pub fn stop_storage(&mut self) -> anyhow::Result<bool> {
        match self.storage.take() {
            Some(mut storage) => Ok(storage.terminate(Duration::from_secs(20))?.success()),
            None => Ok(true),
        }
    }

    /// Queues `n` stale depth snapshots of `symbol` (Binance form) in the simulator: the
    /// next `n` it answers predate the stream.
    pub async fn stale_snapshots(&self, symbol: &str, n: usize) -> anyhow::Result<()> {
        let url = format!(
            "http://127.0.0.1:{}/control/stale-snapshots",
            self.runner.ports.sim
        );
        self.http
            .post(url)
            .json(&serde_json::json!({ "n": n, "symbol": symbol }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The backfill's Prometheus metrics.
    pub async fn backfill_metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .get(self.runner.ports.backfill, "/metrics")
            .await?
            .text()
            .await?)
    }

    /// Publishes `events` to the run's stream as the collector does.
    pub async fn publish(
        &self,
        events: impl IntoIterator<Item = marketprism_model::Event>,
    ) -> anyhow::Result<u64> {
        let nats = self.runner.nats();
        Ok(marketprism_collector::publish_events(
            &nats,
            &marketprism_collector::PublishConfig::default(),
            events,
        )
        .await?)
    }

    /// Stops the collector with SIGTERM (it drains its sockets and acks); true if it exited 0.
    pub fn stop_collector(&mut self) -> anyhow::Result<bool> {
        Ok(self.collector.terminate(Duration::from_secs(20))?.success())
    }

    /// Every row of `R`'s table, merged (`FINAL`), ordered by `order_by` (a column list) when
    /// one is given.
    pub async fn stored<R: StoredRow>(&self, order_by: &str) -> anyhow::Result<Vec<R>> {
        let order = if order_by.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {order_by}")
        };
        Ok(self
            .clickhouse
            .query(&format!(
                "SELECT ?fields FROM {} FINAL{order}",
                R::TABLE.name
            ))
            .fetch_all()
            .await?)
    }

    /// The rows of `table`: merged (`FINAL`, each natural key once), or as stored (with the
    /// copies a merge has not yet collapsed).
    pub async fn count(&self, table: &Table, merged: bool) -> anyhow::Result<u64> {
        let from = table.name;
        let merged = if merged { " FINAL" } else { "" };
        Ok(self
            .clickhouse
            .query(&format!("SELECT count() FROM {from}{merged}"))
            .fetch_one()
            .await?)
    }

    /// Polls the merged row count of `table` until it stays the same for two seconds.
    pub async fn wait_until_settled(&self, table: &Table) -> anyhow::Result<u64> {
        let mut rows = Settling::default();
        loop {
            let count = self.count(table, true).await?;
            if rows.settled(count, Duration::from_secs(2)) {
                return Ok(count);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills the collector with SIGKILL, as a crash or OOM kill would.
    pub fn kill_collector(&mut self) -> anyhow::Result<()> {
        self.collector.kill().context("killing the collector")?;
        Ok(())
    }

    /// Starts the collector again with the same configuration; it continues from the feed
    /// state the previous one saved.
    pub fn restart_collector(&mut self) -> anyhow::Result<()> {
        self.collector = self.runner.start_collector()?;
        Ok(())
    }

    /// Kills storage with SIGKILL, as a crash or OOM kill would.
    pub fn kill_storage(&mut self) -> anyhow::Result<()> {
        if let Some(mut storage) = self.storage.take() {
            storage.kill().context("killing storage")?;
        }
        Ok(())
    }

    /// Starts storage again with the same configuration and durable consumer.
    pub fn restart_storage(&mut self) -> anyhow::Result<()> {
        self.storage = Some(self.runner.start_storage()?);
        Ok(())
    }

    /// Polls the merged count of trades until it reaches `expected` or `timeout`
    /// passes; returns the last count and when it was read.
    pub async fn wait_for_trades(
        &self,
        expected: u64,
        timeout: Duration,
    ) -> anyhow::Result<(u64, Instant)> {
        let started = Instant::now();
        loop {
            let count = self.count(TradeRow::TABLE, true).await?;
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
        if let Some(backfill) = self.backfill.as_mut() {
            backfill.terminate(grace)?;
        }
        let storage = match self.storage.as_mut() {
            Some(storage) => storage.terminate(grace)?.success(),
            None => false,
        };
        self.sim.terminate(grace)?;
        Ok(collector.success() && storage)
    }
}

/// Polls `done` every 100 ms until it holds (true) or `timeout` passes (false).
pub async fn poll_until<F, Fut>(timeout: Duration, mut done: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done().await? {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(false)
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
