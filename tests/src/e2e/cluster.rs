//! `cluster`: the pipeline scaled out on a three-node JetStream cluster with streams of three
//! replicas, two collectors recording the same feeds (active-active), two storage workers
//! sharing the durable consumer and a ClickHouse of two shards of two replicas (Debian's
//! clickhouse-server 18.16 with ZooKeeper), under load, through one fault at a time:
//!
//! 1. the stream leader killed (and its node started again);
//! 2. a node frozen for 20 s (SIGSTOP, a partition as its peers see it);
//! 3. one of the two collectors killed, then started again;
//! 4. a storage worker killed mid-batch, then started again;
//! 5. a ClickHouse replica killed, then started again.
//!
//! After each fault, every trade delivered before it must be stored; at the end, `trades
//! FINAL` must hold exactly the delivered trades, each once, both replicas of each shard must
//! hold the same rows, and the feeds must have no gap: only the killed collector has gaps of
//! its own, and the other covered them (see `marketprism_model::coverage`).

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_model::coverage::{feed_gaps, Span};
use marketprism_model::GapReason;
use marketprism_sim::Report;
use marketprism_storage::{GapRow, StoredRow as _, TradeRow};
use marketprism_testkit::Release;

use super::scenarios::{normalized, symbols};
use super::{Check, Checks};
use crate::progress::ProgressWatch;
use crate::topology::{Topology, TopologySpec};

const SCENARIO: &str = "cluster";

/// Trades per second the simulator makes, over four symbols.
const RATE: u64 = 1_000;

/// The run's length at `RATE`: long enough for the five faults and their recoveries.
const TRADES: u64 = 160 * RATE;

/// The ClickHouse replica killed: the second of the second shard.
const KILLED_REPLICA: (usize, usize) = (1, 1);

/// The two collectors recording the same feeds.
const COLLECTORS: [&str; 2] = ["collector-a", "collector-b"];

/// Longest wait for what was delivered before a fault to be stored.
const CATCH_UP: Duration = Duration::from_secs(90);

/// The run: the topology, how its pipeline advances, and a client of the simulator's
/// report.
struct Cluster {
    topology: Topology,
    progress: ProgressWatch,
    http: reqwest::Client,
}

