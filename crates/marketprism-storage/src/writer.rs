//! Turns messages into rows, writes batches to ClickHouse and settles the messages.
//!
//! * An event that cannot become a row (malformed, on the wrong subject, impossible values,
//!   out of a column's range) is dead-lettered alone; the other events of its message are
//!   written. A message that is not events at all is dead-lettered whole.
//! * A batch is written with one insert per table, each bounded by the request timeout; its
//!   messages are acked once every insert committed.
//! * A failed insert is retried in place after a backoff delay (at most
//!   `consumer.max_retry_delay`, so a retry never lags a recovered server by more), while
//!   progress acks keep JetStream from redelivering the batch meanwhile.
//! * Rows the server refuses for their content ([`InsertErrorKind::Refused`]) are found by
//!   halving the batch until each refused part is one message, then one event: the events
//!   the server refuses alone are dead-lettered with its message, everything else is written.
//! * At shutdown a batch that cannot be written is nak'd at once, for redelivery to the next
//!   consumer.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, Message};
use bytes::Bytes;
use marketprism_bus::{Backoff, DeadLetter, DeadLetterOrigin};
use marketprism_model::codec;
use marketprism_schema::Dialect;
use tokio_util::sync::CancellationToken;

use crate::batch::Batch;
use crate::failure::{InsertError, InsertErrorKind};
use crate::metrics::{Metrics, TableLabel};
use marketprism_model::now_ms;

use crate::{server_version, validating, Config};

/// How a batch's write ended.
enum Written {
    /// Every row committed.
    Stored,
    /// The server refused rows of the batch for their content; its message.
    Refused(String),
    /// Shutdown came before the rows could be written.
    Interrupted,
}

/// Writes batches and settles their messages.
pub(crate) struct Writer {
    clickhouse: clickhouse::Client,
    /// The server's dialect, learned before the first insert; it sets row validation.
    dialect: Option<Dialect>,
    context: jetstream::Context,
    /// The event stream, named in references to dead-lettered originals.
    stream: String,
    metrics: Metrics,
    request_timeout: Duration,
    retry_delay: Duration,
    max_retry_delay: Duration,
    /// How often messages being written are told to JetStream to be in progress.
    progress_every: Duration,
}

impl Writer {
    pub(crate) fn new(
        config: &Config,
        clickhouse: clickhouse::Client,
        context: jetstream::Context,
        metrics: Metrics,
    ) -> Self {
        Writer {
            clickhouse,
            dialect: None,
            context,
            stream: config.nats.stream.name.clone(),
            metrics,
            request_timeout: config.clickhouse.request_timeout,
            retry_delay: config.consumer.retry_delay,
            max_retry_delay: config.consumer.max_retry_delay,
            progress_every: config.consumer.ack_wait / 3,
        }
    }

