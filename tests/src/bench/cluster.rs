//! `cargo xtask bench --e2e --cluster`: the cluster topology (three nats-servers with R3
//! streams, ClickHouse as two shards of two replicas with ZooKeeper, two collectors on the
//! same feeds, two storage workers; see [`crate::topology`]) against one node of each, in
//! the same run and on the servers a local deployment finds:
//!
//! * a rate ladder on each (`--cluster-rates`), every step on fresh servers with the
//!   simulator trading `--symbols` symbols for `--step-seconds`: trades stored per second
//!   (from the first trade generated to the last one stored) and trades lost; a topology's
//!   ladder stops at its first step with loss. The cluster's figure over the single node's,
//!   each at its best lossless step, is what replication costs;
//! * the publish stall of a stream-leader election: on the cluster at
//!   `--cluster-stall-rate`, the stream leader killed mid-run; the longest time the
//!   stream's last sequence stood still, and how long until another node led;
//! * stream bytes per trade with one collector (the single node) and with two recording the
//!   same feeds (the cluster), at the ladders' first step.
//!
//! Results go to `target/bench/cluster.md` and `cluster.json`. Nothing here asserts a timing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use marketprism_storage::{StoredRow as _, TradeRow};
use marketprism_testkit::Release;
use serde::Serialize;

use super::e2e::{symbols, EndToEnd};
use crate::pipeline::{Pipeline, Settling, Spec};
use crate::runner::{Runner, VenueSpec};
use crate::services;
use crate::topology::{Topology, TopologySpec};

/// Longest wait for the stored trades to reach the generated count once generation ended.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);

/// Once generation ended, stored trades that stop growing for this long are all there will be.
const TRADES_STALLED: Duration = Duration::from_secs(5);

/// How often the election is checked for a new leader.
const STALL_POLL: Duration = Duration::from_millis(100);

/// Seconds of the run the stream leader is killed in, and when.
const STALL_RUN_SECONDS: u64 = 40;
const STALL_KILL_AFTER: Duration = Duration::from_secs(10);

/// The two collectors of the cluster.
const COLLECTORS: [&str; 2] = ["collector-a", "collector-b"];

/// One step of a ladder.
#[derive(Debug, Clone, Serialize)]
struct Rung {
    offered_trades_per_second: u64,
    trades_generated: u64,
    trades_stored: u64,
    loss: u64,
    stored_trades_per_second: f64,
    stream_messages: u64,
    stream_bytes: u64,
}

impl Rung {
    fn bytes_per_trade(&self) -> f64 {
        self.stream_bytes as f64 / self.trades_generated.max(1) as f64
    }
}

/// The leader election measured on the cluster.
#[derive(Debug, Clone, Serialize)]
struct Election {
    offered_trades_per_second: u64,
    /// Until `/jsz`'s stream info named another leader.
    new_leader_seconds: Option<f64>,
    /// The longest time the stream's last sequence stood still after the kill.
    publish_stall_seconds: f64,
    loss: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    machine: String,
    servers: String,
    single: Vec<Rung>,
    cluster: Vec<Rung>,
    election: Election,
}

