//! The consume → batch → insert → ack loop.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, AckKind, Message};
use bytes::Bytes;
use futures::StreamExt;
use marketprism_bus::{deadletter_subject, DeadLetterOrigin, DEADLETTER_ERROR_HEADER};
use marketprism_model::codec;
use marketprism_schema::Dialect;
use marketprism_telemetry::Readiness;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::metrics::{Metrics, TableLabel};
use crate::{now_ms, server_version, validating, Config};

/// The storage service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// NATS or the stream is unavailable.
    #[error(transparent)]
    Bus(#[from] marketprism_bus::BusError),
    /// The consumer could not be created or read.
    #[error("JetStream consumer {durable}: {message}")]
    Consumer {
        /// The durable name.
        durable: String,
        /// The explanation.
        message: String,
    },
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

/// Runs storage until `shutdown` is cancelled, then writes and acks what it holds and returns.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), StorageError> {
    config.validate().map_err(StorageError::Config)?;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let readiness = Readiness::default();
    let (_, http) =
        marketprism_telemetry::bind(config.listen, registry, readiness.clone(), shutdown.clone())
            .await
            .map_err(|source| StorageError::Listen {
                address: config.listen,
                source,
            })?;
    let http = tokio::spawn(http);

    let client = marketprism_bus::connect(&config.nats, "marketprism-storage").await?;
    let context = jetstream::new(client);
    let consumer_error = |message: String| StorageError::Consumer {
        durable: config.consumer.durable_name.clone(),
        message,
    };
    let stream = context
        .get_stream(&config.nats.stream.name)
        .await
        .map_err(|error| {
            consumer_error(format!(
                "stream {} is not available ({error}); run `marketprism streams init`",
                config.nats.stream.name
            ))
        })?;
    let consumer: consumer::PullConsumer = stream
        .get_or_create_consumer(
            &config.consumer.durable_name,
            consumer::pull::Config {
                durable_name: Some(config.consumer.durable_name.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: config.consumer.ack_wait,
                max_ack_pending: config.consumer.max_ack_pending,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .map_err(|error| consumer_error(error.to_string()))?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(config.batch.messages_per_pull())
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|error| consumer_error(error.to_string()))?;

    let writer = Writer {
        clickhouse: config.clickhouse.database_client()?,
        dialect: None,
        context: context.clone(),
        metrics: metrics.clone(),
        nak_delay: config.consumer.nak_delay,
        max_nak_delay: config.consumer.max_nak_delay,
        consecutive_failures: 0,
    };
    readiness.set(true);
    tracing::info!(durable = %config.consumer.durable_name, "Consuming.");
    let result = consume(&config, &mut messages, writer, &metrics, &shutdown).await;
    readiness.set(false);
    shutdown.cancel();
    let _ = http.await;
    result
}

async fn consume(
    config: &Config,
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
                writer.flush(std::mem::take(&mut batch)).await;
            }
            next = messages.next() => match next {
                Some(Ok(message)) => {
                    metrics.messages_received.inc();
                    writer.accept(message, &mut batch).await;
                    metrics.batch_rows.set(batch.rows() as i64);
                    if batch.is_full(&config.batch) {
                        writer.flush(std::mem::take(&mut batch)).await;
                    }
                }
                // Heartbeat and pull errors are transient: the client re-issues pulls and
                // JetStream keeps every unacked message for redelivery.
                Some(Err(error)) => tracing::warn!(%error, "Pull from JetStream failed; retrying."),
                None => {
                    writer.flush(std::mem::take(&mut batch)).await;
                    return Err(StorageError::Consumer {
                        durable: config.consumer.durable_name.clone(),
                        message: "message stream ended".into(),
                    });
                }
            }
        }
    }
    tracing::info!(
        rows = batch.rows(),
        "Shutting down: writing the last batch."
    );
    writer.flush(batch).await;
    Ok(())
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Inserts batches and settles their messages.
struct Writer {
    clickhouse: clickhouse::Client,
    /// The server's dialect, learned before the first insert; it sets row validation.
    dialect: Option<Dialect>,
    context: jetstream::Context,
    metrics: Metrics,
    nak_delay: Duration,
    max_nak_delay: Duration,
    consecutive_failures: u32,
}

impl Writer {
    /// Decodes a message's events into the batch. A message that does not decode is
    /// dead-lettered whole; an event that cannot become a row is dead-lettered alone, and the
    /// message is acked with the rows of its other events.
    async fn accept(&mut self, message: Message, batch: &mut Batch) {
        let events = match codec::decode(&message.subject, &message.payload) {
            Ok(events) => events,
            Err(error) => return self.dead_letter(message, error.to_string()).await,
        };
        let mark = batch.mark();
        let mut rejected = Vec::new();
        for event in &events {
            if let Err(error) = batch.push(event) {
                rejected.push((event, error.to_string()));
            }
        }
        if rejected.is_empty() {
            return batch.add(message);
        }
        if rejected.len() == events.len() {
            let reasons: Vec<String> = rejected.into_iter().map(|(_, reason)| reason).collect();
            return self.dead_letter(message, reasons.join("; ")).await;
        }
        let mut stored = true;
        for (event, reason) in rejected {
            stored = stored
                && self
                    .store_dead_letter(&message.subject, codec::encode(event).into(), &reason)
                    .await;
        }
        if stored {
            batch.add(message);
        } else {
            batch.truncate(mark);
            self.nak_for_dead_letter(&message).await;
        }
    }

