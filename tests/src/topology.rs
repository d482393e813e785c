//! The cluster topology of the harness: three nats-servers in a JetStream cluster (streams
//! with three replicas), ClickHouse as two shards of two replicas with ZooKeeper, named
//! collectors recording the same feeds (active-active) and storage workers sharing one
//! durable consumer (the collectors with a spool each), each a process of the `marketprism`
//! binary on loopback. The e2e `cluster` scenario injects its faults into it; `cargo xtask
//! bench --e2e --cluster` measures it against one node of each.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use marketprism_collector::{BooksConfig, SpoolConfig, WhenFull};
use marketprism_servers::{free_port, Service};
use marketprism_storage::ClickHouseConfig;
use marketprism_testkit::{ClickHouseCluster, NatsCluster, Release};

use crate::progress::ProgressWatch;
use crate::runner::{Names, Runner, VenueSpec};

/// Copies of each stream, one per nats-server.
const STREAM_REPLICAS: usize = 3;

/// Each collector's spool: 1 GiB.
const SPOOL_BYTES: u64 = 1 << 30;

/// What runs on the topology.
#[derive(Debug, Clone)]
pub struct TopologySpec {
    /// Short name; also names the database, stream and consumer.
    pub name: String,
    /// The nats-servers' release.
    pub nats: Release,
    /// (Binance symbol, normalized symbol) pairs the simulator trades.
    pub symbols: Vec<(String, String)>,
    /// Simulator trades per second.
    pub rate: u64,
    /// Trades to generate.
    pub count: u64,
    /// Simulator seed.
    pub seed: u64,
    /// Names of the collectors recording the same feeds.
    pub collectors: Vec<String>,
    /// Storage processes sharing the durable consumer.
    pub storage_workers: usize,
}

/// The running topology; its servers stop when it is dropped.
pub struct Topology {
    /// Configurations, logs and processes of the run.
    pub runner: Runner,
    /// The nats-servers.
    pub nats: NatsCluster,
    /// The ClickHouse nodes.
    pub clickhouse_cluster: ClickHouseCluster,
    /// Storage's ClickHouse settings, for a client of each node.
    pub clickhouse_config: ClickHouseConfig,
    /// The simulator.
    pub sim: Service,
    /// (name, port, process) of each collector.
    pub collectors: Vec<(String, u16, Service)>,
    /// The storage workers; worker `i` logs to `storage.log` for `i = 0`, else
    /// `storage-<i>.log`.
    pub storage_workers: Vec<Service>,
    /// A client of the run's database, through the `Distributed` tables.
    pub clickhouse: clickhouse::Client,
}

