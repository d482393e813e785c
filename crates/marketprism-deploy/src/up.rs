//! `marketprism up`: from nothing (or a partial deployment) to data flowing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use marketprism_bus::{Backoff, BusErrorKind};
use marketprism_servers::{
    find_binary, get_text, is_alive, log_tail, meta_leader, port_free, read_pid, spawn_daemon,
    stop, version_output, wait_ready, Binary, ClickHouseSpec, ClusterMembership, Endpoint,
    NatsSpec, SpawnError, ZooKeeperInstall, ZooKeeperSpec,
};

use crate::config::{clickhouse, nats, storage_config, write_service_configs};
use crate::layout::Ports;
use crate::processes::{processes, Instance, Process, CLUSTER_NAME};
use crate::status::{count_rows, within, DEFAULT_TIMEOUT};
use crate::{ClusterPorts, DeployError, Identity, Manifest, ServiceName, Source, StateDir};

/// How long ZooKeeper keeps the session of a ClickHouse node that stopped answering, in
/// milliseconds: a node that crashed may come back under its name after this long.
const ZOOKEEPER_SESSION_TIMEOUT_MS: u32 = 10_000;

/// Longest wait for a new JetStream cluster to elect its meta leader.
const META_LEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for a restarted JetStream cluster to answer for its streams.
const STREAM_LEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The state directory.
    pub state: StateDir,
    /// Use the simulator even if exchanges are reachable.
    pub sim: bool,
    /// Explicit `nats-server` path.
    pub nats_server: Option<PathBuf>,
    /// Explicit `clickhouse-server` path.
    pub clickhouse_server: Option<PathBuf>,
    /// Explicit `prometheus` path; without it Prometheus runs when one is found.
    pub prometheus: Option<PathBuf>,
    /// Ports for a new deployment (an existing one keeps its own).
    pub ports: Ports,
    /// For a new deployment: the cluster topology with these ports, instead of one of
    /// each server. An existing deployment keeps its topology; asking for a cluster where
    /// one machine's deployment exists is an error.
    pub cluster: Option<ClusterPorts>,
    /// The `marketprism` executable to run services with.
    pub marketprism: PathBuf,
    /// Simulator trades per second.
    pub sim_rate: u32,
    /// How long to wait for the first rows in ClickHouse.
    pub verify_timeout: Duration,
}

/// How a service ended up after `up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Started by this `up`.
    Started,
    /// Was already running and left alone.
    AlreadyRunning,
}

/// One process in the report.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// The service it runs.
    pub service: ServiceName,
    /// The process's name (see [`Process::name`]).
    pub name: String,
    /// Its pid.
    pub pid: u32,
    /// Its port.
    pub port: u16,
    /// Started now or already running.
    pub outcome: ServiceOutcome,
    /// Why a service that was already running is not ready (one started now is).
    pub not_ready: Option<String>,
    /// Its log file.
    pub log: PathBuf,
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpReport {
    /// The deployment.
    pub manifest: Manifest,
    /// State directory root.
    pub state_dir: PathBuf,
    /// Processes, in start order.
    pub services: Vec<ServiceReport>,
    /// `nats-server --version`.
    pub nats_version: String,
    /// `SELECT version()`.
    pub clickhouse_version: String,
    /// Rows per table (`FINAL`).
    pub rows: Vec<(String, u64)>,
    /// What the operator should know: the simulator replaced unreachable exchanges, or the
    /// source was quiet, so the data flow could not be verified.
    pub notices: Vec<String>,
}

/// A process to start, and the command starting it.
struct Planned {
    process: Process,
    command: Command,
}

const EXCHANGE_PROBE: &str = "stream.binance.com:9443";

/// The events the collector listening on `port` has published, as its metrics say; `None`
/// when it does not answer.
fn events_published(port: u16) -> Option<u64> {
    let metrics = get_text(&format!("http://127.0.0.1:{port}/metrics")).ok()?;
    metrics.lines().find_map(|line| {
        line.strip_prefix("marketprism_collector_events_published_total ")?
            .trim()
            .parse()
            .ok()
    })
}

fn exchanges_reachable() -> bool {
    use std::net::ToSocketAddrs;
    EXCHANGE_PROBE
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| {
            std::net::TcpStream::connect_timeout(&address, Duration::from_secs(3)).is_ok()
        })
}

