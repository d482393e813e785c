//! `cargo xtask e2e`: the pipeline end to end, against real NATS and ClickHouse.
//!
//! * `baseline`: the simulator emits N trades over several symbols at a high rate;
//!   ClickHouse must hold exactly those N trades with identical field values.
//! * `faults`: storage is killed with SIGKILL mid-run and restarted, and the simulator drops
//!   the collector's connection once; ClickHouse must hold exactly the trades the simulator
//!   wrote to open connections, without duplicates, one disconnect gap per symbol must cover
//!   the disconnected interval, and `trade_id_gap`s must name exactly the trades missed.
//! * `restarts`: the collector is killed with SIGKILL and started again, later stopped with
//!   SIGTERM and started again, while trades go on; every trade must be stored or named by a
//!   `trade_id_gap`, and each restart must leave a `restart` gap per symbol covering the
//!   trades lost.
//! * `books`: trades and order books of every symbol while the simulator breaks one symbol's
//!   book stream three times; every stored book must equal the simulator's true book at its
//!   update id, with exactly one sequence-break gap per break.
//!
//! * `zero-gap`: every venue with trades under load through dropped connections, stale
//!   snapshots, collector crashes and restarts, a full stop and start, and a 60 s NATS stop,
//!   with the backfill running; `trades FINAL` must hold every generated trade on every
//!   feed whose venue keeps the history, and every trade still missing must lie in a gap
//!   recorded `partial` or `unfillable` (see `zero_gap`).
//! * `venues`: every venue, channel and polled series at once; every table (trades, books,
//!   book deltas, funding rates, open interest, liquidations, volatility indices, long/short
//!   ratios) must hold exactly what the simulator sent.
//! * `thousand`: 1,000 instruments found by discovery, trades and books of each, while 20
//!   symbols are delisted, every connection is dropped once and 20 symbols are listed; every
//!   delivered trade stored once, books equal to the simulator's, one disconnect gap per
//!   instrument subscribed at the drop and no other, every venue's connection limits kept,
//!   and `instruments` holding every listing with its changes (see `thousand`).
//! * `captures`: every real capture of a feed the collector records, replayed by the
//!   simulator through the whole pipeline; every table must hold exactly what
//!   `marketprism replay` makes of the same capture.
//! * `gateway`: trades recorded through a dropped connection while a WebSocket client
//!   replays `/v1/stream` from the run's start into live; the client must get every event of
//!   the stream once, `/v1/replay` exactly the stored (= delivered) trades with gap rows,
//!   and `/v1/coverage` the stored gaps and counts (see `gateway`).
//! * `operations`: a deployment made by `marketprism up --sim` (authentication on) through
//!   a frozen nats-server, a JetStream disk filled below its threshold, clickhouse-server
//!   frozen for 90 s, and storage killed while the source is quiet; `status` and `/ready`
//!   must name each fault within their deadlines, everything must recover, and every
//!   delivered trade must be stored (see `operations`).
//! * `cluster`: a three-node JetStream cluster with streams of three replicas, two
//!   collectors on the same feeds, two storage workers and ClickHouse as two shards of two
//!   replicas, under load, through a killed stream leader, a node frozen for 20 s, a
//!   collector killed and a storage worker killed mid-batch; after each fault every trade
//!   delivered before it must be stored, and at the end every delivered trade exactly once,
//!   the replicas equal, with no feed gap (see `cluster`).
//! * `compat`: the baseline on the servers a local deployment finds (on Debian 12,
//!   nats-server 2.9 and clickhouse-server 18.16 with the legacy dialect), as `cargo xtask
//!   deploy --fresh` installs them.
//!
//! Every other scenario runs on current servers (see `marketprism-testkit`'s `Release`). The
//! report starts with the servers and versions each scenario ran against, then prints a table
//! of every check; it fails if any check fails.

mod captures;
mod checks;
mod cluster;
mod gateway;
mod instruments;
mod operations;
mod scenarios;
mod thousand;
mod venues;
mod zero_gap;

use std::time::Instant;

use anyhow::{bail, Context as _};

use crate::services;
use checks::Check;
use marketprism_testkit::Release;

/// Options of `cargo xtask e2e`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Trades in the baseline scenario.
    #[arg(long, default_value_t = 60_000)]
    pub trades: u64,
    /// Simulator rate of the baseline scenario, trades per second.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u32,
    /// Build and run the unoptimized binary (faster to build; sustains far lower rates,
    /// so lower `--rate` with it).
    #[arg(long)]
    pub debug: bool,
    /// Keep the logs and configs of the run in this directory.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
    /// Run only these scenarios (repeatable); all by default.
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<Scenario>,
}

/// The scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// N trades at a high rate, no faults.
    Baseline,
    /// Storage killed and restarted, the connection dropped.
    Faults,
    /// The collector killed and restarted, then stopped and restarted.
    Restarts,
    /// Order books with injected sequence breaks.
    Books,
    /// Every venue with trades through every fault, gaps filled by the backfill.
    ZeroGap,
    /// Every venue, channel and polled series.
    Venues,
    /// 1,000 instruments found by discovery through listings, delistings and a drop.
    Thousand,
    /// Real captures replayed through the pipeline, against `marketprism replay`.
    Captures,
    /// The gateway's replay, coverage and live stream against the truth of a run.
    Gateway,
    /// A deployment made by `up` through the faults an operator meets.
    Operations,
    /// A JetStream cluster, two collectors and two storage workers through faults.
    Cluster,
    /// The baseline on the servers a local deployment finds.
    Compat,
}