impl Topology {
    /// Starts the servers, writes the configurations, applies the schema on the cluster,
    /// creates the replicated streams, and starts the simulator, the storage workers and
    /// the collectors in `dir`, each waited for until ready.
    pub async fn start(binary: &Path, dir: &Path, spec: &TopologySpec) -> anyhow::Result<Self> {
        let nats = NatsCluster::start_release(spec.nats, STREAM_REPLICAS).with_context(|| {
            format!(
                "starting a cluster of {STREAM_REPLICAS} {} nats-servers",
                spec.nats
            )
        })?;
        let clickhouse_cluster = ClickHouseCluster::start(2, 2)
            .context("starting two ClickHouse shards of two replicas with ZooKeeper")?;
        let names = Names::new(
            format!("marketprism_{}", spec.name),
            format!("MARKETPRISM_{}", spec.name.to_ascii_uppercase()),
            format!("storage-{}", spec.name),
        );
        let runner = Runner::on(
            binary,
            &nats.url(),
            &clickhouse_cluster.url(0, 0),
            STREAM_REPLICAS,
            dir,
            names,
        )?;
        let mut storage = runner.storage_config();
        storage.clickhouse.cluster = Some(clickhouse_cluster.name().to_owned());
        storage.clickhouse.shard_urls = (0..clickhouse_cluster.shards())
            .map(|shard| clickhouse_cluster.url(shard, 0))
            .collect();
        // Short, so that a killed worker's unacked batch is redelivered quickly.
        storage.consumer.ack_wait = Duration::from_secs(5);
        storage.consumer.retry_delay = Duration::from_millis(500);
        runner.write_storage_config(&storage)?;
        let clickhouse_config = storage.clickhouse.clone();
        let venues =
            vec![VenueSpec::binance_spot(&spec.symbols, vec!["trades"]).config(runner.ports.sim)?];
        let collector = runner.collector_config(BooksConfig::default(), venues);
        runner.write_collector_config(&collector)?;
        let mut ports = Vec::new();
        for name in &spec.collectors {
            let port = free_port()?;
            // Each collector spools what JetStream does not acknowledge, as in production: a
            // leader election stalls publishing for seconds, longer than the in-memory
            // window lasts at high rates.
            let mut spooling = collector.clone();
            spooling.publish.spool = Some(SpoolConfig {
                path: dir.join(format!("spool-{name}")),
                max_bytes: SPOOL_BYTES,
                when_full: WhenFull::default(),
                sync_interval: Duration::from_secs(1),
            });
            runner.write_named_collector_config(&spooling, name, port)?;
            ports.push((name.clone(), port));
        }
        runner.init()?;

        let natives: Vec<&str> = spec
            .symbols
            .iter()
            .map(|(native, _)| native.as_str())
            .collect();
        let sim = runner.start_sim([
            "--seed".to_owned(),
            spec.seed.to_string(),
            "--rate".to_owned(),
            spec.rate.to_string(),
            "--ping-interval".to_owned(),
            "2".to_owned(),
            "--symbols".to_owned(),
            natives.join(","),
            "--count".to_owned(),
            spec.count.to_string(),
        ])?;
        let mut storage_workers = vec![runner.start_storage()?];
        for index in 1..spec.storage_workers {
            storage_workers.push(runner.start_storage_worker(index)?);
        }
        let mut collectors = Vec::new();
        for (name, port) in ports {
            let process = runner.start_named_collector(&name, port)?;
            collectors.push((name, port, process));
        }
        let clickhouse = clickhouse_config.database_client()?;
        Ok(Topology {
            runner,
            nats,
            clickhouse_cluster,
            clickhouse_config,
            sim,
            collectors,
            storage_workers,
            clickhouse,
        })
    }

    /// The name of the stream's current leader, if it has one.
    pub async fn stream_leader(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .stream()
            .await?
            .info()
            .await?
            .cluster
            .as_ref()
            .and_then(|cluster| cluster.leader.clone()))
    }

    /// Starts reading how publishing and storing advance (see [`ProgressWatch`]).
    pub async fn watch_progress(&self) -> anyhow::Result<ProgressWatch> {
        Ok(ProgressWatch::start(
            self.stream().await?,
            self.clickhouse.clone(),
        ))
    }

    /// The run's event stream, through any nats-server that answers.
    pub async fn stream(&self) -> anyhow::Result<async_nats::jetstream::stream::Stream> {
        let client = marketprism_bus::connect(&self.runner.nats(), "harness").await?;
        Ok(async_nats::jetstream::new(client)
            .get_stream(&self.runner.names.stream)
            .await?)
    }

    /// Copies every ClickHouse node's log into `dir` as `clickhouse-<shard>-<replica>.log`:
    /// the cluster's own directory goes with it.
    pub fn keep_clickhouse_logs(&self, dir: &Path) {
        let cluster = &self.clickhouse_cluster;
        for shard in 0..cluster.shards() {
            for replica in 0..cluster.replicas() {
                let kept = dir.join(format!("clickhouse-{shard}-{replica}.log"));
                if let Err(error) = std::fs::copy(cluster.log_path(shard, replica), &kept) {
                    eprintln!("cannot keep {}: {error}", kept.display());
                }
            }
        }
    }

    /// Stops the collectors and storage workers with SIGTERM, then the simulator; whether
    /// each of the former exited 0.
    pub fn stop(mut self) -> anyhow::Result<bool> {
        let grace = Duration::from_secs(20);
        let mut clean = true;
        for (_, _, collector) in &mut self.collectors {
            clean &= collector.terminate(grace)?.success();
        }
        for worker in &mut self.storage_workers {
            clean &= worker.terminate(grace)?.success();
        }
        self.sim.terminate(grace)?;
        Ok(clean)
    }
}
