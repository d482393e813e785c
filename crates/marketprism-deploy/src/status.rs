//! `marketprism status`: service health, consumer lag, rows per table, last event per venue.
//!
//! Every check is bounded: a service or query that does not answer in time is reported as
//! "timed out after N s", never as healthy, and never makes `status` wait longer.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_nats::jetstream;
use clickhouse::Row;
use serde::Deserialize;

use marketprism_servers::{is_alive, is_stopped, read_pid};

use crate::config::{backfill_config, clickhouse, nats, storage_config};
use crate::{DeployError, Identity, Manifest, ServiceName, Source, StateDir};

/// How long each check may take unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The state of one service.
#[derive(Debug, Clone)]
pub struct ServiceState {
    /// Which service.
    pub name: ServiceName,
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
    /// Services in start order.
    pub services: Vec<ServiceState>,
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
            .map(|service| format!("{}: {}", service.name.as_str(), service.detail))
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
    let config = storage_config(state)?;
    let services = services(state, &manifest, timeout);
    let healthy = |name: ServiceName| {
        services
            .iter()
            .any(|service| service.name == name && service.healthy)
    };
    let backfill = backfill_config(state).map_err(|error| error.to_string());
    let nats = async {
        if !healthy(ServiceName::Nats) {
            let reason = "NATS is not ready".to_owned();
            return (Err(reason.clone()), Err(reason));
        }
        let reader = nats(state, &manifest, Identity::Reader);
        let context = match jetstream_context(&reader, timeout).await {
            Ok(context) => context,
            Err(reason) => return (Err(reason.clone()), Err(reason)),
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
        tokio::join!(lag(&context, &config, timeout), backfill_progress)
    };
    let clickhouse = async {
        if !healthy(ServiceName::Clickhouse) {
            let reason = "ClickHouse is not ready".to_owned();
            return (Err(reason.clone()), Err(reason.clone()), Err(reason));
        }
        match clickhouse(state, &manifest, Identity::Reader).database_client() {
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
    let ((consumer_lag, backfill_progress), (rows, gaps, last_events)) =
        tokio::join!(nats, clickhouse);
    Ok(StatusReport {
        services,
        consumer_lag,
        backfill_progress,
        rows,
        gaps,
        last_events,
    })
}

/// Checks every service of the deployment at once, each within `timeout` (blocking the
/// calling thread meanwhile).
fn services(state: &StateDir, manifest: &Manifest, timeout: Duration) -> Vec<ServiceState> {
    let names = ServiceName::ALL
        .into_iter()
        .filter(|&name| name != ServiceName::Sim || manifest.source == Source::Sim);
    std::thread::scope(|scope| {
        let checks: Vec<_> = names
            .map(|name| scope.spawn(move || service(state, manifest, name, timeout)))
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

/// Checks one service: whether its process runs, then its readiness within `timeout`.
fn service(
    state: &StateDir,
    manifest: &Manifest,
    name: ServiceName,
    timeout: Duration,
) -> ServiceState {
    let pid = read_pid(&state.pid_file(name));
    let marker = state.process_marker(name, &manifest.ports);
    let running = pid.is_some_and(|pid| is_alive(pid, &marker));
    let (healthy, detail) = match pid {
        Some(pid) if running => {
            let probe = name.readiness(state, &manifest.ports).probe(timeout);
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
        name,
        pid,
        running,
        healthy,
        detail,
    }
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
        writeln!(f, "{:<10} {:<9} {:<8} detail", "service", "state", "pid")?;
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
                "{:<10} {:<9} {:<8} {}",
                service.name.as_str(),
                state,
                pid,
                service.detail
            )?;
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