    /// Decodes a message's events into the batch. An event that cannot become a row is
    /// dead-lettered alone, and the message joins the batch with the rows of its other
    /// events; a message with no usable event is dead-lettered whole.
    pub(crate) async fn accept(&mut self, message: Message, batch: &mut Batch) {
        let decoded = match codec::decode_each(&message.subject, &message.payload) {
            Ok(decoded) => decoded,
            Err(error) => return self.dead_letter(message, &error.to_string()).await,
        };
        let mark = batch.mark();
        let mut rejected: Vec<(&[u8], String)> = Vec::new();
        for event in &decoded {
            let pushed = match &event.event {
                Ok(value) => batch.push(value).map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(reason) = pushed {
                rejected.push((event.raw, reason));
            }
        }
        if rejected.is_empty() {
            return batch.add(message);
        }
        if rejected.len() == decoded.len() {
            let reasons: Vec<String> = rejected.into_iter().map(|(_, reason)| reason).collect();
            return self.dead_letter(message, &reasons.join("; ")).await;
        }
        let original = self.original(&message);
        let mut stored = true;
        for (raw, reason) in rejected {
            stored = stored
                && self
                    .store_dead_letter(
                        &message.subject,
                        Bytes::copy_from_slice(raw),
                        &reason,
                        original.as_deref(),
                    )
                    .await;
        }
        if stored {
            batch.add(message);
        } else {
            batch.truncate(mark);
            self.nak_for_dead_letter(&message).await;
        }
    }

    /// Writes the batch, then acks its messages; see the module documentation for failures.
    pub(crate) async fn flush(&mut self, mut batch: Batch, shutdown: &CancellationToken) {
        if batch.is_empty() {
            return;
        }
        let messages = std::mem::take(&mut batch.messages);
        match self.write(&batch, &messages, shutdown).await {
            Written::Stored => self.committed(&batch, &messages).await,
            Written::Refused(reason) => {
                tracing::warn!(%reason, rows = batch.rows(), "ClickHouse refused rows of the batch; isolating them.");
                self.isolate(messages, shutdown).await;
            }
            Written::Interrupted => nak_now(&messages).await,
        }
        self.metrics.progress.settled();
        self.metrics.batch_rows.set(0);
    }

    /// Writes `batch` until it commits, the server refuses its rows, or shutdown: failures
    /// worth retrying are retried after a backoff delay, and `messages` are kept in progress
    /// all along.
    async fn write(
        &mut self,
        batch: &Batch,
        messages: &[Message],
        shutdown: &CancellationToken,
    ) -> Written {
        let mut backoff = Backoff::new(self.retry_delay, self.max_retry_delay);
        let progress_every = self.progress_every;
        loop {
            let attempt = self.insert(batch);
            let error = match keep_in_progress(messages, progress_every, attempt).await {
                Ok(()) => return Written::Stored,
                Err(error) => error,
            };
            self.metrics.insert_failures.inc();
            self.metrics.progress.failed(error.to_string());
            if error.kind() == InsertErrorKind::Refused {
                return Written::Refused(error.to_string());
            }
            if shutdown.is_cancelled() {
                tracing::error!(%error, rows = batch.rows(), "Insert failed at shutdown; the batch will be redelivered.");
                return Written::Interrupted;
            }
            let delay = backoff.next_delay();
            tracing::error!(%error, rows = batch.rows(), retry_in = ?delay, "Insert failed; retrying.");
            let wait = async {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
            };
            keep_in_progress(messages, progress_every, wait).await;
        }
    }

    /// Acks the messages of a committed batch and accounts for its rows.
    async fn committed(&self, batch: &Batch, messages: &[Message]) {
        self.metrics.progress.committed();
        let committed_ms = now_ms();
        for received_ms in &batch.received_ms {
            // Clocks of different hosts can disagree: a negative latency counts as 0.
            let latency_ms = committed_ms.saturating_sub(*received_ms).max(0);
            self.metrics
                .commit_latency
                .observe(latency_ms as f64 / 1000.0);
        }
        for table in batch.tables() {
            self.metrics
                .rows_inserted
                .get_or_create(&TableLabel {
                    table: table.table().name,
                })
                .inc_by(table.len() as u64);
        }
        for message in messages {
            // A lost ack only causes a redelivery, which the tables absorb.
            if let Err(error) = message.ack().await {
                tracing::warn!(%error, "Ack failed; the message will be redelivered.");
            } else {
                self.metrics.messages_acked.inc();
            }
        }
    }

    /// Writes what the server accepts of messages whose rows it refused: halves them until
    /// each refused part is one message, whose events are then written one by one; the
    /// events the server refuses alone are dead-lettered with its message.
    async fn isolate(&mut self, messages: Vec<Message>, shutdown: &CancellationToken) {
        let mut parts = vec![messages];
        while let Some(mut part) = parts.pop() {
            let batch = rows_of(&part);
            match self.write(&batch, &part, shutdown).await {
                Written::Stored => self.committed(&batch, &part).await,
                Written::Interrupted => {
                    nak_now(&part).await;
                    for rest in &parts {
                        nak_now(rest).await;
                    }
                    return;
                }
                Written::Refused(reason) => match part.len() {
                    0 => {}
                    1 => {
                        if let Some(message) = part.pop() {
                            self.isolate_events(message, &reason, shutdown).await;
                        }
                    }
                    len => {
                        let second = part.split_off(len / 2);
                        parts.push(second);
                        parts.push(part);
                    }
                },
            }
        }
    }

    /// Writes the events of one message one by one and dead-letters those the server
    /// refuses; acks the message once each event is written or kept.
    async fn isolate_events(
        &mut self,
        message: Message,
        reason: &str,
        shutdown: &CancellationToken,
    ) {
        let Ok(decoded) = codec::decode_each(&message.subject, &message.payload) else {
            return self.dead_letter(message, reason).await;
        };
        let original = self.original(&message);
        let single = std::slice::from_ref(&message);
        for event in &decoded {
            let Ok(value) = &event.event else {
                // Dead-lettered when the message was accepted.
                continue;
            };
            let mut batch = Batch::default();
            if batch.push(value).is_err() {
                continue;
            }
            match self.write(&batch, single, shutdown).await {
                Written::Stored => {}
                Written::Interrupted => return nak_now(single).await,
                Written::Refused(reason) => {
                    let kept = self
                        .store_dead_letter(
                            &message.subject,
                            Bytes::copy_from_slice(event.raw),
                            &reason,
                            original.as_deref(),
                        )
                        .await;
                    if !kept {
                        return self.nak_for_dead_letter(&message).await;
                    }
                }
            }
        }
        if let Err(error) = message.ack().await {
            tracing::warn!(%error, "Ack failed; the message will be redelivered.");
        } else {
            self.metrics.messages_acked.inc();
        }
    }

    /// One insert per table of the batch, each within the request timeout.
    async fn insert(&mut self, batch: &Batch) -> Result<(), InsertError> {
        let timeout = self.request_timeout;
        if self.dialect.is_none() {
            let version = within(timeout, server_version(&self.clickhouse)).await?;
            // A version this build does not recognize is written to without validation,
            // which every release accepts.
            let dialect = Dialect::for_version(&version).unwrap_or(Dialect::Legacy);
            tracing::info!(%version, %dialect, "ClickHouse answered.");
            self.clickhouse = validating(self.clickhouse.clone(), dialect);
            self.dialect = Some(dialect);
        }
        for table in batch.tables() {
            within(timeout, table.insert(&self.clickhouse)).await?;
        }
        Ok(())
    }

    /// Where the whole original of a message can be found: the event stream and its
    /// sequence there.
    fn original(&self, message: &Message) -> Option<String> {
        message
            .info()
            .ok()
            .map(|info| format!("{}:{}", self.stream, info.stream_sequence))
    }

    /// Copies an unusable message to the dead-letter stream, then terminates it. If the copy
    /// fails the message is nak'd instead, so it is never lost.
    async fn dead_letter(&mut self, message: Message, reason: &str) {
        let original = self.original(&message);
        if !self
            .store_dead_letter(
                &message.subject,
                message.payload.clone(),
                reason,
                original.as_deref(),
            )
            .await
        {
            return self.nak_for_dead_letter(&message).await;
        }
        if let Err(error) = message.ack_with(AckKind::Term).await {
            tracing::warn!(%error, "Settling a dead-lettered message failed; it will be redelivered.");
        }
    }

    /// Stores `payload`, which arrived on `subject` and cannot be written, on the
    /// dead-letter stream (cut to fit the server's payload limit, with `original` naming
    /// where the whole of it stays); true once the stream acknowledged it.
    async fn store_dead_letter(
        &self,
        subject: &str,
        payload: Bytes,
        reason: &str,
        original: Option<&str>,
    ) -> bool {
        tracing::warn!(%subject, %reason, "Dead-lettering what cannot be written.");
        let letter = DeadLetter::new(
            DeadLetterOrigin::Storage,
            subject,
            payload,
            reason,
            original,
            self.context.client().max_payload(),
        );
        let stored = match self
            .context
            .publish_with_headers(letter.subject, letter.headers, letter.payload)
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
        if let Err(error) = message.ack_with(AckKind::Nak(Some(self.retry_delay))).await {
            tracing::warn!(%error, "Nak failed; the message will be redelivered after the ack wait.");
        }
    }
}

/// The rows of `messages`' usable events (those that are not were dead-lettered when the
/// messages were accepted).
fn rows_of(messages: &[Message]) -> Batch {
    let mut batch = Batch::default();
    for message in messages {
        if let Ok(decoded) = codec::decode_each(&message.subject, &message.payload) {
            for value in decoded.iter().filter_map(|event| event.event.as_ref().ok()) {
                let _ = batch.push(value);
            }
        }
    }
    batch
}

/// Runs `work`, telling JetStream every `every` that `messages` are still being worked on,
/// so that it does not redeliver them meanwhile.
async fn keep_in_progress<T>(
    messages: &[Message],
    every: Duration,
    work: impl Future<Output = T>,
) -> T {
    let mut work = pin!(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticks.tick() => {
                for message in messages {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        }
    }
}

/// A ClickHouse request that fails unless it answers within `timeout`.
async fn within<T>(
    timeout: Duration,
    request: impl Future<Output = clickhouse::error::Result<T>>,
) -> Result<T, InsertError> {
    tokio::time::timeout(timeout, request)
        .await
        .map_err(|_| InsertError::TimedOut(timeout))?
        .map_err(InsertError::from)
}

/// Asks JetStream to redeliver `messages` now, to this or another consumer.
async fn nak_now(messages: &[Message]) {
    for message in messages {
        let _ = message.ack_with(AckKind::Nak(None)).await;
    }
}