/// Brings the deployment in `options.state` up, printing progress to `progress`.
pub async fn up(options: &UpOptions, progress: &mut dyn Write) -> Result<UpReport, DeployError> {
    let state = &options.state;
    state.create()?;
    let existing = state.manifest()?;
    let mut notices = Vec::new();
    let source = if options.sim {
        Source::Sim
    } else if let Some(manifest) = &existing {
        manifest.source
    } else if exchanges_reachable() {
        Source::Exchanges
    } else {
        notices.push(format!(
            "No exchange is reachable ({EXCHANGE_PROBE} did not answer): running against the built-in simulator. \
             Data in ClickHouse is simulated, not market data."
        ));
        Source::Sim
    };
    if options.cluster.is_some() && existing.as_ref().is_some_and(|m| m.cluster.is_none()) {
        return Err(DeployError::new(
            "deploying the cluster",
            format!(
                "{} holds a deployment of one server of each kind",
                state.root().display()
            ),
            "deploy the cluster in another state directory (`--state-dir`), or stop and remove this one first (`marketprism down`, then delete the directory)",
        ));
    }
    let prometheus = match &options.prometheus {
        Some(explicit) => Some(locate(Binary::Prometheus, Some(explicit))?),
        None => find_binary(Binary::Prometheus, None).ok(),
    };
    if prometheus.is_none() {
        notices.push(format!(
            "No Prometheus found: the services run without it, and nothing evaluates the \
             alert rules. To have `up` run it, {}.",
            Binary::Prometheus.install_hint()
        ));
    }
    let manifest = Manifest {
        source,
        ports: existing
            .as_ref()
            .map_or_else(|| options.ports.clone(), |manifest| manifest.ports.clone()),
        nats_server: locate(Binary::NatsServer, options.nats_server.as_deref())?,
        clickhouse_server: locate(
            Binary::ClickhouseServer,
            options.clickhouse_server.as_deref(),
        )?,
        database: existing.as_ref().map_or_else(
            || "marketprism".to_owned(),
            |manifest| manifest.database.clone(),
        ),
        prometheus,
        cluster: existing.as_ref().map_or_else(
            || options.cluster.clone(),
            |manifest| manifest.cluster.clone(),
        ),
    };
    state.write_manifest(&manifest)?;
    state.secrets().ensure()?;
    write_service_configs(state, &manifest)?;

    let mut started: Vec<(Process, u32)> = Vec::new();
    match bring_up(options, &manifest, progress, &mut started).await {
        Ok(mut report) => {
            report.notices.splice(0..0, notices);
            Ok(report)
        }
        Err(error) => {
            // The failed step's line is still open: close it, so that what follows (and the
            // error itself) starts on lines of its own.
            let _ = writeln!(progress, "failed");
            // Leave nothing half-started: stop, newest first, what this run started. These
            // are this process's unreaped children, so their pids cannot have been reused and
            // need no command-line check (which could miss a child that has not exec'd yet).
            for (process, pid) in started.iter().rev() {
                let _ = writeln!(
                    progress,
                    "  stopping {} (pid {pid}) after the failure",
                    process.name
                );
                stop(*pid, "", Duration::from_secs(10));
                let _ = std::fs::remove_file(process.pid_file(state));
            }
            Err(error)
        }
    }
}

/// Finds `binary` (see [`find_binary`]), naming the install command when it is missing.
fn locate(binary: Binary, explicit: Option<&Path>) -> Result<PathBuf, DeployError> {
    find_binary(binary, explicit).map_err(|error| {
        DeployError::new(
            format!("locating {}", binary.name()),
            error,
            binary.install_hint(),
        )
    })
}