    /// Copies an unusable message to the dead-letter stream, then terminates it. If the copy
    /// fails the message is nak'd instead, so it is never lost.
    async fn dead_letter(&mut self, message: Message, reason: String) {
        if !self
            .store_dead_letter(&message.subject, message.payload.clone(), &reason)
            .await
        {
            return self.nak_for_dead_letter(&message).await;
        }
        if let Err(error) = message.ack_with(AckKind::Term).await {
            tracing::warn!(%error, "Settling a dead-lettered message failed; it will be redelivered.");
        }
    }

    /// Stores `payload`, which arrived on `subject` and cannot be written, on the
    /// dead-letter stream; true once the stream acknowledged it.
    async fn store_dead_letter(&self, subject: &str, payload: Bytes, reason: &str) -> bool {
        tracing::warn!(%subject, %reason, "Dead-lettering what cannot be written.");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(DEADLETTER_ERROR_HEADER, reason);
        let stored = match self
            .context
            .publish_with_headers(
                deadletter_subject(DeadLetterOrigin::Storage, subject),
                headers,
                payload,
            )
            .await
        {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        if stored {
            self.metrics.dead_lettered.inc();
        }
        stored
    }

    /// Asks for a later redelivery of a message whose dead letters could not be stored.
    async fn nak_for_dead_letter(&self, message: &Message) {
        tracing::error!(subject = %message.subject, "Dead-letter stream unavailable; redelivering.");
        if let Err(error) = message.ack_with(AckKind::Nak(Some(self.nak_delay))).await {
            tracing::warn!(%error, "Nak failed; the message will be redelivered after the ack wait.");
        }
    }

    /// Inserts the batch, then acks its messages; on failure naks them with backoff.
    async fn flush(&mut self, batch: Batch) {
        if batch.is_empty() {
            return;
        }
        match self.insert(&batch).await {
            Ok(()) => {
                self.consecutive_failures = 0;
                let committed_ms = now_ms();
                for received_ms in &batch.received_ms {
                    // Clocks of different hosts can disagree: a negative latency counts as 0.
                    let latency_ms = committed_ms.saturating_sub(*received_ms).max(0);
                    self.metrics
                        .commit_latency
                        .observe(latency_ms as f64 / 1000.0);
                }
                for (table, rows) in batch.table_rows() {
                    self.metrics
                        .rows_inserted
                        .get_or_create(&TableLabel { table })
                        .inc_by(rows as u64);
                }
                for message in &batch.messages {
                    // A lost ack only causes a redelivery, which the tables absorb.
                    if let Err(error) = message.ack().await {
                        tracing::warn!(%error, "Ack failed; the message will be redelivered.");
                    } else {
                        self.metrics.messages_acked.inc();
                    }
                }
            }
            Err(error) => {
                self.consecutive_failures += 1;
                self.metrics.insert_failures.inc();
                let delay = self
                    .nak_delay
                    .saturating_mul(2_u32.saturating_pow(self.consecutive_failures - 1))
                    .min(self.max_nak_delay);
                tracing::error!(%error, rows = batch.rows(), retry_in = ?delay, "Insert failed; the batch will be redelivered.");
                for message in &batch.messages {
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
                // Hold back while ClickHouse is failing instead of spinning on redeliveries.
                tokio::time::sleep(delay.min(Duration::from_secs(5))).await;
            }
        }
        self.metrics.batch_rows.set(0);
    }

    async fn insert(&mut self, batch: &Batch) -> Result<(), clickhouse::error::Error> {
        if self.dialect.is_none() {
            let version = server_version(&self.clickhouse).await?;
            // A version this build does not recognize is written to without validation,
            // which every release accepts.
            let dialect = Dialect::for_version(&version).unwrap_or(Dialect::Legacy);
            tracing::info!(%version, %dialect, "ClickHouse answered.");
            self.clickhouse = validating(self.clickhouse.clone(), dialect);
            self.dialect = Some(dialect);
        }
        insert_rows(&self.clickhouse, "trades", &batch.trades).await?;
        insert_rows(&self.clickhouse, "orderbooks", &batch.orderbooks).await?;
        insert_rows(
            &self.clickhouse,
            "orderbook_deltas",
            &batch.orderbook_deltas,
        )
        .await?;
        insert_rows(&self.clickhouse, "funding_rates", &batch.funding_rates).await?;
        insert_rows(&self.clickhouse, "open_interests", &batch.open_interests).await?;
        insert_rows(&self.clickhouse, "liquidations", &batch.liquidations).await?;
        insert_rows(
            &self.clickhouse,
            "volatility_indices",
            &batch.volatility_indices,
        )
        .await?;
        insert_rows(
            &self.clickhouse,
            "long_short_ratios",
            &batch.long_short_ratios,
        )
        .await?;
        insert_rows(&self.clickhouse, "gaps", &batch.gaps).await
    }
}

async fn insert_rows<T>(
    client: &clickhouse::Client,
    table: &str,
    rows: &[T],
) -> Result<(), clickhouse::error::Error>
where
    T: clickhouse::Row + serde::Serialize + for<'a> clickhouse::RowWrite<Value<'a> = T>,
{
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert = client.insert::<T>(table).await?;
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
