//! `marketprism status`: the health of every process (every node of a cluster), the
//! stream's replicas, consumer lag, rows per table, last event per venue.
//!
//! Every check is bounded: a service or query that does not answer in time is reported as
//! "timed out after N s", never as healthy, and never makes `status` wait longer.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use clickhouse::Row;
use marketprism_storage::ClickHouseConfig;
use serde::Deserialize;

use marketprism_servers::{is_alive, is_stopped, read_pid};

use crate::config::{backfill_config, clickhouse, nats, storage_config};
use crate::processes::{processes, Instance, Process};
use crate::{DeployError, Identity, ServiceName, StateDir};

/// How long each check may take unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The state of one process.
#[derive(Debug, Clone)]
pub struct ServiceState {
    /// The service it runs.
    pub service: ServiceName,
    /// The process's name (see [`Process::name`]).
    pub name: String,
    /// Its recorded pid.
    pub pid: Option<u32>,
    /// Whether the process runs.
    pub running: bool,
    /// Whether its health check passed.
    pub healthy: bool,
    /// The check's detail.
    pub detail: String,
}

/// Everything `status` reports.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// Processes in start order.
    pub services: Vec<ServiceState>,
    /// On a cluster, where the event stream's copies are: its leader, and each replica
    /// with whether it is current; or why that is unknown.
    pub stream_replicas: Option<Result<String, String>>,
    /// Storage consumer: messages (pending, awaiting ack), or why they are unknown; a
    /// message carries one or more events.
    pub consumer_lag: Result<(u64, u64), String>,
    /// Backfill consumer: gap messages (pending, being filled), or why they are unknown.
    pub backfill_progress: Result<(u64, u64), String>,
    /// Rows per table, or why they are unknown.
    pub rows: Result<Vec<(String, u64)>, String>,
    /// Gaps by their latest status (`open`, `closed`, `filled`, `partial`, `unfillable`), or
    /// why they are unknown.
    pub gaps: Result<Vec<(String, u64)>, String>,
    /// Latest event time per feed: (exchange, market, symbol, exchange time ms), or why it
    /// is unknown.
    pub last_events: Result<Vec<(String, String, String, i64)>, String>,
}

impl StatusReport {
    /// The first service that is not ready, with its cause, e.g. `clickhouse: timed out
    /// after 3 s answering http://127.0.0.1:8123/?query=SELECT%201`.
    pub fn first_problem(&self) -> Option<String> {
        self.services
            .iter()
            .find(|service| !service.healthy)
            .map(|service| format!("{}: {}", service.name, service.detail))
    }

    /// The services that are not ready.
    pub fn not_ready(&self) -> usize {
        self.services
            .iter()
            .filter(|service| !service.healthy)
            .count()
    }
}

#[derive(Debug, Row, Deserialize)]
struct GapCount {
    status: String,
    gaps: u64,
}

#[derive(Debug, Row, Deserialize)]
struct LastEvent {
    exchange: String,
    market_type: String,
    symbol: String,
    last: i64,
}

