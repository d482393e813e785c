//! The consume → fill → publish → ack loop over gap events.
//!
//! The durable consumer reads `gap.>`. A gap whose trades can be recovered (not book-only,
//! still open) is filled from the venue's history; the recovered trades and the gap with its
//! new status are published (each event alone by default, so with the `Nats-Msg-Id` a live
//! event published alone has) and acknowledged by JetStream before the gap's message is
//! acked. A restart therefore resumes every gap not yet finished. Gaps whose history cannot
//! be fetched now are left for redelivery after `consumer.max_retry_delay`.
//!
//! Gaps are filled one after another per venue and market, and the venues side by side: a
//! venue whose history is short (Bybit serves its latest 1,000 trades) is not held behind
//! one that pages slowly within its budget (OKX, 100 trades per request).

use std::collections::{HashMap, VecDeque};

use async_nats::jetstream::{self, AckKind, Message};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt};
use marketprism_bus::DurablePull;
use marketprism_model::{DataType, Event, Gap};
use marketprism_telemetry::{Dependency, Readiness};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::fill::{FillError, Filler};
use crate::metrics::{Metrics, StatusLabel};
use crate::Config;

/// The backfill service could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// NATS or the stream is unavailable.
    #[error(transparent)]
    Bus(#[from] marketprism_bus::BusError),
    /// The event stream or the durable consumer of gaps could not be read.
    #[error(transparent)]
    Consumer(#[from] marketprism_bus::ConsumerError),
    /// The HTTP endpoint could not bind.
    #[error("cannot serve metrics on {address}: {source}")]
    Listen {
        /// The configured address.
        address: std::net::SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

/// Runs the backfill until `shutdown` is cancelled; a gap being filled then is handed back
/// for redelivery.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), BackfillError> {
    config.validate().map_err(BackfillError::Config)?;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let readiness = Readiness::new("backfill", env!("CARGO_PKG_VERSION"));
    let (_, http) =
        marketprism_telemetry::bind(config.listen, registry, readiness.clone(), shutdown.clone())
            .await
            .map_err(|source| BackfillError::Listen {
                address: config.listen,
                source,
            })?;
    let http = tokio::spawn(http);
    let result = consume(&config, &metrics, &readiness, &shutdown).await;
    shutdown.cancel();
    let _ = http.await;
    result
}

async fn consume(
    config: &Config,
    metrics: &Metrics,
    readiness: &Readiness,
    shutdown: &CancellationToken,
) -> Result<(), BackfillError> {
    let client = marketprism_bus::connect(&config.nats, "marketprism-backfill").await?;
    let context = jetstream::new(client.clone());
    let durable = &config.consumer.durable_name;
    let pull = DurablePull {
        durable: durable.clone(),
        filter_subject: Some(DataType::Gap.wildcard_subject()),
        ack_wait: config.consumer.ack_wait,
        max_ack_pending: None,
        batch: 16,
    };
    let (_, mut messages) = pull.start(&context, &config.nats.stream.name).await?;
    readiness.set_dependency("nats", Dependency::up(format!("consuming as {durable}")));
    readiness.set(Ok(()));
    tracing::info!(%durable, venues = config.venues.len(), "Filling gaps.");
    let filler = Filler::new(
        &config.venues,
        config.rest.budget_share,
        config.consumer.clone(),
        metrics.clone(),
    );
    let worker = Worker {
        config,
        client,
        filler,
        metrics,
        readiness,
    };
    // Per lane with a gap being filled, the messages waiting behind it.
    let mut waiting: HashMap<String, VecDeque<Message>> = HashMap::new();
    let mut filling: FuturesUnordered<BoxFuture<'_, (String, bool)>> = FuturesUnordered::new();
    // Messages being filled or waiting.
    let mut held = 0;
    let ended = loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break None,
            Some((lane, carry_on)) = filling.next(), if !filling.is_empty() => {
                held -= 1;
                if !carry_on {
                    break None;
                }
                match waiting.get_mut(&lane).and_then(VecDeque::pop_front) {
                    Some(message) => filling.push(worker.run(lane, message, shutdown).boxed()),
                    None => {
                        waiting.remove(&lane);
                    }
                }
                continue;
            }
            next = messages.next(), if held < MAX_HELD => next,
        };
        match next {
            Some(Ok(message)) => {
                held += 1;
                let lane = lane_of(&message.subject);
                match waiting.get_mut(&lane) {
                    Some(queue) => queue.push_back(message),
                    None => {
                        waiting.insert(lane.clone(), VecDeque::new());
                        filling.push(worker.run(lane, message, shutdown).boxed());
                    }
                }
            }
            // Heartbeat and pull errors are transient: the client re-issues pulls and
            // JetStream keeps every unacked message for redelivery.
            Some(Err(error)) => tracing::warn!(%error, "Pull from JetStream failed; retrying."),
            None => break Some(pull.failed("the message stream ended")),
        }
    };
    // Gaps being filled hand themselves back when shutdown interrupts them; the waiting
    // ones are handed back here, so that the next backfill need not wait out ack_wait.
    shutdown.cancel();
    while filling.next().await.is_some() {}
    for message in waiting.into_values().flatten() {
        acknowledge(&message, AckKind::Nak(None)).await;
    }
    match ended {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Gap messages held at once at most, being filled or waiting behind their lane's.
const MAX_HELD: usize = 256;

/// The lane of a gap message, `gap.<exchange>.<market>` of its subject
/// (`gap.<exchange>.<market>.<symbol>`): its venue and market.
fn lane_of(subject: &str) -> String {
    subject.splitn(4, '.').take(3).collect::<Vec<_>>().join(".")
}

/// What handling a gap message needs.
struct Worker<'a> {
    config: &'a Config,
    /// The connection recovered trades and statuses are published on.
    client: async_nats::Client,
    filler: Filler,
    metrics: &'a Metrics,
    readiness: &'a Readiness,
}

/// Why a gap was not finished.
enum Interrupted {
    Shutdown,
    Retry(String),
}

impl Worker<'_> {
    /// Handles `message` of `lane`: the lane, to start its next message, and false when
    /// shutdown interrupted it.
    async fn run(
        &self,
        lane: String,
        message: Message,
        shutdown: &CancellationToken,
    ) -> (String, bool) {
        let carry_on = self.handle(&message, shutdown).await;
        (lane, carry_on)
    }

    /// Fills the gaps of one message and acks it, or leaves it for redelivery; false when
    /// shutdown interrupted it.
    async fn handle(&self, message: &Message, shutdown: &CancellationToken) -> bool {
        let events = match marketprism_model::codec::decode(&message.subject, &message.payload) {
            Ok(events) => events,
            Err(error) => {
                // Storage dead-letters the same message; nothing here can fill it.
                tracing::warn!(subject = %message.subject, %error, "A gap message did not decode; skipping it.");
                acknowledge(message, AckKind::Term).await;
                return true;
            }
        };
        for event in events {
            let Event::Gap(gap) = event else {
                continue;
            };
            if gap.reason.is_book_only() || !gap.state.status.is_open() {
                self.metrics.gaps_skipped.inc();
                continue;
            }
            self.metrics.gaps_in_progress.inc();
            let outcome = self.fill_and_publish(message, gap, shutdown).await;
            self.metrics.gaps_in_progress.dec();
            match outcome {
                Ok(()) => self.readiness.set(Ok(())),
                Err(Interrupted::Shutdown) => {
                    // Handed back at once, so the next backfill need not wait out ack_wait.
                    acknowledge(message, AckKind::Nak(None)).await;
                    return false;
                }
                Err(Interrupted::Retry(reason)) => {
                    self.metrics.gaps_retried.inc();
                    tracing::warn!(%reason, "Gap left for redelivery.");
                    self.readiness
                        .set(Err(format!("the last gap could not be finished: {reason}")));
                    let delay = self.config.consumer.max_retry_delay;
                    acknowledge(message, AckKind::Nak(Some(delay))).await;
                    return true;
                }
            }
        }
        acknowledge(message, AckKind::Ack).await;
        true
    }

    /// Fills `gap`, publishing its trades and then its status, while telling JetStream the
    /// message is still being worked on.
    async fn fill_and_publish(
        &self,
        message: &Message,
        gap: Gap,
        shutdown: &CancellationToken,
    ) -> Result<(), Interrupted> {
        let work = async {
            let filled = self
                .filler
                .fill(&gap, shutdown)
                .await
                .map_err(|error| match error {
                    FillError::Shutdown => Interrupted::Shutdown,
                    FillError::Unavailable(reason) => Interrupted::Retry(reason),
                })?;
            let recovered = filled.trades.len() as u64;
            let status = filled.state.status;
            tracing::info!(
                exchange = %gap.exchange, symbol = %gap.symbol, reason = gap.reason.as_str(),
                status = status.as_str(), recovered, detail = ?filled.state.detail,
                "Gap backfilled."
            );
            let decided = Gap {
                state: filled.state,
                ..gap
            };
            let events = filled
                .trades
                .into_iter()
                .map(Event::Trade)
                .chain([Event::Gap(decided)]);
            marketprism_collector::publish_with(
                self.client.clone(),
                &self.config.nats.stream,
                &self.config.publish,
                events,
            )
            .await
            .map_err(|error| Interrupted::Retry(format!("publishing: {error}")))?;
            self.metrics.trades_recovered.inc_by(recovered);
            self.metrics
                .gaps
                .get_or_create(&StatusLabel {
                    status: status.as_str(),
                })
                .inc();
            Ok(())
        };
        tokio::pin!(work);
        let mut progress = tokio::time::interval(self.config.consumer.ack_wait / 3);
        progress.tick().await;
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = progress.tick() => acknowledge(message, AckKind::Progress).await,
            }
        }
    }
}

/// Acks, naks or marks progress; a failure only means JetStream redelivers the message.
async fn acknowledge(message: &Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        tracing::warn!(%error, "Acknowledging a gap message failed; it will be redelivered.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_message_lane_is_its_venue_and_market() {
        assert_eq!(lane_of("gap.bybit.spot.BTC-USDT"), "gap.bybit.spot");
        assert_eq!(lane_of("gap.okx.perpetual.ETH-USDT"), "gap.okx.perpetual");
        assert_eq!(lane_of("gap.deribit"), "gap.deribit");
    }
}
