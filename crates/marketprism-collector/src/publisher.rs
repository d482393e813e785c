//! Publishes events to JetStream with a bounded window of outstanding acks.
//!
//! Publishes are pipelined: up to `max_outstanding_acks` wait for their ack at once, settled
//! in order. A failed or timed-out ack (NATS restarting, stream unavailable) makes the
//! publisher send the same message again, with the same `Nats-Msg-Id`, until it is
//! acknowledged; the stream's duplicate window absorbs any copy that had in fact landed.
//! While it retries, the channel from the connections fills and they stop reading: loss is
//! never silent, it becomes a gap at the venue side.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use async_nats::HeaderMap;
use bytes::Bytes;
use marketprism_bus::{deadletter_subject, DeadLetterOrigin, DEADLETTER_ERROR_HEADER};
use marketprism_model::{codec, Event};
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::metrics::Metrics;

/// What connections hand to the publisher.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A normalized event.
    Event(Event),
    /// A frame that could not be parsed, kept for inspection.
    DeadLetter {
        /// The feed it came from, e.g. `binance.spot`.
        feed: String,
        /// The raw frame.
        frame: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// A message ready to (re)publish.
struct Prepared {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    counts_as_event: bool,
}

impl From<Outgoing> for Prepared {
    fn from(outgoing: Outgoing) -> Self {
        let mut headers = HeaderMap::new();
        match outgoing {
            Outgoing::Event(event) => {
                headers.insert(async_nats::header::NATS_MESSAGE_ID, event.msg_id().as_str());
                Prepared {
                    subject: event.subject(),
                    headers,
                    payload: Bytes::from(codec::encode(&event)),
                    counts_as_event: true,
                }
            }
            Outgoing::DeadLetter {
                feed,
                frame,
                reason,
            } => {
                headers.insert(DEADLETTER_ERROR_HEADER, reason.as_str());
                Prepared {
                    subject: deadletter_subject(DeadLetterOrigin::Collector, &feed),
                    headers,
                    payload: Bytes::from(frame),
                    counts_as_event: false,
                }
            }
        }
    }
}

/// An ack that resolves once JetStream has stored (or deduplicated) the message.
type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

pub(crate) struct Publisher {
    context: jetstream::Context,
    max_outstanding: usize,
    metrics: Metrics,
    window: VecDeque<(Prepared, AckFuture)>,
}

impl Publisher {
    /// A publisher on `client` keeping at most `max_outstanding` acks in flight.
    pub(crate) fn new(
        client: async_nats::Client,
        max_outstanding: usize,
        metrics: Metrics,
    ) -> Self {
        // The client takes an ack permit for every unresolved publish and waits for one
        // before publishing (5,000 by default). The window must never hold more unresolved
        // publishes than there are permits, or publishing would wait on the window's own acks.
        let context = jetstream::ContextBuilder::new()
            .max_ack_inflight(max_outstanding)
            .build(client);
        Publisher {
            context,
            max_outstanding,
            metrics,
            window: VecDeque::with_capacity(max_outstanding),
        }
    }

    /// Publishes everything received until every sender is gone, then waits for all acks.
    /// Acks are settled as they arrive, so a failure is noticed and repaired even when no
    /// further events follow.
    pub(crate) async fn run(mut self, mut receiver: mpsc::Receiver<Outgoing>) {
        let mut open = true;
        while open || !self.window.is_empty() {
            let has_room = self.window.len() < self.max_outstanding;
            tokio::select! {
                biased;
                result = oldest_ack(&mut self.window), if !self.window.is_empty() => {
                    if let Some((prepared, _)) = self.window.pop_front() {
                        self.settle(prepared, result).await;
                    }
                }
                next = receiver.recv(), if open && has_room => match next {
                    Some(outgoing) => {
                        let prepared = Prepared::from(outgoing);
                        let ack = Self::send(&self.context, &self.metrics, &prepared).await;
                        self.window.push_back((prepared, ack));
                    }
                    None => open = false,
                },
            }
            self.metrics.outstanding_acks.set(self.window.len() as i64);
        }
        tracing::info!("Publisher drained: every event is acknowledged.");
    }

    /// Publishes until the client accepts the message (it buffers while reconnecting).
    ///
    /// Takes the context rather than `self`: the window's futures are `Send` but not `Sync`,
    /// so `&self` may not be held across an await.
    async fn send(
        context: &jetstream::Context,
        metrics: &Metrics,
        prepared: &Prepared,
    ) -> AckFuture {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match context
                .publish_with_headers(
                    prepared.subject.clone(),
                    prepared.headers.clone(),
                    prepared.payload.clone(),
                )
                .await
            {
                Ok(ack) => return Box::pin(ack.into_future()),
                Err(error) => {
                    metrics.publish_retries.inc();
                    tracing::warn!(%error, subject = %prepared.subject, "Publish failed; retrying.");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    /// Accounts for an ack; on failure republishes the same message until it is acked.
    async fn settle(&mut self, prepared: Prepared, mut result: Result<PublishAck, PublishError>) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            match result {
                Ok(acknowledged) => {
                    if acknowledged.duplicate {
                        self.metrics.duplicates.inc();
                    }
                    if prepared.counts_as_event {
                        self.metrics.events_published.inc();
                    } else {
                        self.metrics.dead_lettered.inc();
                    }
                    return;
                }
                Err(error) => {
                    self.metrics.publish_retries.inc();
                    tracing::warn!(%error, subject = %prepared.subject, "JetStream did not acknowledge; republishing.");
                    tokio::time::sleep(backoff.next_delay()).await;
                    result = Self::send(&self.context, &self.metrics, &prepared)
                        .await
                        .await;
                }
            }
        }
    }
}

/// Waits for the oldest outstanding ack without removing it from the window.
async fn oldest_ack(
    window: &mut VecDeque<(Prepared, AckFuture)>,
) -> Result<PublishAck, PublishError> {
    match window.front_mut() {
        Some((_, ack)) => ack.await,
        None => std::future::pending().await,
    }
}