/// Inspects the deployment in `state`, giving every check (a service's health, a NATS or
/// ClickHouse query) at most `timeout`.
pub async fn status(state: &StateDir, timeout: Duration) -> Result<StatusReport, DeployError> {
    let manifest = state.require_manifest("reading the deployment")?;
    let config = storage_config(state, &manifest)?;
    let processes = processes(state, &manifest);
    let services = services(state, &processes, timeout);
    let healthy = |service: ServiceName| {
        services
            .iter()
            .any(|process| process.service == service && process.healthy)
    };
    // The first ClickHouse node that answers: on a cluster any node reads every shard.
    let clickhouse_url = processes
        .iter()
        .zip(&services)
        .find_map(|(process, checked)| match &process.instance {
            Instance::ClickHouse { ports, .. } if checked.healthy => {
                Some(format!("http://127.0.0.1:{}", ports.http))
            }
            _ => None,
        });
    let backfill = backfill_config(state, &manifest).map_err(|error| error.to_string());
    let clustered = manifest.cluster.is_some();
    let nats = async {
        if !healthy(ServiceName::Nats) {
            let reason = "NATS is not ready".to_owned();
            return (
                Err(reason.clone()),
                Err(reason.clone()),
                clustered.then_some(Err(reason)),
            );
        }
        let reader = nats(state, &manifest, Identity::Reader);
        let context = match jetstream_context(&reader, timeout).await {
            Ok(context) => context,
            Err(reason) => {
                return (
                    Err(reason.clone()),
                    Err(reason.clone()),
                    clustered.then_some(Err(reason)),
                )
            }
        };
        let backfill_progress = async {
            let backfill = backfill.as_ref().map_err(Clone::clone)?;
            consumer_state(
                &context,
                &backfill.nats.stream.name,
                &backfill.consumer.durable_name,
                timeout,
            )
            .await
        };
        let replicas = async {
            if clustered {
                Some(stream_replicas(&context, &config.nats.stream.name, timeout).await)
            } else {
                None
            }
        };
        tokio::join!(lag(&context, &config, timeout), backfill_progress, replicas)
    };
    let clickhouse = async {
        let Some(url) = clickhouse_url else {
            let reason = "ClickHouse is not ready".to_owned();
            return (Err(reason.clone()), Err(reason.clone()), Err(reason));
        };
        let reader = ClickHouseConfig {
            url,
            ..clickhouse(state, &manifest, Identity::Reader)
        };
        match reader.database_client() {
            Ok(client) => tokio::join!(
                rows(&client, timeout),
                gaps(&client, timeout),
                last_events(&client, timeout),
            ),
            Err(error) => {
                let reason = format!("clickhouse: {error}");
                (Err(reason.clone()), Err(reason.clone()), Err(reason))
            }
        }
    };
    let ((consumer_lag, backfill_progress, stream_replicas), (rows, gaps, last_events)) =
        tokio::join!(nats, clickhouse);
    Ok(StatusReport {
        services,
        stream_replicas,
        consumer_lag,
        backfill_progress,
        rows,
        gaps,
        last_events,
    })
}

