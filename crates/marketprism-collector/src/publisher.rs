//! Publishes events to JetStream with a bounded window of outstanding acks.
//!
//! Publishes are pipelined: up to `max_outstanding_acks` wait for their ack at once, settled
//! in order. A failed or timed-out ack (NATS restarting, stream unavailable) makes the
//! publisher send the same message again, with the same `Nats-Msg-Id`, until it is
//! acknowledged; the stream's duplicate window absorbs any copy that had in fact landed.
//! While it retries, the channel from the connections fills and they stop reading: loss is
//! never silent, it becomes a gap at the venue side.
//!
//! Events queued together share messages: after taking an event, the publisher lets others
//! gather for `linger` (a few milliseconds), then takes what is queued and publishes the
//! events of each subject together, in queue order, up to `max_events_per_message` and
//! `max_message_bytes` (see [`MessageEncoder`]). A quiet feed thus still publishes one
//! event per message; a busy one publishes fewer, larger messages, which is what lets the
//! server keep up: its cost is per message far more than per byte.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use async_nats::HeaderMap;
use bytes::Bytes;
use marketprism_bus::{deadletter_subject, DeadLetterOrigin, DEADLETTER_ERROR_HEADER};
use marketprism_model::codec::{EncodedMessage, MessageEncoder};
use marketprism_model::Event;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::PublishConfig;
use marketprism_bus::Backoff;

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
#[derive(Debug)]
struct Prepared {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    /// Events it carries; none for a dead letter.
    events: usize,
}

impl Prepared {
    fn events(message: EncodedMessage) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message.msg_id.as_str());
        Prepared {
            subject: message.subject,
            headers,
            payload: Bytes::from(message.body),
            events: message.events,
        }
    }

    fn dead_letter(feed: &str, frame: String, reason: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(DEADLETTER_ERROR_HEADER, reason);
        Prepared {
            subject: deadletter_subject(DeadLetterOrigin::Collector, feed),
            headers,
            payload: Bytes::from(frame),
            events: 0,
        }
    }
}

/// A message of [`coalesce`]'s output, still open to events of its subject or finished.
enum Slot {
    Open(MessageEncoder),
    Finished(Prepared),
}

/// Turns queued items into messages, in queue order: events of one subject share a message
/// until it holds `max_events_per_message` events or `max_message_bytes` bytes. A gap goes
/// alone and closes every open message, so that no event queued after a gap is published
/// before it. Dead letters go alone.
fn coalesce(queued: Vec<Outgoing>, limits: &PublishConfig) -> Vec<Prepared> {
    let mut slots: Vec<Slot> = Vec::with_capacity(queued.len());
    // The open message of each subject: its index in `slots`.
    let mut open: HashMap<String, usize> = HashMap::new();
    let is_full = |encoder: &MessageEncoder| {
        encoder.events() >= limits.max_events_per_message
            || encoder.body_len() >= limits.max_message_bytes
    };
    for item in queued {
        match item {
            Outgoing::Event(event @ Event::Gap(_)) => {
                open.clear();
                slots.push(Slot::Open(MessageEncoder::new(event)));
            }
            Outgoing::Event(event) => {
                let subject = event.subject();
                if let Some(&index) = open.get(&subject) {
                    if let Some(Slot::Open(encoder)) = slots.get_mut(index) {
                        encoder.push(event);
                        if is_full(encoder) {
                            open.remove(&subject);
                        }
                        continue;
                    }
                }
                let encoder = MessageEncoder::new(event);
                if !is_full(&encoder) {
                    open.insert(subject, slots.len());
                }
                slots.push(Slot::Open(encoder));
            }
            Outgoing::DeadLetter {
                feed,
                frame,
                reason,
            } => slots.push(Slot::Finished(Prepared::dead_letter(&feed, frame, &reason))),
        }
    }
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Open(encoder) => Prepared::events(encoder.finish()),
            Slot::Finished(prepared) => prepared,
        })
        .collect()
}

/// An ack that resolves once JetStream has stored (or deduplicated) the message.
type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

pub(crate) struct Publisher {
    context: jetstream::Context,
    max_outstanding: usize,
    limits: PublishConfig,
    metrics: Metrics,
    window: VecDeque<(Prepared, AckFuture)>,
}

