//! `cluster`: the pipeline scaled out on a three-node JetStream cluster with streams of three
//! replicas, two collectors recording the same feeds (active-active), two storage workers
//! sharing the durable consumer and a ClickHouse of two shards of two replicas (Debian's
//! clickhouse-server 18.16 with ZooKeeper), under load, through one fault at a time:
//!
//! 1. the stream leader killed (and its node started again);
//! 2. a node frozen for 20 s (SIGSTOP, a partition as its peers see it);
//! 3. one of the two collectors killed, then started again;
//! 4. a storage worker killed mid-batch, then started again.
//!
//! A ClickHouse replica killed under load is not among the faults yet: on 18.16 it lost
//! rows storage had committed through the `Distributed` table (134 of 160,000 in one run),
//! which the insert path must prevent first.
//!
//! After each fault, every trade delivered before it must be stored; at the end, `trades
//! FINAL` must hold exactly the delivered trades, each once, both replicas of each shard must
//! hold the same rows, and the feeds must have no gap: only the killed collector has gaps of
//! its own, and the other covered them (see `marketprism_model::coverage`).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_collector::BooksConfig;
use marketprism_model::coverage::{feed_gaps, Span};
use marketprism_model::GapReason;
use marketprism_servers::{free_port, Service};
use marketprism_sim::Report;
use marketprism_storage::ClickHouseConfig;
use marketprism_storage::{GapRow, StoredRow as _, TradeRow};
use marketprism_testkit::{ClickHouseCluster, NatsCluster};

use super::scenarios::{normalized, symbols};
use super::{Check, Checks};
use crate::runner::{Names, Runner, VenueSpec};

const SCENARIO: &str = "cluster";

/// Trades per second the simulator makes, over four symbols.
const RATE: u64 = 1_000;

/// The run's length at `RATE`: long enough for the four faults and their recoveries.
const TRADES: u64 = 130 * RATE;

/// The two collectors recording the same feeds.
const COLLECTORS: [&str; 2] = ["collector-a", "collector-b"];

/// Longest wait for what was delivered before a fault to be stored.
const CATCH_UP: Duration = Duration::from_secs(90);

/// The processes of the run.
struct Cluster {
    runner: Runner,
    nats: NatsCluster,
    clickhouse_cluster: ClickHouseCluster,
    /// Storage's ClickHouse settings, for a client of each node.
    clickhouse_config: ClickHouseConfig,
    sim: Service,
    collectors: Vec<(String, u16, Service)>,
    storage: Service,
    worker: Service,
    clickhouse: clickhouse::Client,
    http: reqwest::Client,
}