/// Checks every process of the deployment at once, each within `timeout` (blocking the
/// calling thread meanwhile).
fn services(state: &StateDir, processes: &[Process], timeout: Duration) -> Vec<ServiceState> {
    std::thread::scope(|scope| {
        let checks: Vec<_> = processes
            .iter()
            .map(|process| scope.spawn(move || service(state, process, timeout)))
            .collect();
        checks
            .into_iter()
            .map(|check| match check.join() {
                Ok(service) => service,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Checks one process: whether it runs, then its readiness within `timeout`.
fn service(state: &StateDir, process: &Process, timeout: Duration) -> ServiceState {
    let pid = read_pid(&process.pid_file(state));
    let running = pid.is_some_and(|pid| is_alive(pid, &process.marker()));
    let (healthy, detail) = match pid {
        Some(pid) if running => {
            let probe = process.readiness(state).probe(timeout);
            let mut detail = probe.detail;
            if !probe.ready && is_stopped(pid) {
                detail.push_str(&format!(
                    "; the process is stopped by a signal (`kill -CONT {pid}` resumes it)"
                ));
            }
            (probe.ready, detail)
        }
        _ => (false, "not running".to_owned()),
    };
    ServiceState {
        service: process.service,
        name: process.name.clone(),
        pid,
        running,
        healthy,
        detail,
    }
}

/// The leader of `stream` and each of its other replicas with whether it is current,
/// asked within `timeout`, e.g. `leader nats-2; nats-1 current, nats-3 behind by 12 operations`.
async fn stream_replicas(
    context: &jetstream::Context,
    stream: &str,
    timeout: Duration,
) -> Result<String, String> {
    let doing = format!("asking for stream {stream}");
    let info = within(timeout, &doing, async {
        context
            .get_stream(stream)
            .await
            .map_err(|error| format!("stream {stream}: {error}"))?
            .info()
            .await
            .cloned()
            .map_err(|error| format!("stream {stream}: {error}"))
    })
    .await
    .map_err(|error| format!("nats: {error}"))?;
    let Some(cluster) = info.cluster else {
        return Ok("no cluster information".to_owned());
    };
    let leader = cluster
        .leader
        .unwrap_or_else(|| "none (an election is under way)".to_owned());
    let replicas: Vec<String> = cluster
        .replicas
        .iter()
        .map(|replica| {
            let state = if replica.offline {
                "offline".to_owned()
            } else if replica.current {
                "current".to_owned()
            } else {
                format!("behind by {} operations", replica.lag.unwrap_or_default())
            };
            format!("{} {state}", replica.name)
        })
        .collect();
    Ok(format!("leader {leader}; {}", replicas.join(", ")))
}

/// `work`, or an error saying that it took longer than `timeout` while `doing` something.
pub(crate) async fn within<T>(
    timeout: Duration,
    doing: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(timed_out(timeout, doing)))
}

/// `timed out after 3 s counting rows in trades`.
fn timed_out(timeout: Duration, doing: &str) -> String {
    format!("timed out after {} s {doing}", timeout.as_secs_f64())
}

/// Rows per table, each count within `timeout`; stops at the first that fails.
async fn rows(
    client: &clickhouse::Client,
    timeout: Duration,
) -> Result<Vec<(String, u64)>, String> {
    let mut rows = Vec::new();
    for table in marketprism_schema::TABLES.map(|table| table.name) {
        let count = count_rows(client, table, timeout)
            .await
            .map_err(|error| format!("clickhouse: {error}"))?;
        rows.push((table.to_owned(), count));
    }
    Ok(rows)
}

/// `SELECT count() FROM table FINAL`, within `timeout`.
pub(crate) async fn count_rows(
    client: &clickhouse::Client,
    table: &str,
    timeout: Duration,
) -> Result<u64, String> {
    within(timeout, &format!("counting rows in {table}"), async {
        client
            .query(&format!("SELECT count() FROM {table} FINAL"))
            .fetch_one::<u64>()
            .await
            .map_err(|error| format!("counting rows in {table}: {error}"))
    })
    .await
}

/// Gaps per latest status, within `timeout`.
async fn gaps(
    client: &clickhouse::Client,
    timeout: Duration,
) -> Result<Vec<(String, u64)>, String> {
    let gaps = marketprism_schema::migrations::GAPS.name;
    let doing = format!("counting gaps by status in {gaps}");
    let counts = within(timeout, &doing, async {
        client
            .query(&format!(
                "SELECT status, count() AS gaps FROM {gaps} FINAL GROUP BY status ORDER BY status"
            ))
            .fetch_all::<GapCount>()
            .await
            .map_err(|error| format!("{doing}: {error}"))
    })
    .await
    .map_err(|error| format!("clickhouse: {error}"))?;
    Ok(counts
        .into_iter()
        .map(|count| (count.status, count.gaps))
        .collect())
}

/// The latest trade per feed, within `timeout`.
async fn last_events(
    client: &clickhouse::Client,
    timeout: Duration,
) -> Result<Vec<(String, String, String, i64)>, String> {
    let trades = marketprism_schema::migrations::TRADES.name;
    let doing = format!("querying the last trade per feed in {trades}");
    let latest = within(timeout, &doing, async {
        client
            .query(&format!(
                "SELECT exchange, market_type, symbol, max(exchange_time) AS last FROM {trades} \
                 GROUP BY exchange, market_type, symbol ORDER BY exchange, market_type, symbol"
            ))
            .fetch_all::<LastEvent>()
            .await
            .map_err(|error| format!("{doing}: {error}"))
    })
    .await
    .map_err(|error| format!("clickhouse: {error}"))?;
    Ok(latest
        .into_iter()
        .map(|row| (row.exchange, row.market_type, row.symbol, row.last))
        .collect())
}

/// Connects to NATS as `config` says within `timeout`, for lag queries.
pub(crate) async fn jetstream_context(
    config: &marketprism_bus::Config,
    timeout: Duration,
) -> Result<jetstream::Context, String> {
    let url = config.url.as_str();
    let client = within(timeout, &format!("connecting to {url}"), async {
        marketprism_bus::connect(config, "marketprism-status")
            .await
            .map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| format!("nats: {error}"))?;
    Ok(jetstream::new(client))
}

/// The storage consumer's (pending, awaiting ack) counts, asked within `timeout`.
pub(crate) async fn lag(
    context: &jetstream::Context,
    config: &marketprism_storage::Config,
    timeout: Duration,
) -> Result<(u64, u64), String> {
    consumer_state(
        context,
        &config.nats.stream.name,
        &config.consumer.durable_name,
        timeout,
    )
    .await
}

/// The (pending, awaiting ack) counts of consumer `durable` of `stream`, asked within
/// `timeout`.
async fn consumer_state(
    context: &jetstream::Context,
    stream: &str,
    durable: &str,
    timeout: Duration,
) -> Result<(u64, u64), String> {
    within(
        timeout,
        &format!("asking for consumer {durable} of stream {stream}"),
        async {
            let mut consumer: jetstream::consumer::PullConsumer = context
                .get_stream(stream)
                .await
                .map_err(|error| format!("stream {stream}: {error}"))?
                .get_consumer(durable)
                .await
                .map_err(|error| format!("consumer {durable}: {error}"))?;
            let info = consumer
                .info()
                .await
                .map_err(|error| format!("consumer {durable}: {error}"))?;
            Ok((info.num_pending, info.num_ack_pending as u64))
        },
    )
    .await
    .map_err(|error| format!("nats: {error}"))
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .services
            .iter()
            .map(|service| service.name.len() + 1)
            .max()
            .unwrap_or_default()
            .max(10);
        writeln!(
            f,
            "{:<width$} {:<9} {:<8} detail",
            "service", "state", "pid"
        )?;
        for service in &self.services {
            let state = match (service.running, service.healthy) {
                (true, true) => "healthy",
                (true, false) => "unhealthy",
                (false, _) => "stopped",
            };
            let pid = service
                .pid
                .map_or_else(|| "-".to_owned(), |pid| pid.to_string());
            writeln!(
                f,
                "{:<width$} {:<9} {:<8} {}",
                service.name, state, pid, service.detail
            )?;
        }
        match &self.stream_replicas {
            Some(Ok(replicas)) => writeln!(f, "stream replicas: {replicas}")?,
            Some(Err(reason)) => writeln!(f, "stream replicas: unknown ({reason})")?,
            None => {}
        }
        match &self.consumer_lag {
            Ok((pending, acking)) => writeln!(
                f,
                "storage consumer lag: {pending} messages pending, {acking} awaiting ack"
            )?,
            Err(reason) => writeln!(f, "storage consumer lag: unknown ({reason})")?,
        }
        match &self.backfill_progress {
            Ok((pending, filling)) => writeln!(
                f,
                "backfill: {pending} gap messages waiting, {filling} being filled"
            )?,
            Err(reason) => writeln!(f, "backfill progress: unknown ({reason})")?,
        }
        match &self.gaps {
            Ok(counts) if counts.is_empty() => writeln!(f, "gaps: none")?,
            Ok(counts) => {
                let counts: Vec<String> = counts
                    .iter()
                    .map(|(status, gaps)| format!("{gaps} {status}"))
                    .collect();
                writeln!(f, "gaps: {}", counts.join(", "))?;
            }
            Err(reason) => writeln!(f, "gaps: unknown ({reason})")?,
        }
        match &self.rows {
            Ok(rows) => {
                for (table, rows) in rows {
                    writeln!(f, "rows in {table}: {rows}")?;
                }
            }
            Err(reason) => writeln!(f, "rows: unknown ({reason})")?,
        }
        match &self.last_events {
            Ok(events) => {
                for (exchange, market, symbol, last) in events {
                    writeln!(
                        f,
                        "last trade {exchange} {market} {symbol}: exchange time {last} ms"
                    )?;
                }
            }
            Err(reason) => writeln!(f, "last trades: unknown ({reason})")?,
        }
        Ok(())
    }
}