/// Runs the cluster benchmark and writes its report.
pub fn run(args: &EndToEnd) -> anyhow::Result<()> {
    let binary = marketprism_testkit::build_marketprism(true)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let scratch = tempfile::Builder::new()
        .prefix("marketprism-bench-cluster-")
        .tempdir()?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    let report = runtime.block_on(measure(&binary, args, &dir))?;
    let markdown = markdown(&report);
    let out = marketprism_testkit::target_dir().join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("cluster.md"), &markdown)?;
    std::fs::write(
        out.join("cluster.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    println!("{markdown}");
    println!("written to {}", out.join("cluster.md").display());
    Ok(())
}

async fn measure(binary: &Path, args: &EndToEnd, dir: &Path) -> anyhow::Result<Report> {
    let symbols = symbols(args.symbols);
    let mut single = Vec::new();
    for &rate in &args.cluster_rates {
        eprintln!("single node: {rate} trades/s for {} s", args.step_seconds);
        let services = services::start(Release::Deployed)?;
        let spec = Spec {
            name: format!("single{rate}"),
            venues: vec![VenueSpec::binance_spot(&symbols, vec!["trades"])],
            symbols: symbols.clone(),
            rate: u32::try_from(rate).context("rate beyond u32")?,
            count: Some(rate * args.step_seconds),
            seed: 5,
            book_deltas: false,
            book_interval: Duration::ZERO,
            book_levels: marketprism_sim::DEFAULT_LEVELS,
        };
        let pipeline = Pipeline::start(
            binary,
            &services,
            &spec,
            &dir.join(format!("single-{rate}")),
        )
        .await?;
        let rung = drive(pipeline.runner(), &pipeline.clickhouse, rate).await?;
        pipeline.stop()?;
        let lossy = rung.loss > 0;
        single.push(rung);
        if lossy {
            break;
        }
    }

    let mut cluster = Vec::new();
    for &rate in &args.cluster_rates {
        eprintln!("cluster: {rate} trades/s for {} s", args.step_seconds);
        let spec = topology_spec(format!("cluster{rate}"), &symbols, rate, args.step_seconds);
        let topology = Topology::start(binary, &dir.join(format!("cluster-{rate}")), &spec).await?;
        let rung = drive(&topology.runner, &topology.clickhouse, rate).await?;
        topology.stop()?;
        let lossy = rung.loss > 0;
        cluster.push(rung);
        if lossy {
            break;
        }
    }

    let rate = args.cluster_stall_rate;
    eprintln!("cluster: the stream leader killed at {rate} trades/s");
    let spec = topology_spec("election".into(), &symbols, rate, STALL_RUN_SECONDS);
    let mut topology = Topology::start(binary, &dir.join("election"), &spec).await?;
    let election = election(&mut topology, rate).await?;
    topology.stop()?;

    Ok(Report {
        machine: super::machine(),
        servers: format!(
            "{}: nats-server and clickhouse-server; the cluster's ZooKeeper from Debian",
            Release::Deployed
        ),
        single,
        cluster,
        election,
    })
}

fn topology_spec(
    name: String,
    symbols: &[(String, String)],
    rate: u64,
    seconds: u64,
) -> TopologySpec {
    TopologySpec {
        name,
        nats: Release::Deployed,
        symbols: symbols.to_vec(),
        rate,
        count: rate * seconds,
        seed: 5,
        collectors: COLLECTORS.iter().map(|name| (*name).to_owned()).collect(),
        storage_workers: 2,
    }
}

/// Follows a run until its trades are stored (or stop arriving), and measures it.
async fn drive(
    runner: &Runner,
    clickhouse: &clickhouse::Client,
    rate: u64,
) -> anyhow::Result<Rung> {
    let count = |merged: bool| async move {
        let merged = if merged { " FINAL" } else { "" };
        clickhouse
            .query(&format!(
                "SELECT count() FROM {}{merged}",
                TradeRow::TABLE.name
            ))
            .fetch_one::<u64>()
            .await
    };
    let mut first_trade: Option<Instant> = None;
    let mut generation_done: Option<Instant> = None;
    let mut last_stored = 0;
    let mut last_change = Instant::now();
    let mut arriving = Settling::default();
    let summary = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let summary = runner.sim_summary().await?;
        if summary.trades_generated > 0 {
            first_trade.get_or_insert_with(Instant::now);
        }
        // Copies not yet merged count too: cheap, and never below the distinct count.
        let stored = count(false).await?;
        if stored != last_stored {
            last_stored = stored;
            last_change = Instant::now();
        }
        if !summary.done {
            continue;
        }
        let done_at = *generation_done.get_or_insert_with(Instant::now);
        // Copies stored twice reach the generated count before every trade is there:
        // only the merged count says all arrived.
        let arrived =
            stored >= summary.trades_generated && count(true).await? >= summary.trades_generated;
        if arrived || arriving.settled(stored, TRADES_STALLED) || done_at.elapsed() > DRAIN_TIMEOUT
        {
            break summary;
        }
    };
    let stored = count(true).await?;
    let busy = last_change
        .saturating_duration_since(first_trade.unwrap_or(last_change))
        .as_secs_f64();
    let stream = runner.stream_state().await?;
    Ok(Rung {
        offered_trades_per_second: rate,
        trades_generated: summary.trades_generated,
        trades_stored: stored,
        loss: summary.trades_generated.saturating_sub(stored),
        stored_trades_per_second: stored as f64 / busy.max(f64::EPSILON),
        stream_messages: stream.messages,
        stream_bytes: stream.bytes,
    })
}