async fn bring_up(
    options: &UpOptions,
    manifest: &Manifest,
    progress: &mut dyn Write,
    started: &mut Vec<(Process, u32)>,
) -> Result<UpReport, DeployError> {
    let state = &options.state;
    let mut plans = plan(state, manifest, &options.marketprism, options.sim_rate)?;
    let total = plans.len() + 3;
    let mut services = Vec::new();
    let mut step = 0;
    let mut announce = |progress: &mut dyn Write, text: &str| {
        step += 1;
        let _ = write!(progress, "[{step}/{total}] {text} ... ");
        let _ = progress.flush();
    };

    let mut initialized = false;
    for planned in plans.drain(..) {
        let service = planned.process.service;
        if !initialized && matches!(service, ServiceName::Sim | ServiceName::Storage) {
            announce(progress, "Applying the ClickHouse schema");
            let migrated = migrate(state, manifest).await?;
            let _ = writeln!(progress, "ok ({migrated})");
            announce(progress, "Creating the JetStream streams");
            let streams = init_streams(state, manifest).await?;
            let _ = writeln!(progress, "ok ({streams})");
            initialized = true;
        }
        announce(progress, &format!("Starting {}", planned.process.name));
        let service = start(state, planned, started)?;
        let _ = writeln!(
            progress,
            "{} (pid {}, port {}){}",
            if service.outcome == ServiceOutcome::Started {
                "started"
            } else {
                "already running"
            },
            service.pid,
            service.port,
            service
                .not_ready
                .as_ref()
                .map(|reason| format!(", not ready: {reason}"))
                .unwrap_or_default()
        );
        services.push(service);
    }
    let mut notices: Vec<String> = services
        .iter()
        .filter_map(|service| {
            let reason = service.not_ready.as_ref()?;
            Some(format!(
                "{} is running but not ready ({reason}); `marketprism status` shows when it is, \
                 `marketprism logs {}` why it is not.",
                service.name, service.name
            ))
        })
        .collect();

    announce(progress, "Verifying that rows reach ClickHouse");
    let client = clickhouse(state, manifest, Identity::Reader)
        .database_client()
        .map_err(|error| {
            DeployError::new(
                "verifying the data flow",
                error,
                "run `marketprism up` again, which creates missing credentials",
            )
        })?;
    let verified = Instant::now();
    let trades = marketprism_schema::migrations::TRADES.name;
    let before = count_rows(&client, trades, DEFAULT_TIMEOUT)
        .await
        .unwrap_or(0);
    let published_before = events_published(manifest.ports.collector);
    loop {
        let now = count_rows(&client, trades, DEFAULT_TIMEOUT)
            .await
            .unwrap_or(0);
        if now > before {
            let _ = writeln!(
                progress,
                "ok ({} new trades in {:.1} s)",
                now - before,
                verified.elapsed().as_secs_f64()
            );
            break;
        }
        if verified.elapsed() > options.verify_timeout {
            // A quiet source (a paused venue or simulator) proves nothing either way: every
            // service is ready, and undoing the restart would leave the deployment down.
            let published_after = events_published(manifest.ports.collector);
            if published_before.is_some() && published_after == published_before {
                let _ = writeln!(progress, "not verified: the source is quiet");
                notices.push(format!(
                    "The source is quiet: the collector published no event in {:?}, so no new \
                     row could show that data flows. Every service is ready; `marketprism \
                     status` shows when rows arrive.",
                    options.verify_timeout
                ));
                break;
            }
            return Err(DeployError::new(
                "verifying the data flow",
                format!("no new rows in {}.trades within {:?}", manifest.database, options.verify_timeout),
                format!(
                    "read the collector and storage logs: `marketprism logs collector` / `marketprism logs storage` (in {})",
                    state.root().join("logs").display()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut rows = Vec::new();
    for table in marketprism_schema::TABLES.map(|table| table.name) {
        rows.push((
            table.to_owned(),
            count_rows(&client, table, DEFAULT_TIMEOUT)
                .await
                .unwrap_or(0),
        ));
    }
    let clickhouse_version = within(DEFAULT_TIMEOUT, "asking for the version", async {
        client
            .query("SELECT version()")
            .fetch_one::<String>()
            .await
            .map_err(|error| error.to_string())
    })
    .await
    .unwrap_or_default();
    let nats_version = version_output(&manifest.nats_server).unwrap_or_default();
    Ok(UpReport {
        manifest: manifest.clone(),
        state_dir: state.root().to_owned(),
        services,
        nats_version,
        clickhouse_version,
        rows,
        notices,
    })
}

/// Starts a process unless it already runs, and waits until it is ready.
fn start(
    state: &StateDir,
    planned: Planned,
    started: &mut Vec<(Process, u32)>,
) -> Result<ServiceReport, DeployError> {
    let Planned { process, command } = planned;
    let port = process.port();
    let pid_file = process.pid_file(state);
    let log = process.log(state);
    let readiness = process.readiness(state);
    let step = format!("starting {}", process.name);
    let report = |pid, outcome, not_ready| ServiceReport {
        service: process.service,
        name: process.name.clone(),
        pid,
        port,
        outcome,
        not_ready,
        log: log.clone(),
    };
    if let Some(pid) = read_pid(&pid_file).filter(|&pid| is_alive(pid, &process.marker())) {
        // Left alone, but asked whether it is ready: running is not the same as working.
        let probe = readiness.probe(DEFAULT_TIMEOUT);
        return Ok(report(
            pid,
            ServiceOutcome::AlreadyRunning,
            (!probe.ready).then_some(probe.detail),
        ));
    }
    if let Some(taken) = process
        .all_ports()
        .into_iter()
        .find(|&port| !port_free(port))
    {
        return Err(DeployError::new(
            step,
            format!("port {taken} is already in use by another process"),
            format!(
                "stop the process listening on {taken} (`ss -ltnp 'sport = :{taken}'` shows it) or deploy with other ports (`marketprism up --port-base N`)"
            ),
        ));
    }
    let mut child = spawn_daemon(command, &log, &pid_file).map_err(|error| {
        let fix = match error {
            SpawnError::Run { .. } => "check that the file is an executable for this machine and may be run (`chmod +x`), or pass another path",
            SpawnError::Log { .. } | SpawnError::PidFile { .. } => "check that the state directory is writable",
        };
        DeployError::caused_by(step.clone(), &error, fix)
    })?;
    let pid = child.id();
    started.push((process.clone(), pid));

    // The Java and ClickHouse servers take longer to start than the others.
    let timeout = if matches!(
        process.service,
        ServiceName::Clickhouse | ServiceName::Zookeeper
    ) {
        Duration::from_secs(90)
    } else {
        Duration::from_secs(30)
    };
    match wait_ready(&mut child, &readiness, timeout) {
        Ok(()) => Ok(report(pid, ServiceOutcome::Started, None)),
        Err(not_ready) => Err(DeployError::new(
            step,
            format!(
                "{} {not_ready}; last log lines:\n{}",
                process.name,
                log_tail(&log, 15)
            ),
            format!("read {}", log.display()),
        )),
    }
}

/// Every process of the deployment with the command starting it, writing the servers'
/// configurations on the way.
fn plan(
    state: &StateDir,
    manifest: &Manifest,
    marketprism: &Path,
    sim_rate: u32,
) -> Result<Vec<Planned>, DeployError> {
    let clickhouse_users = state.secrets().clickhouse_users(&manifest.database)?;
    let configuring = |what: &str| {
        let step = format!("configuring {what}");
        move |error: std::io::Error| {
            DeployError::new(step, error, "check that the state directory is writable")
        }
    };
    let mut plans = Vec::new();
    for process in processes(state, manifest) {
        let command = match &process.instance {
            Instance::Nats {
                ports,
                config,
                store,
            } => NatsSpec {
                port: ports.client,
                store_dir: store,
                jetstream: true,
                config: Some(config),
            }
            .command_with_monitoring(&manifest.nats_server, ports.monitoring),
            Instance::ZooKeeper { port, dir } => {
                let install = ZooKeeperInstall::find().map_err(|error| {
                    DeployError::caused_by(
                        "locating ZooKeeper",
                        &error,
                        "install it (Debian: `apt-get install zookeeper`), which a ClickHouse cluster needs",
                    )
                })?;
                ZooKeeperSpec {
                    client_port: *port,
                    dir,
                }
                .command(&install)
                .map_err(configuring("ZooKeeper"))?
            }
            Instance::ClickHouse { ports, dir, node } => {
                let membership = node.and_then(|(shard, replica)| {
                    membership(state, manifest.cluster.as_ref()?, shard, replica)
                });
                ClickHouseSpec {
                    http_port: ports.http,
                    tcp_port: ports.tcp,
                    dir,
                    users: &clickhouse_users,
                    cluster: membership.as_ref(),
                }
                .command(&manifest.clickhouse_server)
                .map_err(configuring(&process.name))?
            }
            Instance::Sim { port } => {
                // Trade ids from the clock (a thousand per millisecond, far above the rate):
                // a restarted simulator never reuses the ids of trades already stored.
                let first_trade_id = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_millis())
                    .saturating_mul(1000);
                let mut sim = Command::new(marketprism);
                sim.args([
                    "sim",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--rate",
                    &sim_rate.to_string(),
                    "--symbols",
                    "BTCUSDT,ETHUSDT",
                    "--first-trade-id",
                    &first_trade_id.to_string(),
                ]);
                sim
            }
            Instance::Prometheus {
                port,
                config,
                store,
            } => {
                // Present whenever the process table has Prometheus.
                let binary = manifest
                    .prometheus
                    .as_deref()
                    .unwrap_or(Path::new("prometheus"));
                let mut prometheus = Command::new(binary);
                prometheus
                    .arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", store.display()))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                    .arg("--storage.tsdb.retention.time=15d");
                prometheus
            }
            Instance::Service {
                subcommand, config, ..
            } => {
                let mut command = Command::new(marketprism);
                command.arg(subcommand).arg("--config").arg(config);
                command
            }
        };
        plans.push(Planned { process, command });
    }
    Ok(plans)
}

/// What makes ClickHouse node (`shard`, `replica`) a member of the cluster: every node by
/// its native port, ZooKeeper, and the storage user to log in to the others as (it may
/// read and write the deployment's database and nothing else).
fn membership(
    state: &StateDir,
    cluster: &ClusterPorts,
    shard: usize,
    replica: usize,
) -> Option<ClusterMembership> {
    let node = cluster.clickhouse.get(shard)?.get(replica)?;
    let loopback = |port| Endpoint {
        host: "127.0.0.1".to_owned(),
        port,
    };
    Some(ClusterMembership {
        name: CLUSTER_NAME.to_owned(),
        shards: cluster
            .clickhouse
            .iter()
            .map(|replicas| replicas.iter().map(|node| loopback(node.tcp)).collect())
            .collect(),
        shard: format!("{:02}", shard + 1),
        replica: format!("r{}", replica + 1),
        interserver_http_port: node.interserver,
        zookeeper: vec![loopback(cluster.zookeeper)],
        zookeeper_session_timeout_ms: ZOOKEEPER_SESSION_TIMEOUT_MS,
        login: state.secrets().clickhouse_credentials(Identity::Storage),
    })
}

async fn migrate(state: &StateDir, manifest: &Manifest) -> Result<String, DeployError> {
    let config = storage_config(state, manifest)?;
    let report = marketprism_storage::migrate::migrate(&config.clickhouse).await.map_err(|error| {
        DeployError::new(
            "applying the ClickHouse schema",
            format!("ClickHouse refused the schema: {error}"),
            format!(
                "check that user `{}` may create databases and tables in `{}` and read the server log (`marketprism logs clickhouse`, in {})",
                config.clickhouse.user,
                config.clickhouse.database,
                state.root().join("logs").display()
            ),
        )
    })?;
    Ok(format!(
        "ClickHouse {}, {} dialect, {} applied, {} already applied",
        report.server_version,
        report.dialect,
        report.applied.len(),
        report.already_applied.len()
    ))
}

/// Creates the streams and the state bucket as the admin.
async fn init_streams(state: &StateDir, manifest: &Manifest) -> Result<String, DeployError> {
    let config = nats(state, manifest, Identity::Admin);
    let step = "creating the JetStream streams";
    if let Some(cluster) = &manifest.cluster {
        wait_for_meta_leader(cluster).await.map_err(|cause| {
            DeployError::new(
                step,
                cause,
                "read the nats-servers' logs (`marketprism logs nats`): each must reach the others' route ports",
            )
        })?;
    }
    let client = marketprism_bus::connect(&config, "marketprism-up")
        .await
        .map_err(|error| {
            DeployError::new(
                step,
                error,
                "check that nats-server runs (`marketprism logs nats`)",
            )
        })?;
    let context = jetstream::new(client);
    // A restarted cluster answers for a stream only once the stream has elected its leader,
    // seconds after the meta leader: until then its requests time out and are retried.
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
    let reports = loop {
        match marketprism_bus::ensure_streams(&context, &config.stream).await {
            Ok(reports) => break reports,
            Err(error)
                if manifest.cluster.is_some()
                    && error.kind() == BusErrorKind::Stream
                    && started.elapsed() < STREAM_LEADER_TIMEOUT =>
            {
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(error) => {
                let fix = if error.kind() == BusErrorKind::JetStreamDisabled {
                    "start nats-server with JetStream enabled (`nats-server --jetstream`, or `jetstream {}` in its config)"
                } else {
                    "read the NATS log (`marketprism logs nats`)"
                };
                return Err(DeployError::new(step, error, fix));
            }
        }
    };
    Ok(reports
        .iter()
        .map(|report| format!("{} {:?}", report.name, report.change))
        .collect::<Vec<_>>()
        .join(", "))
}

/// Waits until a nats-server of `cluster` reports the JetStream cluster's meta leader: only
/// then can streams be created.
async fn wait_for_meta_leader(cluster: &ClusterPorts) -> Result<(), String> {
    let monitoring: Vec<String> = cluster
        .nats
        .iter()
        .map(|node| format!("http://127.0.0.1:{}", node.monitoring))
        .collect();
    let started = Instant::now();
    loop {
        let urls = monitoring.clone();
        let leader =
            tokio::task::spawn_blocking(move || urls.iter().find_map(|url| meta_leader(url)))
                .await
                .ok()
                .flatten();
        if leader.is_some() {
            return Ok(());
        }
        if started.elapsed() > META_LEADER_TIMEOUT {
            return Err(format!(
                "the JetStream cluster elected no meta leader within {META_LEADER_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl std::fmt::Display for UpReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f)?;
        for notice in &self.notices {
            writeln!(f, "NOTE: {notice}\n")?;
        }
        writeln!(
            f,
            "MarketPrism is up (data source: {:?}).",
            self.manifest.source
        )?;
        writeln!(
            f,
            "  nats-server:  {} ({})",
            self.nats_version,
            self.manifest.nats_server.display()
        )?;
        writeln!(
            f,
            "  ClickHouse:   {} ({}), database {}",
            self.clickhouse_version,
            self.manifest.clickhouse_server.display(),
            self.manifest.database
        )?;
        writeln!(f)?;
        let width = self
            .services
            .iter()
            .map(|service| service.name.len())
            .max()
            .unwrap_or_default()
            .max(10);
        writeln!(
            f,
            "  {:<width$} {:<8} {:<6} {:<16} log",
            "service", "pid", "port", "state"
        )?;
        for service in &self.services {
            let state = match service.outcome {
                ServiceOutcome::Started => "started",
                ServiceOutcome::AlreadyRunning => "already running",
            };
            writeln!(
                f,
                "  {:<width$} {:<8} {:<6} {:<16} {}",
                service.name,
                service.pid,
                service.port,
                state,
                service.log.display()
            )?;
        }
        writeln!(f)?;
        let gateway = self.manifest.ports.gateway;
        writeln!(f, "  Status page:  http://127.0.0.1:{gateway}/")?;
        writeln!(
            f,
            "  API:          http://127.0.0.1:{gateway}/v1/ (coverage, replay, instruments, status; WS stream)"
        )?;
        if self.manifest.prometheus.is_some() {
            writeln!(
                f,
                "  Prometheus:   http://127.0.0.1:{}/alerts",
                self.manifest.ports.prometheus
            )?;
        }
        writeln!(f)?;
        for (table, rows) in &self.rows {
            writeln!(f, "  rows in {table}: {rows}")?;
        }
        let state_dir = self.state_dir.display();
        writeln!(f)?;
        writeln!(f, "Next:")?;
        writeln!(f, "  marketprism status --state-dir {state_dir}      health, consumer lag, rows per table")?;
        writeln!(f, "  marketprism logs collector --state-dir {state_dir}")?;
        let (reader, _) = Identity::Reader
            .clickhouse_user()
            .unwrap_or(("default", marketprism_servers::Access::ReadOnly));
        writeln!(
            f,
            "  clickhouse-client --port {} --user {reader} --password \"$(cat {})\" -q 'SELECT * FROM {}.trades FINAL LIMIT 10'",
            self.manifest.ports.clickhouse_tcp,
            StateDir::new(&self.state_dir)
                .secrets()
                .clickhouse_password_file(Identity::Reader)
                .display(),
            self.manifest.database
        )?;
        writeln!(
            f,
            "  marketprism down --state-dir {state_dir}        stop without losing data"
        )
    }
}
