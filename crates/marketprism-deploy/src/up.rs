//! `marketprism up`: from nothing (or a partial deployment) to data flowing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use marketprism_servers::{
    find_binary, get_text, is_alive, log_tail, port_free, read_pid, spawn_daemon, stop,
    version_output, wait_ready, Binary, ClickHouseSpec, NatsSpec, SpawnError,
};

use crate::config::{
    backfill_path, clickhouse, collector_path, nats, nats_config_path, storage_config,
    storage_path, write_service_configs,
};
use crate::layout::Ports;
use crate::status::{count_rows, within, DEFAULT_TIMEOUT};
use crate::{DeployError, Identity, Manifest, ServiceName, Source, StateDir};

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
    /// Ports for a new deployment (an existing one keeps its own).
    pub ports: Ports,
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

/// One service in the report.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// Which service.
    pub name: ServiceName,
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
    /// Services, in start order.
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

/// A service to start.
struct Planned {
    name: ServiceName,
    command: Command,
    marker: String,
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
    let mut notice = None;
    let source = if options.sim {
        Source::Sim
    } else if let Some(manifest) = &existing {
        manifest.source
    } else if exchanges_reachable() {
        Source::Exchanges
    } else {
        notice = Some(format!(
            "No exchange is reachable ({EXCHANGE_PROBE} did not answer): running against the built-in simulator. \
             Data in ClickHouse is simulated, not market data."
        ));
        Source::Sim
    };
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
    };
    state.write_manifest(&manifest)?;
    state.secrets().ensure()?;
    write_service_configs(state, &manifest)?;

    let mut started: Vec<(ServiceName, u32)> = Vec::new();
    match bring_up(options, &manifest, progress, &mut started).await {
        Ok(mut report) => {
            report.notices.splice(0..0, notice);
            Ok(report)
        }
        Err(error) => {
            // The failed step's line is still open: close it, so that what follows (and the
            // error itself) starts on lines of its own.
            let _ = writeln!(progress, "failed");
            // Leave nothing half-started: stop, newest first, what this run started. These
            // are this process's unreaped children, so their pids cannot have been reused and
            // need no command-line check (which could miss a child that has not exec'd yet).
            for (name, pid) in started.iter().rev() {
                let _ = writeln!(
                    progress,
                    "  stopping {} (pid {pid}) after the failure",
                    name.as_str()
                );
                stop(*pid, "", Duration::from_secs(10));
                let _ = std::fs::remove_file(state.pid_file(*name));
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
    started: &mut Vec<(ServiceName, u32)>,
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
        if !initialized && matches!(planned.name, ServiceName::Sim | ServiceName::Storage) {
            announce(progress, "Applying the ClickHouse schema");
            let migrated = migrate(state).await?;
            let _ = writeln!(progress, "ok ({migrated})");
            announce(progress, "Creating the JetStream streams");
            let streams = init_streams(state, manifest).await?;
            let _ = writeln!(progress, "ok ({streams})");
            initialized = true;
        }
        announce(progress, &format!("Starting {}", planned.name.as_str()));
        let service = start(state, &manifest.ports, planned, started)?;
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
                service.name.as_str(),
                service.name.as_str()
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
                    "read the collector and storage logs: `marketprism logs collector` / `marketprism logs storage` ({})",
                    state.log(ServiceName::Collector).display()
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

/// Starts a service unless it already runs, and waits until it is ready.
fn start(
    state: &StateDir,
    ports: &Ports,
    planned: Planned,
    started: &mut Vec<(ServiceName, u32)>,
) -> Result<ServiceReport, DeployError> {
    let name = planned.name;
    let port = name.port(ports);
    let pid_file = state.pid_file(name);
    let log = state.log(name);
    let step = format!("starting {}", name.as_str());
    if let Some(pid) = read_pid(&pid_file).filter(|&pid| is_alive(pid, &planned.marker)) {
        // Left alone, but asked whether it is ready: running is not the same as working.
        let probe = name.readiness(state, ports).probe(DEFAULT_TIMEOUT);
        return Ok(ServiceReport {
            name,
            pid,
            port,
            outcome: ServiceOutcome::AlreadyRunning,
            not_ready: (!probe.ready).then_some(probe.detail),
            log,
        });
    }
    if let Some(taken) = name
        .all_ports(ports)
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
    let mut child = spawn_daemon(planned.command, &log, &pid_file).map_err(|error| {
        let fix = match error {
            SpawnError::Run { .. } => "check that the file is an executable for this machine and may be run (`chmod +x`), or pass another path",
            SpawnError::Log { .. } | SpawnError::PidFile { .. } => "check that the state directory is writable",
        };
        DeployError::caused_by(step.clone(), &error, fix)
    })?;
    let pid = child.id();
    started.push((name, pid));

    let timeout = if name == ServiceName::Clickhouse {
        Duration::from_secs(90)
    } else {
        Duration::from_secs(30)
    };
    match wait_ready(&mut child, &name.readiness(state, ports), timeout) {
        Ok(()) => Ok(ServiceReport {
            name,
            pid,
            port,
            outcome: ServiceOutcome::Started,
            not_ready: None,
            log,
        }),
        Err(not_ready) => Err(DeployError::new(
            step,
            format!(
                "{} {not_ready}; last log lines:\n{}",
                name.as_str(),
                log_tail(&log, 15)
            ),
            format!("read {}", log.display()),
        )),
    }
}

fn plan(
    state: &StateDir,
    manifest: &Manifest,
    marketprism: &Path,
    sim_rate: u32,
) -> Result<Vec<Planned>, DeployError> {
    let ports = &manifest.ports;
    let nats_dir = state.nats_dir();
    let nats_config = nats_config_path(state);
    let nats = NatsSpec {
        port: ports.nats,
        store_dir: &nats_dir,
        jetstream: true,
        config: Some(&nats_config),
    }
    .command_with_monitoring(&manifest.nats_server, ports.nats_monitoring);
    let clickhouse_dir = state.clickhouse_dir();
    let clickhouse_users = state.secrets().clickhouse_users(&manifest.database)?;
    let clickhouse = ClickHouseSpec {
        http_port: ports.clickhouse_http,
        tcp_port: ports.clickhouse_tcp,
        dir: &clickhouse_dir,
        users: &clickhouse_users,
        cluster: None,
    }
    .command(&manifest.clickhouse_server)
    .map_err(|error| {
        DeployError::new(
            "configuring ClickHouse",
            error,
            "check that the state directory is writable",
        )
    })?;
    let service = |subcommand: &str, config: PathBuf| {
        let mut command = Command::new(marketprism);
        command.arg(subcommand).arg("--config").arg(config);
        command
    };
    let mut plans = vec![
        Planned {
            name: ServiceName::Nats,
            command: nats,
            marker: state.process_marker(ServiceName::Nats, ports),
        },
        Planned {
            name: ServiceName::Clickhouse,
            command: clickhouse,
            marker: state.process_marker(ServiceName::Clickhouse, ports),
        },
    ];
    if manifest.source == Source::Sim {
        let listen = format!("127.0.0.1:{}", ports.sim);
        let mut sim = Command::new(marketprism);
        sim.args([
            "sim",
            "--listen",
            &listen,
            "--rate",
            &sim_rate.to_string(),
            "--symbols",
            "BTCUSDT,ETHUSDT",
        ]);
        plans.push(Planned {
            name: ServiceName::Sim,
            command: sim,
            marker: state.process_marker(ServiceName::Sim, ports),
        });
    }
    plans.push(Planned {
        name: ServiceName::Storage,
        command: service("store", storage_path(state)),
        marker: state.process_marker(ServiceName::Storage, ports),
    });
    plans.push(Planned {
        name: ServiceName::Collector,
        command: service("collect", collector_path(state)),
        marker: state.process_marker(ServiceName::Collector, ports),
    });
    plans.push(Planned {
        name: ServiceName::Backfill,
        command: service("backfill", backfill_path(state)),
        marker: state.process_marker(ServiceName::Backfill, ports),
    });
    Ok(plans)
}

async fn migrate(state: &StateDir) -> Result<String, DeployError> {
    let config = storage_config(state)?;
    let report = marketprism_storage::migrate::migrate(&config.clickhouse).await.map_err(|error| {
        DeployError::new(
            "applying the ClickHouse schema",
            format!("ClickHouse refused the schema: {error}"),
            format!(
                "check that user `{}` may create databases and tables in `{}` and read the server log ({})",
                config.clickhouse.user,
                config.clickhouse.database,
                state.log(ServiceName::Clickhouse).display()
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
    let reports = marketprism_bus::ensure_streams(&context, &config.stream).await.map_err(|error| {
        let fix = if matches!(error, marketprism_bus::BusError::JetStreamDisabled { .. }) {
            "start nats-server with JetStream enabled (`nats-server --jetstream`, or `jetstream {}` in its config)"
        } else {
            "read the NATS log (`marketprism logs nats`)"
        };
        DeployError::new(step, error, fix)
    })?;
    Ok(reports
        .iter()
        .map(|report| format!("{} {:?}", report.name, report.change))
        .collect::<Vec<_>>()
        .join(", "))
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
        writeln!(
            f,
            "  {:<10} {:<8} {:<6} {:<16} log",
            "service", "pid", "port", "state"
        )?;
        for service in &self.services {
            let state = match service.outcome {
                ServiceOutcome::Started => "started",
                ServiceOutcome::AlreadyRunning => "already running",
            };
            writeln!(
                f,
                "  {:<10} {:<8} {:<6} {:<16} {}",
                service.name.as_str(),
                service.pid,
                service.port,
                state,
                service.log.display()
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
