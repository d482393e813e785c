//! Publishes events to JetStream with a bounded window of outstanding acks.
//!
//! Publishes are pipelined: up to `max_outstanding_acks` wait for their ack at once, settled
//! in order. A failed or timed-out ack (NATS restarting, stream unavailable) makes the
//! publisher send the same message again, with the same `Nats-Msg-Id`, until it is
//! acknowledged; the stream's duplicate window absorbs any copy that had in fact landed.
//! While it retries, the channel from the connections fills and they stop reading: loss is
//! never silent, it becomes a gap at the venue side.
//!
//! A publish that fails is classified:
//! * the message exceeds the server's payload limit: a message of several events is split in
//!   two and each half published (their ids name what each holds); a single event is
//!   dead-lettered, cut to fit, with its `Nats-Msg-Id` as reference;
//! * no stream holds the subject: if the stream really does not exist the publisher stops with
//!   [`PublisherError::StreamMissing`] and the collector exits saying which stream to create;
//!   while it exists (a stream-leader election answers "no responders" for a few seconds),
//!   the message is retried;
//! * anything else (NATS restarting, an ack timed out) is retried with the same id.
//!
//! Events queued together share messages: after taking an event, the publisher lets others
//! gather for `linger` (a few milliseconds), then takes what is queued and publishes the
//! events of each subject together, in queue order, up to `max_events_per_message` and
//! `max_message_bytes` (see [`MessageEncoder`]). A quiet feed thus still publishes one
//! event per message; a busy one publishes fewer, larger messages, which is what lets the
//! server keep up: its cost is per message far more than per byte.
//!
//! For readiness the publisher records when the oldest message still awaiting its ack was
//! made (see [`Metrics::set_oldest_unacked`]): a message being republished keeps its age.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::context::{GetStreamErrorKind, PublishError, PublishErrorKind};
use async_nats::jetstream::{self, publish::PublishAck};
use async_nats::HeaderMap;
use bytes::Bytes;
use marketprism_bus::{Backoff, DeadLetter, DeadLetterOrigin, StreamConfig};
use marketprism_model::codec::{self, EncodedMessage, MessageEncoder};
use marketprism_model::Event;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::PublishConfig;

/// The publisher had to stop.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// No stream holds the subject, and the stream meant to does not exist.
    #[error("JetStream stream {stream} does not exist, so {subject} cannot be stored; create it with `marketprism streams init`")]
    StreamMissing {
        /// The stream that should hold the subject.
        stream: String,
        /// The subject that found no stream.
        subject: String,
    },
}

/// What to do about a publish that failed.
enum Decision {
    /// Publish the same message again after a delay.
    Retry,
    /// The message is too large: split it, or dead-letter its one event.
    Split,
    /// Stop publishing.
    Stop(PublisherError),
}

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
    /// When it was made, for the age of what awaits an ack.
    since: Instant,
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
            since: Instant::now(),
        }
    }

    fn dead_letter(letter: DeadLetter) -> Self {
        Prepared {
            subject: letter.subject,
            headers: letter.headers,
            payload: letter.payload,
            events: 0,
            since: Instant::now(),
        }
    }

    /// The message's `Nats-Msg-Id`, if it carries events.
    fn msg_id(&self) -> Option<String> {
        self.headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|id| id.to_string())
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
fn coalesce(queued: Vec<Outgoing>, limits: &PublishConfig, max_payload: usize) -> Vec<Prepared> {
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
            } => slots.push(Slot::Finished(Prepared::dead_letter(DeadLetter::new(
                DeadLetterOrigin::Collector,
                &feed,
                Bytes::from(frame),
                &reason,
                None,
                max_payload,
            )))),
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
    /// The streams the collector publishes to, for telling a missing one from a leader
    /// election.
    streams: StreamConfig,
    max_outstanding: usize,
    limits: PublishConfig,
    metrics: Metrics,
    window: VecDeque<(Prepared, AckFuture)>,
}