impl Cluster {
    async fn report(&self) -> anyhow::Result<Report> {
        let url = format!(
            "http://127.0.0.1:{}/control/report",
            self.topology.runner.ports.sim
        );
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
            .topology
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

    /// What a fault that began at `began` cost until now: the longest time publishing
    /// (the stream's last sequence) and storing (the trades ClickHouse holds) stood still.
    fn stalls(&self, fault: &str, began: Instant) -> Check {
        let stalls = self.progress.stalls(began, Instant::now());
        Check::measured(
            SCENARIO,
            &format!("{fault}: longest stall of publishing, of storing"),
            format!(
                "{:.1} s, {:.1} s",
                stalls.publish.as_secs_f64(),
                stalls.store.as_secs_f64()
            ),
        )
    }

    /// Waits until every trade delivered before now is stored; a check of it.
    async fn caught_up(&self, after: &str) -> anyhow::Result<Check> {
        self.caught_up_since(after, &HashSet::new()).await
    }

    /// Waits until every trade delivered before now, and not among `earlier`, is stored; a
    /// check of it.
    async fn caught_up_since(
        &self,
        after: &str,
        earlier: &HashSet<(String, String)>,
    ) -> anyhow::Result<Check> {
        let delivered: HashSet<_> = self
            .delivered()
            .await?
            .difference(earlier)
            .cloned()
            .collect();
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
    let spec = TopologySpec {
        name: SCENARIO.to_owned(),
        nats: Release::Current,
        symbols: symbols(),
        rate: RATE,
        count: TRADES,
        seed: 29,
        collectors: COLLECTORS.iter().map(|name| (*name).to_owned()).collect(),
        storage_workers: 2,
    };
    let topology = Topology::start(binary, dir, &spec).await?;
    let mut cluster = Cluster {
        progress: topology.watch_progress().await?,
        topology,
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
    cluster.topology.keep_clickhouse_logs(dir);
    checks.push(stop(cluster)?);
    verdict?;
    Ok(checks)
}

/// The five faults, one at a time, each followed by a check that nothing delivered before
/// it is missing.
async fn faults(cluster: &mut Cluster, checks: &mut Checks) -> anyhow::Result<()> {
    tokio::time::sleep(Duration::from_secs(10)).await;

    // 1. The stream leader, killed.
    let leader = cluster
        .topology
        .stream_leader()
        .await?
        .context("the stream has no leader")?;
    let killed = Instant::now();
    cluster
        .topology
        .nats
        .node_named(&leader)
        .context("the leader is a node of the cluster")?
        .kill()?;
    let mut new_leader = None;
    while killed.elapsed() < Duration::from_secs(60) {
        new_leader = cluster
            .topology
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
        .topology
        .nats
        .node_named(&leader)
        .context("the killed node")?
        .restart()?;
    checks.push(cluster.caught_up("stream leader killed").await?);
    checks.push(cluster.stalls("stream leader killed", killed));

    // 2. A node frozen for 20 s: to its peers and clients, a partition.
    let frozen = cluster
        .topology
        .stream_leader()
        .await?
        .context("the stream has no leader")?;
    let node = cluster
        .topology
        .nats
        .node_named(&frozen)
        .context("the leader is a node of the cluster")?;
    let began = Instant::now();
    node.pause()?;
    tokio::time::sleep(Duration::from_secs(20)).await;
    node.resume()?;
    checks.push(cluster.caught_up("stream leader frozen 20 s").await?);
    checks.push(cluster.stalls("stream leader frozen 20 s", began));

    // 3. One collector killed, then started again; the other records on.
    let (name, port, mut collector) = cluster.topology.collectors.remove(0);
    let began = Instant::now();
    collector.kill()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let collector = cluster.topology.runner.start_named_collector(&name, port)?;
    cluster
        .topology
        .collectors
        .insert(0, (name.clone(), port, collector));
    checks.push(
        cluster
            .caught_up(&format!("{name} killed and started again"))
            .await?,
    );
    checks.push(cluster.stalls(&format!("{name} killed"), began));

    // 4. A storage worker killed with batches in flight, then started again.
    let began = Instant::now();
    cluster.topology.storage_workers[1].kill()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.topology.storage_workers[1] = cluster.topology.runner.start_storage_worker(1)?;
    checks.push(cluster.caught_up("storage worker killed mid-batch").await?);
    checks.push(cluster.stalls("storage worker killed mid-batch", began));

    // 5. A ClickHouse replica killed, then started again. Inserts go to the other replica
    //    meanwhile; a part the killed one committed just before has no other copy yet and
    //    shows once it is back, so only what was delivered after the kill must be stored
    //    while it is down.
    let (shard, replica) = KILLED_REPLICA;
    let began = Instant::now();
    cluster.topology.clickhouse_cluster.kill(shard, replica)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let delivered_by_then = cluster.delivered().await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    checks.push(
        cluster
            .caught_up_since(
                "ClickHouse replica down, from 5 s after the kill",
                &delivered_by_then,
            )
            .await?,
    );
    cluster
        .topology
        .clickhouse_cluster
        .restart(shard, replica)?;
    checks.push(
        cluster
            .caught_up("ClickHouse replica started again")
            .await?,
    );
    checks.push(cluster.stalls("ClickHouse replica killed", began));
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
        .topology
        .clickhouse
        .query(&format!(
            "SELECT count() FROM {} FINAL",
            TradeRow::TABLE.name
        ))
        .fetch_one()
        .await?;
    let distinct: u64 = cluster
        .topology
        .clickhouse
        .query(&format!(
            "SELECT uniqExact(symbol, trade_id) FROM {}",
            TradeRow::TABLE.name
        ))
        .fetch_one()
        .await?;
    let unmerged: u64 = cluster
        .topology
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
        .topology
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
        cluster.topology.runner.dead_letters().await?,
    ));
    checks.push(replicas_agree(cluster).await?);
    Ok(())
}

/// A check that both replicas of every shard hold the same trades, once the restarted one
/// has caught up (waiting up to `CATCH_UP`).
async fn replicas_agree(cluster: &Cluster) -> anyhow::Result<Check> {
    let table = format!("{}_local", TradeRow::TABLE.name);
    let query = format!("SELECT count(), sum(cityHash64(symbol, trade_id)) FROM {table} FINAL");
    let started = Instant::now();
    loop {
        let mut shards = Vec::new();
        for shard in 0..cluster.topology.clickhouse_cluster.shards() {
            let mut replicas = Vec::new();
            for replica in 0..cluster.topology.clickhouse_cluster.replicas() {
                let client = cluster
                    .topology
                    .clickhouse_config
                    .node_client(&cluster.topology.clickhouse_cluster.url(shard, replica))?;
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
fn stop(cluster: Cluster) -> anyhow::Result<Check> {
    let clean = cluster.topology.stop()?;
    Ok(Check::holds(
        SCENARIO,
        "collectors and storage workers stop cleanly",
        "exit 0 after SIGTERM",
        if clean { "exit 0" } else { "non-zero exit" }.into(),
        clean,
    ))
}
