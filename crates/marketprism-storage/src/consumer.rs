//! The consume → batch → insert → ack loop.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use marketprism_bus::{ConsumerError, DurablePull};
use marketprism_telemetry::Readiness;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::metrics::{watch_readiness, Metrics, ReadyWatch};
use crate::writer::Writer;
use crate::Config;

/// The storage service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// NATS or the stream is unavailable.
    #[error(transparent)]
    Bus(#[from] marketprism_bus::BusError),
    /// The event stream or the durable consumer could not be read.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// The HTTP endpoint could not bind.
    #[error("cannot serve metrics on {address}: {source}")]
    Listen {
        /// The configured address.
        address: std::net::SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// The ClickHouse client could not be built.
    #[error(transparent)]
    ClickHouse(#[from] std::io::Error),
}

/// What kind of failure stopped storage, for callers that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The configuration is inconsistent.
    Config,
    /// NATS could not be used (see [`marketprism_bus::BusErrorKind`]).
    Bus,
    /// The event stream is missing or unavailable.
    StreamUnavailable,
    /// The durable consumer failed.
    Consumer,
    /// The HTTP endpoint could not bind.
    Listen,
    /// The ClickHouse client could not be built.
    ClickHouse,
}

impl StorageError {
    /// What kind of failure this is.
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            StorageError::Config(_) => StorageErrorKind::Config,
            StorageError::Bus(_) => StorageErrorKind::Bus,
            StorageError::Consumer(ConsumerError::StreamUnavailable { .. }) => {
                StorageErrorKind::StreamUnavailable
            }
            StorageError::Consumer(ConsumerError::Consumer { .. }) => StorageErrorKind::Consumer,
            StorageError::Listen { .. } => StorageErrorKind::Listen,
            StorageError::ClickHouse(_) => StorageErrorKind::ClickHouse,
        }
    }
}

/// Runs storage until `shutdown` is cancelled, then writes and acks what it holds and returns.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), StorageError> {
    config.validate().map_err(StorageError::Config)?;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let readiness = Readiness::new("storage", env!("CARGO_PKG_VERSION"));
    let (_, http) =
        marketprism_telemetry::bind(config.listen, registry, readiness.clone(), shutdown.clone())
            .await
            .map_err(|source| StorageError::Listen {
                address: config.listen,
                source,
            })?;
    let http = tokio::spawn(http);

    let client = marketprism_bus::connect(&config.nats, "marketprism-storage").await?;
    let context = jetstream::new(client.clone());
    let pull = DurablePull {
        durable: config.consumer.durable_name.clone(),
        filter_subject: None,
        ack_wait: config.consumer.ack_wait,
        max_ack_pending: Some(config.consumer.max_ack_pending),
        batch: config.batch.messages_per_pull(),
    };
    let (consumer, mut messages) = pull.start(&context, &config.nats.stream.name).await?;

    let writer = Writer::new(
        &config,
        config.clickhouse.database_client()?,
        context.clone(),
        metrics.clone(),
    );
    // Ready while what the consumer delivers gets committed.
    let watching = shutdown.child_token();
    let watcher = tokio::spawn(watch_readiness(
        ReadyWatch {
            consumer,
            client,
            commit_deadline: config.consumer.commit_deadline,
            disks: config.disks.clone(),
        },
        metrics.progress.clone(),
        readiness,
        watching.clone(),
    ));
    tracing::info!(durable = %config.consumer.durable_name, "Consuming.");
    let result = consume(&config, &pull, &mut messages, writer, &metrics, &shutdown).await;
    watching.cancel();
    let _ = watcher.await;
    shutdown.cancel();
    let _ = http.await;
    result
}

async fn consume(
    config: &Config,
    pull: &DurablePull,
    messages: &mut consumer::pull::Stream,
    mut writer: Writer,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<(), StorageError> {
    let mut batch = Batch::default();
    loop {
        let deadline = batch.deadline(config.batch.max_wait);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = sleep_until(deadline), if deadline.is_some() => {
                writer.flush(std::mem::take(&mut batch), shutdown).await;
            }
            next = messages.next() => match next {
                Some(Ok(message)) => {
                    metrics.messages_received.inc();
                    writer.accept(message, &mut batch).await;
                    if !batch.is_empty() {
                        metrics.progress.holding();
                    }
                    metrics.batch_rows.set(batch.rows() as i64);
                    if batch.is_full(&config.batch) {
                        writer.flush(std::mem::take(&mut batch), shutdown).await;
                    }
                }
                // Heartbeat and pull errors are transient: the client re-issues pulls and
                // JetStream keeps every unacked message for redelivery.
                Some(Err(error)) => tracing::warn!(%error, "Pull from JetStream failed; retrying."),
                None => {
                    writer.flush(std::mem::take(&mut batch), shutdown).await;
                    return Err(pull.failed("the message stream ended").into());
                }
            }
        }
    }
    tracing::info!(
        rows = batch.rows(),
        "Shutting down: writing the last batch."
    );
    writer.flush(batch, shutdown).await;
    Ok(())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}
