//! `marketprism status`: service health, consumer lag, rows per table, last event per venue.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream;
use clickhouse::Row;
use serde::Deserialize;

use marketprism_servers::{is_alive, read_pid};

use crate::config::storage_config;
use crate::{DeployError, ServiceName, Source, StateDir};

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
    /// Storage consumer: messages (pending, awaiting ack), when NATS answers; a message
    /// carries one or more events.
    pub consumer_lag: Option<(u64, u64)>,
    /// Rows per table, when ClickHouse answers.
    pub rows: Vec<(String, u64)>,
    /// Latest event time per feed: (exchange, market, symbol, exchange time ms).
    pub last_events: Vec<(String, String, String, i64)>,
}

impl StatusReport {
    /// True when every service runs and passed its check.
    pub fn all_healthy(&self) -> bool {
        self.services.iter().all(|service| service.healthy)
    }
}

#[derive(Debug, Row, Deserialize)]
struct LastEvent {
    exchange: String,
    market_type: String,
    symbol: String,
    last: i64,
}

/// Inspects the deployment in `state`.
pub async fn status(state: &StateDir) -> Result<StatusReport, DeployError> {
    let manifest = state.require_manifest("reading the deployment")?;
    let ports = &manifest.ports;
    let mut services = Vec::new();
    for name in ServiceName::ALL {
        if name == ServiceName::Sim && manifest.source != Source::Sim {
            continue;
        }
        let pid = read_pid(&state.pid_file(name));
        let marker = state.process_marker(name, ports);
        let running = pid.is_some_and(|pid| is_alive(pid, &marker));
        let (healthy, detail) = if running {
            let probe = name.readiness(ports).probe();
            (probe.ready, probe.detail)
        } else {
            (false, "not running".to_owned())
        };
        services.push(ServiceState {
            name,
            pid,
            running,
            healthy,
            detail,
        });
    }

    let config = storage_config(state)?;
    let consumer_lag = match jetstream_context(&config).await {
        Some(context) => consumer_lag(&context, &config).await,
        None => None,
    };
    let mut rows = Vec::new();
    let mut last_events = Vec::new();
    if let Ok(client) = config.clickhouse.database_client() {
        for table in marketprism_schema::TABLES.map(|table| table.name) {
            if let Ok(count) = client
                .query(&format!("SELECT count() FROM {table} FINAL"))
                .fetch_one::<u64>()
                .await
            {
                rows.push((table.to_owned(), count));
            }
        }
        let latest = client
            .query(&format!(
                "SELECT exchange, market_type, symbol, max(exchange_time) AS last FROM {} \
                 GROUP BY exchange, market_type, symbol ORDER BY exchange, market_type, symbol",
                marketprism_schema::migrations::TRADES.name
            ))
            .fetch_all::<LastEvent>()
            .await
            .unwrap_or_default();
        last_events = latest
            .into_iter()
            .map(|row| (row.exchange, row.market_type, row.symbol, row.last))
            .collect();
    }
    Ok(StatusReport {
        services,
        consumer_lag,
        rows,
        last_events,
    })
}

/// Connects to NATS (giving up after three seconds) for lag queries.
pub(crate) async fn jetstream_context(
    config: &marketprism_storage::Config,
) -> Option<jetstream::Context> {
    let client = tokio::time::timeout(
        Duration::from_secs(3),
        async_nats::connect(config.nats.url.as_str()),
    )
    .await
    .ok()?
    .ok()?;
    Some(jetstream::new(client))
}

/// The storage consumer's (pending, awaiting ack) counts.
pub(crate) async fn consumer_lag(
    context: &jetstream::Context,
    config: &marketprism_storage::Config,
) -> Option<(u64, u64)> {
    let mut consumer: jetstream::consumer::PullConsumer = context
        .get_stream(&config.nats.stream.name)
        .await
        .ok()?
        .get_consumer(&config.consumer.durable_name)
        .await
        .ok()?;
    let info = consumer.info().await.ok()?;
    Some((info.num_pending, info.num_ack_pending as u64))
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<10} {:<8} {:<8} detail", "service", "state", "pid")?;
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
                "{:<10} {:<8} {:<8} {}",
                service.name.as_str(),
                state,
                pid,
                service.detail
            )?;
        }
        match self.consumer_lag {
            Some((pending, acking)) => writeln!(
                f,
                "storage consumer lag: {pending} messages pending, {acking} awaiting ack"
            )?,
            None => writeln!(
                f,
                "storage consumer lag: unknown (NATS or the consumer is unavailable)"
            )?,
        }
        for (table, rows) in &self.rows {
            writeln!(f, "rows in {table}: {rows}")?;
        }
        for (exchange, market, symbol, last) in &self.last_events {
            writeln!(
                f,
                "last trade {exchange} {market} {symbol}: exchange time {last} ms"
            )?;
        }
        Ok(())
    }
}