/// The scenarios of a run that names none, in order.
const ALL: [Scenario; 12] = [
    Scenario::Baseline,
    Scenario::Faults,
    Scenario::Restarts,
    Scenario::Books,
    Scenario::ZeroGap,
    Scenario::Venues,
    Scenario::Thousand,
    Scenario::Captures,
    Scenario::Gateway,
    Scenario::Operations,
    Scenario::Cluster,
    Scenario::Compat,
];

impl Scenario {
    /// The server releases the harness starts for the scenario; none for `operations`, whose
    /// `marketprism up` starts the servers it finds, as an operator's deployment does, and
    /// for `cluster`, which starts a cluster of its own.
    fn release(self) -> Option<Release> {
        match self {
            Scenario::Compat => Some(Release::Deployed),
            Scenario::Operations | Scenario::Cluster => None,
            _ => Some(Release::Current),
        }
    }
}

/// What `operations` runs against.
const UP_SERVERS: &str = "the nats-server and clickhouse-server `marketprism up` finds";

/// What `cluster` runs against.
const CLUSTER_SERVERS: &str = "three current nats-servers in a JetStream cluster; deployed: \
     clickhouse-server, two shards of two replicas, with ZooKeeper";

impl Default for Args {
    fn default() -> Self {
        Args {
            trades: 60_000,
            rate: 20_000,
            debug: false,
            keep: None,
            scenarios: Vec::new(),
        }
    }
}

/// Runs the scenarios `args` selects, prints the report and fails if any check failed.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let binary = marketprism_testkit::build_marketprism(!args.debug)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let scratch = tempfile::Builder::new()
        .prefix("marketprism-e2e-")
        .tempdir()?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    let selected: Vec<Scenario> = ALL
        .into_iter()
        .filter(|scenario| args.scenarios.is_empty() || args.scenarios.contains(scenario))
        .collect();
    let mut servers = Vec::new();
    let checks = runtime.block_on(async {
        let mut checks = Vec::new();
        for scenario in selected {
            // Each scenario gets fresh servers: its streams claim the same subjects.
            let mut services = match scenario.release() {
                Some(release) => {
                    let services = services::start(release)?;
                    println!("{scenario:?}: {}", services.description);
                    servers.push((scenario, services.description.clone()));
                    Some(services)
                }
                None => {
                    let description = match scenario {
                        Scenario::Cluster => CLUSTER_SERVERS,
                        _ => UP_SERVERS,
                    };
                    println!("{scenario:?}: {description}");
                    servers.push((scenario, description.to_owned()));
                    None
                }
            };
            checks.extend(match (scenario, services.as_mut()) {
                (Scenario::Operations, _) => {
                    operations::run(&binary, &dir.join("operations")).await?
                }
                (Scenario::Cluster, _) => cluster::run(&binary, &dir.join("cluster")).await?,
                (Scenario::Baseline, Some(services)) => {
                    scenarios::baseline("baseline", &binary, services, &args, &dir.join("baseline"))
                        .await?
                }
                (Scenario::Compat, Some(services)) => {
                    scenarios::baseline("compat", &binary, services, &args, &dir.join("compat"))
                        .await?
                }
                (Scenario::Faults, Some(services)) => {
                    scenarios::faults(&binary, services, &dir.join("faults")).await?
                }
                (Scenario::Restarts, Some(services)) => {
                    scenarios::restarts(&binary, services, &dir.join("restarts")).await?
                }
                (Scenario::Books, Some(services)) => {
                    scenarios::books(&binary, services, &dir.join("books")).await?
                }
                (Scenario::ZeroGap, Some(services)) => {
                    zero_gap::run(&binary, services, &dir.join("zero-gap")).await?
                }
                (Scenario::Venues, Some(services)) => {
                    venues::run(&binary, services, &dir.join("venues")).await?
                }
                (Scenario::Thousand, Some(services)) => {
                    thousand::run(&binary, services, &dir.join("thousand")).await?
                }
                (Scenario::Captures, Some(services)) => {
                    captures::run(&binary, services, &dir.join("captures")).await?
                }
                (Scenario::Gateway, Some(services)) => {
                    gateway::run(&binary, services, &dir.join("gateway")).await?
                }
                (_, None) => bail!("{scenario:?} needs the harness' servers"),
            });
        }
        anyhow::Ok(checks)
    })?;
    println!("servers:");
    for (scenario, description) in &servers {
        println!("  {scenario:?}: {description}");
    }
    checks::print_table(&checks);
    let failed = checks.iter().filter(|check| !check.passed).count();
    println!("e2e wall time: {:.1} s", started.elapsed().as_secs_f64());
    println!("e2e: {} passed, {} failed", checks.len() - failed, failed);
    if failed > 0 {
        if args.keep.is_none() {
            let kept = scratch.keep();
            println!("logs kept in {}", kept.display());
        }
        bail!("{failed} end-to-end check(s) failed");
    }
    Ok(())
}

/// Alias so scenario code reads naturally.
pub(crate) type Checks = Vec<Check>;