/// Kills the stream leader mid-run and measures the stall it causes.
async fn election(topology: &mut Topology, rate: u64) -> anyhow::Result<Election> {
    tokio::time::sleep(STALL_KILL_AFTER).await;
    let leader = topology
        .stream_leader()
        .await?
        .context("the stream has no leader")?;
    let progress = topology.watch_progress().await?;
    let killed = Instant::now();
    topology
        .nats
        .node_named(&leader)
        .context("the leader is a node of the cluster")?
        .kill()?;
    let mut new_leader_seconds = None;
    while killed.elapsed() < Duration::from_secs(STALL_RUN_SECONDS) - STALL_KILL_AFTER {
        tokio::time::sleep(STALL_POLL).await;
        let led_by = tokio::time::timeout(STALL_POLL * 5, topology.stream_leader()).await;
        if new_leader_seconds.is_none() && matches!(led_by, Ok(Ok(Some(name))) if name != leader) {
            new_leader_seconds = Some(killed.elapsed().as_secs_f64());
        }
        if topology.runner.sim_summary().await?.done {
            break;
        }
    }
    let stall = progress.stalls(killed, Instant::now()).publish;
    let rung = drive(&topology.runner, &topology.clickhouse, rate).await?;
    Ok(Election {
        offered_trades_per_second: rate,
        new_leader_seconds,
        publish_stall_seconds: stall.as_secs_f64(),
        loss: rung.loss,
    })
}

/// The best lossless rate of a ladder.
fn best(ladder: &[Rung]) -> Option<&Rung> {
    ladder
        .iter()
        .filter(|rung| rung.loss == 0)
        .max_by(|left, right| {
            left.stored_trades_per_second
                .total_cmp(&right.stored_trades_per_second)
        })
}

fn markdown(report: &Report) -> String {
    let mut text = format!(
        "# Cluster against one node\n\n{}\n\nServers: {}\n\n| topology | offered trades/s | trades stored/s | loss | stream bytes/trade |\n|---|---:|---:|---:|---:|\n",
        report.machine, report.servers
    );
    for (name, ladder) in [
        ("single node", &report.single),
        ("cluster", &report.cluster),
    ] {
        for rung in ladder {
            text += &format!(
                "| {name} | {} | {:.0} | {} | {:.1} |\n",
                rung.offered_trades_per_second,
                rung.stored_trades_per_second,
                rung.loss,
                rung.bytes_per_trade()
            );
        }
    }
    if let (Some(single), Some(cluster)) = (best(&report.single), best(&report.cluster)) {
        text += &format!(
            "\nBest lossless: single node {:.0} trades/s, cluster {:.0}: cluster / single = {:.2}\n",
            single.stored_trades_per_second,
            cluster.stored_trades_per_second,
            cluster.stored_trades_per_second / single.stored_trades_per_second
        );
    }
    if let (Some(one), Some(two)) = (report.single.first(), report.cluster.first()) {
        text += &format!(
            "\nStream bytes per trade at {} trades/s: one collector {:.1}, two collectors {:.1}: two / one = {:.3}\n",
            one.offered_trades_per_second,
            one.bytes_per_trade(),
            two.bytes_per_trade(),
            two.bytes_per_trade() / one.bytes_per_trade()
        );
    }
    let election = &report.election;
    text += &format!(
        "\nStream leader killed at {} trades/s: another node led after {}; the stream's last sequence stood still for at most {:.1} s; {} trades lost\n",
        election.offered_trades_per_second,
        election
            .new_leader_seconds
            .map_or_else(|| "(not seen)".to_owned(), |seconds| format!("{seconds:.1} s")),
        election.publish_stall_seconds,
        election.loss
    );
    text
}
