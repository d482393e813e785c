//! `up`, `status`, `down` and `logs`: the command-line face of `marketprism-deploy`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use marketprism_deploy::{
    default_state_dir, processes, ClusterPorts, Ports, StateDir, UpOptions, CLUSTER_PORTS,
};

/// The first port of a cluster deployment without `--port-base`: NATS keeps its customary
/// client port, and the cluster's other ports follow it.
const DEFAULT_CLUSTER_PORT_BASE: u16 = 4222;

/// Where the deployment lives.
#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// State directory (default: `$XDG_STATE_HOME/marketprism` or `~/.local/state/marketprism`).
    #[arg(long, env = "MARKETPRISM_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

impl StateArgs {
    fn state(&self) -> StateDir {
        StateDir::new(self.state_dir.clone().unwrap_or_else(default_state_dir))
    }
}

/// Options of `marketprism up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Use the built-in simulator as the data source (the default when no exchange answers).
    #[arg(long)]
    sim: bool,
    /// The `nats-server` executable (default: found on PATH).
    #[arg(long, env = "MARKETPRISM_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// The `clickhouse-server` or `clickhouse` executable (default: found on PATH).
    #[arg(long, env = "MARKETPRISM_CLICKHOUSE_SERVER")]
    clickhouse_server: Option<PathBuf>,
    /// The `prometheus` executable (default: found on PATH; without one, `up` runs no
    /// Prometheus).
    #[arg(long, env = "MARKETPRISM_PROMETHEUS")]
    prometheus: Option<PathBuf>,
    /// Use ports N..N+9 (NATS, ClickHouse HTTP, ClickHouse native, simulator, storage,
    /// collector, NATS monitoring, backfill, gateway, Prometheus) instead of 4222, 8123, 9000,
    /// 9443, 9102, 9101, 8222, 9103, 9104, 9090; with --cluster, ports N..N+29 (default
    /// 4222..4251). Only for a new deployment.
    #[arg(long)]
    port_base: Option<u16>,
    /// Deploy the cluster topology: three nats-servers in a JetStream cluster (streams with
    /// three replicas), ZooKeeper and two ClickHouse shards of two replicas, two storage
    /// workers sharing one consumer and two collectors recording the same feeds. Needs
    /// ZooKeeper (Debian: `apt-get install zookeeper`). Only for a new deployment.
    #[arg(long)]
    cluster: bool,
    /// Simulator trades per second.
    #[arg(long, default_value_t = 50)]
    sim_rate: u32,
    /// Seconds to wait for the first rows in ClickHouse.
    #[arg(long, default_value_t = 60)]
    verify_timeout: u64,
}

/// Options of `marketprism logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[command(flatten)]
    state: StateArgs,
    /// A service (nats, zookeeper, clickhouse, sim, storage, collector, backfill, gateway,
    /// prometheus: every instance of it in a cluster) or one process of a cluster (e.g.
    /// nats-2, clickhouse-1-2, collector-1).
    service: String,
    /// Lines to print.
    #[arg(long, short = 'n', default_value_t = 50)]
    lines: usize,
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let (ports, cluster) = if args.cluster {
        let base = args.port_base.unwrap_or(DEFAULT_CLUSTER_PORT_BASE);
        let (ports, cluster) = ClusterPorts::from_base(base).with_context(|| {
            format!("--port-base too high: a cluster needs {CLUSTER_PORTS} ports from it")
        })?;
        (ports, Some(cluster))
    } else {
        let ports = match args.port_base {
            Some(base) => Ports::from_base(base).context("--port-base too high")?,
            None => Ports::default(),
        };
        (ports, None)
    };
    let options = UpOptions {
        state: args.state.state(),
        sim: args.sim,
        nats_server: args.nats_server,
        clickhouse_server: args.clickhouse_server,
        prometheus: args.prometheus,
        ports,
        cluster,
        marketprism: std::env::current_exe().context("cannot locate the marketprism executable")?,
        sim_rate: args.sim_rate,
        verify_timeout: Duration::from_secs(args.verify_timeout),
    };
    println!(
        "Deploying MarketPrism in {}",
        options.state.root().display()
    );
    let report = marketprism_deploy::up(&options, &mut std::io::stdout()).await?;
    print!("{report}");
    Ok(())
}

/// Options of `marketprism status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    state: StateArgs,
    /// Seconds each check (a service's health, a NATS or ClickHouse query) may take before
    /// it is reported as timed out.
    #[arg(long, default_value_t = marketprism_deploy::DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let timeout = Duration::try_from_secs_f64(args.timeout)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let report = marketprism_deploy::status(&args.state.state(), timeout).await?;
    print!("{report}");
    if let Some(problem) = report.first_problem() {
        bail!(
            "{problem}\n{} of {} services are not ready",
            report.not_ready(),
            report.services.len()
        );
    }
    Ok(())
}

pub async fn down(args: StateArgs) -> anyhow::Result<()> {
    marketprism_deploy::down(&args.state(), &mut std::io::stdout()).await?;
    println!(
        "MarketPrism is stopped; its data stays in {}.",
        args.state().root().display()
    );
    Ok(())
}

pub fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let state = args.state.state();
    let manifest = state.require_manifest("reading the deployment")?;
    let all = processes(&state, &manifest);
    let chosen: Vec<_> = all
        .iter()
        .filter(|process| process.name == args.service || process.service.as_str() == args.service)
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = all.iter().map(|process| process.name.as_str()).collect();
        bail!(
            "unknown service {:?}; choose one of {}",
            args.service,
            names.join(", ")
        );
    }
    for process in &chosen {
        let path = process.log(&state);
        let text = marketprism_servers::tail(&path, args.lines)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if chosen.len() > 1 {
            println!("==> {} ({}) <==", process.name, path.display());
        }
        if !text.is_empty() {
            println!("{text}");
        }
    }
    Ok(())
}