impl Publisher {
    /// A publisher on `client` keeping at most `limits.max_outstanding_acks` acks in flight.
    pub(crate) fn new(client: async_nats::Client, limits: PublishConfig, metrics: Metrics) -> Self {
        let max_outstanding = limits.max_outstanding_acks.max(1);
        // The client takes an ack permit for every unresolved publish and waits for one
        // before publishing (5,000 by default). The window must never hold more unresolved
        // publishes than there are permits, or publishing would wait on the window's own acks.
        let context = jetstream::ContextBuilder::new()
            .max_ack_inflight(max_outstanding)
            .build(client);
        Publisher {
            context,
            max_outstanding,
            limits,
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
                        if !self.limits.linger.is_zero() {
                            tokio::time::sleep(self.limits.linger).await;
                        }
                        // Whatever else is queued joins it, as much as the window has room
                        // for: every item makes at most one message.
                        let room = self.max_outstanding - self.window.len();
                        let mut queued = vec![outgoing];
                        while queued.len() < room {
                            match receiver.try_recv() {
                                Ok(outgoing) => queued.push(outgoing),
                                Err(_) => break,
                            }
                        }
                        for prepared in coalesce(queued, &self.limits) {
                            let ack = Self::send(&self.context, &self.metrics, &prepared).await;
                            self.window.push_back((prepared, ack));
                        }
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
                    if prepared.events > 0 {
                        self.metrics.messages_published.inc();
                        self.metrics.events_published.inc_by(prepared.events as u64);
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

#[cfg(test)]
mod tests {
    use marketprism_model::{codec, Exchange, Gap, GapReason, MarketType, Side, Trade};

    use super::*;

    fn trade(symbol: &str, trade_id: u64) -> Event {
        Event::Trade(Trade {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: symbol.parse().expect("valid"),
            trade_id: trade_id.to_string().into(),
            aggregated: false,
            price: "100.5".parse().expect("valid"),
            quantity: "0.25".parse().expect("valid"),
            side: Side::Buy,
            exchange_time_ms: 1_700_000_000_000,
            received_time_ms: 1_700_000_000_001,
        })
    }

    fn gap(symbol: &str) -> Event {
        Event::Gap(Gap {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: symbol.parse().expect("valid"),
            from_ms: 1,
            to_ms: 2,
            reason: GapReason::Disconnect,
            received_time_ms: 2,
        })
    }

    fn limits(max_events_per_message: usize, max_message_bytes: usize) -> PublishConfig {
        PublishConfig {
            max_events_per_message,
            max_message_bytes,
            ..PublishConfig::default()
        }
    }

    /// (subject, `Nats-Msg-Id`, events decoded from the body) of each message.
    fn published(messages: &[Prepared]) -> Vec<(String, String, Vec<Event>)> {
        messages
            .iter()
            .map(|message| {
                let msg_id = message
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                let events = codec::decode(&message.subject, &message.payload).unwrap_or_default();
                assert_eq!(message.events, events.len());
                (message.subject.clone(), msg_id, events)
            })
            .collect()
    }

    fn queue(events: impl IntoIterator<Item = Event>) -> Vec<Outgoing> {
        events.into_iter().map(Outgoing::Event).collect()
    }

    #[test]
    fn events_of_one_subject_share_a_message_in_queue_order() {
        let queued = queue([
            trade("BTC-USDT", 1),
            trade("ETH-USDT", 10),
            trade("BTC-USDT", 2),
            trade("BTC-USDT", 3),
        ]);
        assert_eq!(
            published(&coalesce(queued, &PublishConfig::default())),
            [
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    "trade.binance.spot.BTC-USDT:t:1..t:3/3".to_owned(),
                    vec![
                        trade("BTC-USDT", 1),
                        trade("BTC-USDT", 2),
                        trade("BTC-USDT", 3)
                    ],
                ),
                (
                    "trade.binance.spot.ETH-USDT".to_owned(),
                    trade("ETH-USDT", 10).msg_id(),
                    vec![trade("ETH-USDT", 10)],
                ),
            ]
        );
    }

    #[test]
    fn a_full_message_is_closed_and_the_next_event_starts_another() {
        let queued = queue((1..=5).map(|id| trade("BTC-USDT", id)));
        let sizes: Vec<usize> = coalesce(queued, &limits(2, 1 << 20))
            .iter()
            .map(|message| message.events)
            .collect();
        assert_eq!(sizes, [2, 2, 1]);

        let queued = queue((1..=3).map(|id| trade("BTC-USDT", id)));
        let one_byte = coalesce(queued, &limits(256, 1));
        assert_eq!(
            published(&one_byte)
                .into_iter()
                .map(|(_, msg_id, _)| msg_id)
                .collect::<Vec<_>>(),
            (1..=3)
                .map(|id| trade("BTC-USDT", id).msg_id())
                .collect::<Vec<_>>(),
        );
    }

    #[test]
    fn nothing_queued_after_a_gap_is_published_before_it() {
        let queued = queue([
            trade("BTC-USDT", 1),
            gap("BTC-USDT"),
            trade("BTC-USDT", 2),
            trade("BTC-USDT", 3),
        ]);
        let order: Vec<(String, Vec<Event>)> = published(&coalesce(queued, &limits(256, 1 << 20)))
            .into_iter()
            .map(|(subject, _, events)| (subject, events))
            .collect();
        assert_eq!(
            order,
            [
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 1)]
                ),
                (
                    "gap.binance.spot.BTC-USDT".to_owned(),
                    vec![gap("BTC-USDT")]
                ),
                (
                    "trade.binance.spot.BTC-USDT".to_owned(),
                    vec![trade("BTC-USDT", 2), trade("BTC-USDT", 3)]
                ),
            ]
        );
    }

    #[test]
    fn dead_letters_go_alone_where_they_were_queued() {
        let mut queued = queue([trade("BTC-USDT", 1)]);
        queued.push(Outgoing::DeadLetter {
            feed: "binance.spot".into(),
            frame: "{garbage".into(),
            reason: "expected value".into(),
        });
        queued.extend(queue([trade("BTC-USDT", 2)]));
        let messages = coalesce(queued, &PublishConfig::default());
        let subjects: Vec<&str> = messages
            .iter()
            .map(|message| message.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            [
                "trade.binance.spot.BTC-USDT",
                "deadletter.collector.binance.spot"
            ]
        );
        assert_eq!(messages[0].events, 2);
        assert_eq!(messages[1].events, 0);
        assert_eq!(&messages[1].payload[..], b"{garbage");
    }
}