impl Cluster {
    async fn report(&self) -> anyhow::Result<Report> {
        let url = format!("http://127.0.0.1:{}/control/report", self.runner.ports.sim);
        Ok(self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn delivered(&self) -> anyhow::Result<HashSet<(String, String)>> {
        Ok(self
            .report()
            .await?
            .trades
            .iter()
            .filter(|trade| trade.delivered)
            .map(|trade| (normalized(&trade.symbol), trade.trade_id.to_string()))
            .collect())
    }

    async fn stored(&self) -> anyhow::Result<HashSet<(String, String)>> {
        Ok(self
            .clickhouse
            .query(&format!(
                "SELECT symbol, trade_id FROM {} FINAL",
                TradeRow::TABLE.name
            ))
            .fetch_all::<(String, String)>()
            .await?
            .into_iter()
            .collect())
    }

    /// The name of the stream's current leader, if it has one.
    async fn stream_leader(&self) -> anyhow::Result<Option<String>> {
        let client = marketprism_bus::connect(&self.runner.nats(), "e2e").await?;
        let mut stream = async_nats::jetstream::new(client)
            .get_stream(&self.runner.names.stream)
            .await?;
        Ok(stream
            .info()
            .await?
            .cluster
            .as_ref()
            .and_then(|cluster| cluster.leader.clone()))
    }

    /// Waits until every trade delivered before now is stored; a check of it.
    async fn caught_up(&self, after: &str) -> anyhow::Result<Check> {
        let delivered = self.delivered().await?;
        let started = Instant::now();
        let missing = loop {
            let stored = self.stored().await?;
            let missing = delivered.difference(&stored).count();
            if missing == 0 || started.elapsed() > CATCH_UP {
                break missing;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        Ok(Check::holds(
            SCENARIO,
            &format!("{after}: trades delivered before it, stored"),
            &format!("all within {} s", CATCH_UP.as_secs()),
            format!(
                "{} of {} after {:.1} s",
                delivered.len() - missing,
                delivered.len(),
                started.elapsed().as_secs_f64()
            ),
            missing == 0,
        ))
    }
}

/// Runs the scenario in `dir` with `binary`, on servers of its own.
pub async fn run(binary: &Path, dir: &Path) -> anyhow::Result<Checks> {
    let nats = NatsCluster::start(3).context("starting a three-node nats-server cluster")?;
    let clickhouse_cluster = ClickHouseCluster::start(2, 2)
        .context("starting two ClickHouse shards of two replicas with ZooKeeper")?;
    let names = Names::new(
        format!("marketprism_{SCENARIO}"),
        format!("MARKETPRISM_{}", SCENARIO.to_ascii_uppercase()),
        format!("storage-{SCENARIO}"),
    );
    let runner = Runner::on(
        binary,
        &nats.url(),
        &clickhouse_cluster.url(0, 0),
        3,
        dir,
        names,
    )?;
    let mut storage = runner.storage_config();
    storage.clickhouse.cluster = Some(clickhouse_cluster.name().to_owned());
    storage.clickhouse.shard_urls = (0..clickhouse_cluster.shards())
        .map(|shard| clickhouse_cluster.url(shard, 0))
        .collect();
    storage.consumer.ack_wait = Duration::from_secs(5);
    storage.consumer.retry_delay = Duration::from_millis(500);
    runner.write_storage_config(&storage)?;
    let clickhouse_config = storage.clickhouse.clone();
    let venues =
        vec![VenueSpec::binance_spot(&symbols(), vec!["trades"]).config(runner.ports.sim)?];
    let collector = runner.collector_config(BooksConfig::default(), venues);
    runner.write_collector_config(&collector)?;
    let mut ports = Vec::new();
    for name in COLLECTORS {
        let port = free_port()?;
        runner.write_named_collector_config(&collector, name, port)?;
        ports.push((name, port));
    }
    runner.init()?;

    let natives: Vec<String> = symbols().into_iter().map(|(native, _)| native).collect();
    let sim = runner.start_sim([
        "--seed".to_owned(),
        "29".to_owned(),
        "--rate".to_owned(),
        RATE.to_string(),
        "--ping-interval".to_owned(),
        "2".to_owned(),
        "--symbols".to_owned(),
        natives.join(","),
        "--count".to_owned(),
        TRADES.to_string(),
    ])?;
    let storage = runner.start_storage()?;
    let worker = runner.start_storage_worker(1)?;
    let mut collectors = Vec::new();
    for (name, port) in ports {
        collectors.push((
            name.to_owned(),
            port,
            runner.start_named_collector(name, port)?,
        ));
    }
    let clickhouse = clickhouse_config.database_client()?;
    let mut cluster = Cluster {
        runner,
        nats,
        clickhouse_cluster,
        clickhouse_config,
        sim,
        collectors,
        storage,
        worker,
        clickhouse,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    };
    let mut checks = Vec::new();
    let faults = faults(&mut cluster, &mut checks).await;
    let verdict = match faults {
        Ok(()) => verify(&mut cluster, &mut checks).await,
        Err(error) => Err(error),
    };
    checks.push(stop(cluster)?);
    verdict?;
    Ok(checks)
}

/// The four faults, one at a time, each followed by a check that nothing delivered before
/// it is missing.
async fn faults(cluster: &mut Cluster, checks: &mut Checks) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(10)).await;

    // 1. The stream leader, killed.
    let leader = cluster
        .stream_leader()
        .await?
        .context("the stream has no leader")?;
    let killed = Instant::now();
    cluster
        .nats
        .node_named(&leader)
        .context("the leader is a node of the cluster")?
        .kill()?;
    let mut new_leader = None;
    while killed.elapsed() < Duration::from_secs(60) {
        new_leader = cluster
            .stream_leader()
            .await
            .ok()
            .flatten()
            .filter(|name| *name != leader);
        if new_leader.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    checks.push(Check::holds(
        SCENARIO,
        "stream leader killed: another node leads",
        "within 60 s",
        format!(
            "{leader} → {} after {:.1} s",
            new_leader.as_deref().unwrap_or("none"),
            killed.elapsed().as_secs_f64()
        ),
        new_leader.is_some(),
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster
        .nats
        .node_named(&leader)
        .context("the killed node")?
        .restart()?;
    checks.push(cluster.caught_up("stream leader killed").await?);

    // 2. A node frozen for 20 s: to its peers and clients, a partition.
    let frozen = cluster
        .stream_leader()
        .await?
        .context("the stream has no leader")?;
    let node = cluster
        .nats
        .node_named(&frozen)
        .context("the leader is a node of the cluster")?;
    node.pause()?;
    tokio::time::sleep(Duration::from_secs(20)).await;
    node.resume()?;
    checks.push(cluster.caught_up("stream leader frozen 20 s").await?);

    // 3. One collector killed, then started again; the other records on.
    let (name, port, mut collector) = cluster.collectors.remove(0);
    collector.kill()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let collector = cluster.runner.start_named_collector(&name, port)?;
    cluster
        .collectors
        .insert(0, (name.clone(), port, collector));
    checks.push(
        cluster
            .caught_up(&format!("{name} killed and started again"))
            .await?,
    );

    // 4. A storage worker killed with batches in flight, then started again.
    cluster.worker.kill()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.worker = cluster.runner.start_storage_worker(1)?;
    checks.push(cluster.caught_up("storage worker killed mid-batch").await?);
    Ok(())
}

/// The end state: every delivered trade stored once, and no feed gap.
async fn verify(cluster: &mut Cluster, checks: &mut Checks) -> anyhow::Result<()> {
    let report = loop {
        let report = cluster.report().await?;
        if report.done {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    checks.push(Check::equal(
        SCENARIO,
        "trades generated",
        TRADES,
        report.trades.len() as u64,
    ));
    let delivered = cluster.delivered().await?;
    checks.push(Check::equal(
        SCENARIO,
        "trades delivered (one collector was up throughout)",
        TRADES,
        delivered.len() as u64,
    ));
    checks.push(cluster.caught_up("the run").await?);
    let stored = cluster.stored().await?;
    let rows: u64 = cluster
        .clickhouse
        .query(&format!(
            "SELECT count() FROM {} FINAL",
            TradeRow::TABLE.name
        ))
        .fetch_one()
        .await?;
    let distinct: u64 = cluster
        .clickhouse
        .query(&format!(
            "SELECT uniqExact(symbol, trade_id) FROM {}",
            TradeRow::TABLE.name
        ))
        .fetch_one()
        .await?;
    let unmerged: u64 = cluster
        .clickhouse
        .query(&format!("SELECT count() FROM {}", TradeRow::TABLE.name))
        .fetch_one()
        .await?;
    checks.push(Check::equal(
        SCENARIO,
        "rows in trades FINAL = distinct trade keys",
        distinct,
        rows,
    ));
    checks.push(Check::equal(
        SCENARIO,
        "rows in trades FINAL",
        delivered.len() as u64,
        rows,
    ));
    checks.push(Check::equal(
        SCENARIO,
        "delivered trades missing",
        0,
        delivered.difference(&stored).count(),
    ));
    checks.push(Check::equal(
        SCENARIO,
        "rows never delivered",
        0,
        stored.difference(&delivered).count(),
    ));
    checks.push(Check::measured(
        SCENARIO,
        "trade rows inserted twice (absorbed by FINAL)",
        format!("{} of {unmerged}", unmerged.saturating_sub(rows)),
    ));

    let gaps: Vec<GapRow> = cluster
        .clickhouse
        .query(&format!("SELECT ?fields FROM {} FINAL", GapRow::TABLE.name))
        .fetch_all()
        .await?;
    let foreign: Vec<String> = gaps
        .iter()
        .filter(|gap| gap.collector != COLLECTORS[0])
        .map(|gap| format!("{} {} of {:?}", gap.reason, gap.symbol, gap.collector))
        .collect();
    checks.push(Check::none_of(
        SCENARIO,
        "gaps of a collector that was not killed",
        "gaps",
        &foreign,
    ));
    let restarted = symbols().iter().all(|(_, symbol)| {
        gaps.iter().any(|gap| {
            gap.symbol == *symbol
                && gap.collector == COLLECTORS[0]
                && gap.reason == GapReason::Restart.as_str()
        })
    });
    checks.push(Check::holds(
        SCENARIO,
        "the killed collector recorded its restart gaps",
        "one per symbol at least",
        format!("{} gaps of {}", gaps.len(), COLLECTORS[0]),
        restarted,
    ));
    let mut feed_missed = Vec::new();
    for (_, symbol) in symbols() {
        let spans: Vec<Vec<Span>> = COLLECTORS
            .iter()
            .map(|collector| {
                gaps.iter()
                    .filter(|gap| gap.symbol == symbol && gap.collector == *collector)
                    .map(|gap| Span::new(gap.from_time, gap.to_time))
                    .collect()
            })
            .collect();
        feed_missed.extend(
            feed_gaps(&spans)
                .into_iter()
                .map(|span| format!("{symbol} {} to {}", span.from_ms, span.to_ms)),
        );
    }
    checks.push(Check::none_of(
        SCENARIO,
        "feed gaps (every collector missed)",
        "spans",
        &feed_missed,
    ));
    checks.push(Check::equal(
        SCENARIO,
        "dead letters",
        0,
        cluster.runner.dead_letters().await?,
    ));
    checks.push(replicas_agree(cluster).await?);
    Ok(())
}

/// A check that both replicas of every shard hold the same trades, once replication has
/// caught up (waiting up to `CATCH_UP`).
async fn replicas_agree(cluster: &Cluster) -> anyhow::Result<Check> {
    let table = format!("{}_local", TradeRow::TABLE.name);
    let query = format!("SELECT count(), sum(cityHash64(symbol, trade_id)) FROM {table} FINAL");
    let started = Instant::now();
    loop {
        let mut shards = Vec::new();
        for shard in 0..cluster.clickhouse_cluster.shards() {
            let mut replicas = Vec::new();
            for replica in 0..cluster.clickhouse_cluster.replicas() {
                let client = cluster
                    .clickhouse_config
                    .node_client(&cluster.clickhouse_cluster.url(shard, replica))?;
                replicas.push(client.query(&query).fetch_one::<(u64, u64)>().await?);
            }
            shards.push(replicas);
        }
        let agree = shards
            .iter()
            .all(|replicas| replicas.windows(2).all(|pair| pair[0] == pair[1]));
        let split = shards
            .iter()
            .all(|replicas| replicas.first().is_some_and(|(rows, _)| *rows > 0));
        if (agree && split) || started.elapsed() > CATCH_UP {
            let rows: Vec<String> = shards
                .iter()
                .map(|replicas| {
                    replicas
                        .iter()
                        .map(|(rows, _)| rows.to_string())
                        .collect::<Vec<_>>()
                        .join(" = ")
                })
                .collect();
            return Ok(Check::holds(
                SCENARIO,
                "both replicas of each shard hold the same trades, both shards some",
                "equal counts and key hashes per shard",
                format!("rows per shard: {}", rows.join("; ")),
                agree && split,
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Stops every service with SIGTERM; a check that the collectors and storage workers drained
/// and exited successfully.
fn stop(mut cluster: Cluster) -> anyhow::Result<Check> {
    let grace = Duration::from_secs(20);
    let mut clean = true;
    for (_, _, collector) in &mut cluster.collectors {
        clean &= collector.terminate(grace)?.success();
    }
    clean &= cluster.storage.terminate(grace)?.success();
    clean &= cluster.worker.terminate(grace)?.success();
    cluster.sim.terminate(grace)?;
    Ok(Check::holds(
        SCENARIO,
        "collectors and storage workers stop cleanly",
        "exit 0 after SIGTERM",
        if clean { "exit 0" } else { "non-zero exit" }.into(),
        clean,
    ))
}