impl Publisher {
    /// A publisher on `client` keeping at most `limits.max_outstanding_acks` acks in flight.
    pub(crate) fn new(
        client: async_nats::Client,
        streams: StreamConfig,
        limits: PublishConfig,
        metrics: Metrics,
    ) -> Self {
        let max_outstanding = limits.max_outstanding_acks.max(1);
        // The client takes an ack permit for every unresolved publish and waits for one
        // before publishing (5,000 by default). The window must never hold more unresolved
        // publishes than there are permits, or publishing would wait on the window's own acks.
        let context = jetstream::ContextBuilder::new()
            .max_ack_inflight(max_outstanding)
            .build(client);
        Publisher {
            context,
            streams,
            max_outstanding,
            limits,
            metrics,
            window: VecDeque::with_capacity(max_outstanding),
        }
    }

    /// Publishes everything received until every sender is gone, then waits for all acks.
    /// Acks are settled as they arrive, so a failure is noticed and repaired even when no
    /// further events follow. Stops early only when the stream is missing.
    pub(crate) async fn run(
        mut self,
        mut receiver: mpsc::Receiver<Outgoing>,
    ) -> Result<(), PublisherError> {
        let mut open = true;
        while open || !self.window.is_empty() {
            let has_room = self.window.len() < self.max_outstanding;
            tokio::select! {
                biased;
                result = oldest_ack(&mut self.window), if !self.window.is_empty() => {
                    if let Some((prepared, _)) = self.window.pop_front() {
                        self.settle(prepared, result).await?;
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
                        let max_payload = self.context.client().max_payload();
                        for prepared in coalesce(queued, &self.limits, max_payload) {
                            self.publish(prepared).await?;
                        }
                    }
                    None => open = false,
                },
            }
            self.metrics.outstanding_acks.set(self.window.len() as i64);
            // The oldest in the window; while it is being republished (out of the window),
            // this stays what was set when it was at the front.
            self.metrics
                .set_oldest_unacked(self.window.front().map(|(prepared, _)| prepared.since));
        }
        tracing::info!("Publisher drained: every event is acknowledged.");
        Ok(())
    }

    /// Publishes a message and puts its ack in the window once the client accepted it (it
    /// buffers while reconnecting); a message too large goes as two halves, or as a dead
    /// letter.
    async fn publish(&mut self, prepared: Prepared) -> Result<(), PublisherError> {
        // The client may make it wait (no room to buffer, no ack permit): it counts as
        // awaiting its ack from now.
        self.metrics.note_unacked(prepared.since);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let error = match send(&self.context, &prepared).await {
                Ok(ack) => {
                    self.window.push_back((prepared, ack));
                    return Ok(());
                }
                Err(error) => error,
            };
            match decide(&self.context, &self.streams, &prepared, &error).await {
                Decision::Retry => {
                    self.metrics.publish_retries.inc();
                    tracing::warn!(%error, subject = %prepared.subject, "Publish failed; retrying.");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Decision::Split => {
                    for part in self.split(prepared) {
                        Box::pin(self.publish(part)).await?;
                    }
                    return Ok(());
                }
                Decision::Stop(stop) => return Err(stop),
            }
        }
    }

    /// Accounts for an ack; on failure republishes the same message until it is acked.
    async fn settle(
        &mut self,
        prepared: Prepared,
        mut result: Result<PublishAck, PublishError>,
    ) -> Result<(), PublisherError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let error = match result {
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
                    return Ok(());
                }
                Err(error) => error,
            };
            // A message the client accepted was within the payload limit: only a missing
            // stream stops; everything else is published again.
            if let Decision::Stop(stop) =
                decide(&self.context, &self.streams, &prepared, &error).await
            {
                return Err(stop);
            }
            self.metrics.publish_retries.inc();
            tracing::warn!(%error, subject = %prepared.subject, "JetStream did not acknowledge; republishing.");
            tokio::time::sleep(backoff.next_delay()).await;
            result = match send(&self.context, &prepared).await {
                Ok(ack) => ack.await,
                Err(error) => Err(error),
            };
        }
    }

    /// A message over the payload limit as smaller messages: its events in two halves, or
    /// its one event as a dead letter cut to fit, referring to its `Nats-Msg-Id`.
    fn split(&self, prepared: Prepared) -> Vec<Prepared> {
        let max_payload = self.context.client().max_payload();
        let mut events = if prepared.events > 1 {
            codec::decode(&prepared.subject, &prepared.payload).unwrap_or_default()
        } else {
            Vec::new()
        };
        if events.len() > 1 {
            let second = events.split_off(events.len() / 2);
            return [events, second]
                .into_iter()
                .filter_map(|half| {
                    let mut half = half.into_iter();
                    let mut encoder = MessageEncoder::new(half.next()?);
                    half.for_each(|event| encoder.push(event));
                    Some(Prepared::events(encoder.finish()))
                })
                .collect();
        }
        tracing::error!(subject = %prepared.subject, bytes = prepared.payload.len(), max_payload, "An event exceeds the server's payload limit; dead-lettering it.");
        let reference = prepared.msg_id();
        vec![Prepared::dead_letter(DeadLetter::new(
            DeadLetterOrigin::Collector,
            &prepared.subject,
            prepared.payload,
            &format!("the event exceeds the server's payload limit of {max_payload} bytes"),
            reference.as_deref(),
            max_payload,
        ))]
    }
}

/// Classifies a failed publish of `prepared` to `streams`.
///
/// Takes the context rather than the publisher: the window's futures are `Send` but not
/// `Sync`, so a `&Publisher` may not be held across an await.
async fn decide(
    context: &jetstream::Context,
    streams: &StreamConfig,
    prepared: &Prepared,
    error: &PublishError,
) -> Decision {
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => Decision::Split,
        PublishErrorKind::StreamNotFound => {
            let stream = if prepared.subject.starts_with("deadletter.") {
                &streams.deadletter_name
            } else {
                &streams.name
            };
            match context.get_stream(stream).await {
                Err(lookup) if is_not_found(lookup.kind()) => {
                    Decision::Stop(PublisherError::StreamMissing {
                        stream: stream.clone(),
                        subject: prepared.subject.clone(),
                    })
                }
                _ => Decision::Retry,
            }
        }
        _ => Decision::Retry,
    }
}

/// True when a stream lookup failed because the stream does not exist.
fn is_not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(error)
        if error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

/// Hands a message to the client and returns its ack.
async fn send(
    context: &jetstream::Context,
    prepared: &Prepared,
) -> Result<AckFuture, PublishError> {
    let ack = context
        .publish_with_headers(
            prepared.subject.clone(),
            prepared.headers.clone(),
            prepared.payload.clone(),
        )
        .await?;
    Ok(Box::pin(ack.into_future()))
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
    use marketprism_model::{
        codec, Exchange, Gap, GapReason, GapState, MarketType, Side, Trade, TradeSource,
    };

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
            sequence: None,
            source: TradeSource::Ws,
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
            missing_ids: None,
            state: GapState::default(),
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
            published(&coalesce(queued, &PublishConfig::default(), 1 << 20)),
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
        let sizes: Vec<usize> = coalesce(queued, &limits(2, 1 << 20), 1 << 20)
            .iter()
            .map(|message| message.events)
            .collect();
        assert_eq!(sizes, [2, 2, 1]);

        let queued = queue((1..=3).map(|id| trade("BTC-USDT", id)));
        let one_byte = coalesce(queued, &limits(256, 1), 1 << 20);
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
        let order: Vec<(String, Vec<Event>)> =
            published(&coalesce(queued, &limits(256, 1 << 20), 1 << 20))
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
        let messages = coalesce(queued, &PublishConfig::default(), 1 << 20);
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
