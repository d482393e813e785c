//! Publishes events to JetStream with a bounded window of outstanding acks, and keeps what
//! JetStream does not acknowledge in an on-disk spool until it does.
//!
//! Publishes are pipelined: up to `max_outstanding_acks` wait for their ack at once, settled
//! in order. Each ack has `ack_timeout` from the moment its message was sent, so an outage
//! costs one timeout for the whole window, not one per message. When an ack fails or times
//! out, the publisher stops sending: the failed message and everything behind it (in flight
//! or queued) goes to the spool (see [`crate::spool`]), in order, and everything that
//! arrives later follows it there, so the connections keep reading their sockets. After a
//! backoff it republishes the spool from its oldest unacknowledged message, a window at a
//! time with the same `Nats-Msg-Id`s (the stream's duplicate window absorbs copies that had
//! landed); a failure rewinds it again. Messages of a subject are therefore sent in the order
//! they were made. Once the spool is empty, new messages go straight to JetStream again.
//! When messages arrive faster than the window drains, they spill to the spool in the same
//! way. A spool that is full drops what arrives (`when_full = "drop"`) and publishes a
//! `spool_overflow` gap per instrument for it, or stops taking events (`"block"`). Without a
//! spool, an outage keeps at most `max_outstanding_acks` messages in memory and then stops
//! taking events. What is spooled at start (a collector stopped during an outage) is
//! republished first.
//!
//! A publish that fails is classified:
//! * the message exceeds the server's payload limit: a message of several events is split in
//!   two and each half published (their ids name what each holds); a single event is
//!   dead-lettered, cut to fit, with its `Nats-Msg-Id` as reference;
//! * no stream holds the subject: if the stream really does not exist the publisher stops with
//!   [`PublisherError::StreamMissing`] and the collector exits saying which stream to create;
//!   while it exists (a stream-leader election answers "no responders" for a few seconds),
//!   the message is retried;
//! * anything else (NATS restarting, an ack timed out, a full store) is retried as above.
//!
//! Events become messages in [`crate::batcher`]: events of one subject share a message per
//! window of venue time, cut identically by every collector of the feed, so that the stream
//! keeps one copy when several record it. A quiet feed thus still publishes about one event
//! per message; a busy one publishes fewer, larger messages, which is what lets the server
//! keep up: its cost is per message far more than per byte. Gaps are stamped with the
//! collector's name, when it has one, before they are batched.
//!
//! At shutdown the publisher waits up to `flush_timeout` for every ack once the connections
//! have stopped; what is still unacknowledged then stays in the spool for the next start.

use std::collections::{BTreeMap, VecDeque};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::context::{GetStreamErrorKind, PublishError, PublishErrorKind};
use async_nats::jetstream::{self, publish::PublishAck};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::FutureExt;
use marketprism_bus::{Backoff, DeadLetter, DeadLetterOrigin, StreamConfig};
use marketprism_model::codec::{self, EncodedMessage, MessageEncoder};
use marketprism_model::{Event, Gap, GapReason, GapState};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::batcher::{Batch, Batcher};
use crate::config::WhenFull;
use crate::metrics::Metrics;
use crate::spool::{Appended, Position, Record, Spool, SpoolError};
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
    /// The spool could not be read or written.
    #[error(transparent)]
    Spool(#[from] SpoolError),
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
    /// Told once everything handed over before it is stored: acknowledged by JetStream, or
    /// in the spool and synced to disk. Dropped unanswered if the publisher stops first.
    Checkpoint(oneshot::Sender<()>),
}

/// A message ready to (re)publish.
#[derive(Debug)]
struct Prepared {
    message: Record,
    /// When it was made (or, read back from the spool, when the outage began), for the age
    /// of what awaits an ack.
    since: Instant,
}

impl Prepared {
    fn events(message: EncodedMessage) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message.msg_id.as_str());
        Prepared {
            message: Record {
                subject: message.subject,
                headers,
                payload: Bytes::from(message.body),
                events: message.events,
            },
            since: Instant::now(),
        }
    }

    fn dead_letter(letter: DeadLetter) -> Self {
        Prepared {
            message: Record {
                subject: letter.subject,
                headers: letter.headers,
                payload: letter.payload,
                events: 0,
            },
            since: Instant::now(),
        }
    }

    /// The message's `Nats-Msg-Id`, if it carries events.
    fn msg_id(&self) -> Option<String> {
        self.message
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .map(|id| id.to_string())
    }
}

/// Where a message waiting to be sent or acknowledged is kept.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Only in memory: the message's number in the order messages were made.
    Memory(u64),
    /// Read from the spool; its ack consumes the spool up to the position (the last part of
    /// a split record carries it, the others none).
    Spool(Option<Position>),
}

/// A message and where it is kept.
struct Entry {
    prepared: Prepared,
    origin: Origin,
}

/// A message sent, awaiting its ack.
struct InFlight {
    entry: Entry,
    ack: AckFuture,
}

/// A message being handed to the client.
struct Sending {
    entry: Entry,
    sent: SendFuture,
}

/// An ack that resolves once JetStream has stored (or deduplicated) the message, or fails
/// at its deadline.
type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

/// A message being handed to the client; resolves to its ack.
type SendFuture = Pin<Box<dyn Future<Output = Result<AckFuture, PublishError>> + Send>>;

/// An outage in progress: since when, and what has been republished.
struct Outage {
    since: Instant,
}

/// The spool and how it is used.
struct Spooling {
    spool: Spool,
    when_full: WhenFull,
    sync_interval: Duration,
    last_sync: Instant,
}

pub(crate) struct Publisher {
    context: jetstream::Context,
    /// The streams the collector publishes to, for telling a missing one from a leader
    /// election.
    streams: StreamConfig,
    max_outstanding: usize,
    limits: PublishConfig,
    metrics: Metrics,
    /// Sent, awaiting acks, oldest first.
    window: VecDeque<InFlight>,
    /// The message being handed to the client, at most one, so that messages leave in order.
    sending: Option<Sending>,
    /// Made, not sent yet: in memory (or parts of a split spool record).
    queue: VecDeque<Entry>,
    /// Messages made so far: the number of the latest.
    made: u64,
    /// Checkpoints not yet told, each with the number of the last message made before it.
    checkpoints: VecDeque<(u64, oneshot::Sender<()>)>,
    spooling: Option<Spooling>,
    /// The `spool_overflow` gap of each instrument whose events the full spool dropped, not
    /// yet recorded; keyed by the gap's subject.
    overflow: BTreeMap<String, Gap>,
    outage: Option<Outage>,
    /// The collector's name, put on the gaps it publishes.
    name: Option<String>,
    /// No message is sent before this, after a failure.
    paused_until: Option<Instant>,
    backoff: Backoff,
}

impl Publisher {
    /// A publisher on `client` keeping at most `limits.max_outstanding_acks` acks in flight,
    /// spooling to `spool` when given, and naming the gaps it publishes after the collector
    /// `name` when given.
    pub(crate) fn new(
        client: async_nats::Client,
        streams: StreamConfig,
        limits: PublishConfig,
        metrics: Metrics,
        spool: Option<Spool>,
        name: Option<String>,
    ) -> Self {
        let max_outstanding = limits.max_outstanding_acks.max(1);
        // The client takes an ack permit for every unresolved publish and waits for one
        // before publishing (5,000 by default). The window must never hold more unresolved
        // publishes than there are permits, or publishing would wait on the window's own acks.
        // A dropped ack future keeps its permit until the context's timeout: the same as ours.
        let context = jetstream::ContextBuilder::new()
            .max_ack_inflight(max_outstanding)
            .timeout(limits.ack_timeout)
            .build(client);
        let spooling = spool.map(|spool| Spooling {
            spool,
            when_full: limits
                .spool
                .as_ref()
                .map_or(WhenFull::default(), |config| config.when_full),
            sync_interval: limits
                .spool
                .as_ref()
                .map_or(Duration::from_secs(1), |config| config.sync_interval),
            last_sync: Instant::now(),
        });
        let outage = spooling
            .as_ref()
            .filter(|spooling| !spooling.spool.is_empty())
            .map(|spooling| {
                tracing::warn!(
                    spool = %spooling.spool.path().display(),
                    messages = spooling.spool.records(),
                    bytes = spooling.spool.bytes(),
                    "Republishing what the spool held at start."
                );
                Outage {
                    since: Instant::now(),
                }
            });
        let backoff = Backoff::new(Duration::from_millis(100), limits.ack_timeout);
        Publisher {
            context,
            streams,
            max_outstanding,
            limits,
            metrics,
            window: VecDeque::with_capacity(max_outstanding),
            sending: None,
            queue: VecDeque::new(),
            made: 0,
            checkpoints: VecDeque::new(),
            spooling,
            overflow: BTreeMap::new(),
            outage,
            name,
            paused_until: None,
            backoff,
        }
    }

    /// Publishes everything received until every sender is gone, then waits up to
    /// `flush_timeout` for all acks; what is unacknowledged then stays in the spool. Acks are
    /// settled as they arrive, so a failure is noticed and repaired even when no further
    /// events follow. Stops early only when the stream is missing or the spool fails.
    pub(crate) async fn run(
        mut self,
        mut receiver: mpsc::Receiver<Outgoing>,
    ) -> Result<(), PublisherError> {
        let mut open = true;
        let mut flush_deadline: Option<Instant> = None;
        let mut batcher = Batcher::new(&self.limits, self.context.client().max_payload());
        loop {
            self.start_sending().await?;
            self.release_checkpoints();
            self.report();
            if !open {
                if self.is_done() {
                    break;
                }
                flush_deadline.get_or_insert_with(|| Instant::now() + self.limits.flush_timeout);
            }
            let far = Instant::now() + Duration::from_secs(3600);
            let paused_until = self.paused_until;
            let sync_at = self
                .spooling
                .as_ref()
                .filter(|spooling| spooling.spool.is_dirty())
                .map(|spooling| spooling.last_sync + spooling.sync_interval);
            let can_take = open && self.can_take();
            let batch_due = batcher.next_deadline();
            tokio::select! {
                biased;
                result = oldest_ack(&mut self.window), if !self.window.is_empty() => {
                    if let Some(in_flight) = self.window.pop_front() {
                        self.settle(in_flight.entry, result).await?;
                    }
                }
                sent = sending(&mut self.sending), if self.sending.is_some() => {
                    if let Some(Sending { entry, .. }) = self.sending.take() {
                        self.sent(entry, sent).await?;
                    }
                }
                () = tokio::time::sleep_until(paused_until.unwrap_or(far)), if paused_until.is_some() => {
                    self.paused_until = None;
                }
                () = tokio::time::sleep_until(sync_at.unwrap_or(far)), if sync_at.is_some() => {
                    self.sync()?;
                }
                () = tokio::time::sleep_until(flush_deadline.unwrap_or(far)), if flush_deadline.is_some() => {
                    self.leave_in_spool()?;
                    self.release_checkpoints();
                    return Ok(());
                }
                () = tokio::time::sleep_until(batch_due.unwrap_or(far)), if batch_due.is_some() => {
                    // What the connections queued meanwhile joins its messages first: a late
                    // wake-up must not cut off events that had already arrived.
                    let mut finished = Vec::new();
                    if can_take {
                        self.take_queued(&mut batcher, &mut receiver, None, &mut finished);
                    }
                    batcher.finish_due(Instant::now(), &mut finished);
                    self.route_all(finished)?;
                }
                next = receiver.recv(), if can_take => {
                    let mut finished = Vec::new();
                    match next {
                        Some(outgoing) => {
                            self.take_queued(&mut batcher, &mut receiver, Some(outgoing), &mut finished);
                        }
                        None => {
                            open = false;
                            batcher.finish_all(&mut finished);
                        }
                    }
                    self.route_all(finished)?;
                }
            }
        }
        if let Some(spooling) = &mut self.spooling {
            spooling.spool.sync()?;
        }
        self.report();
        tracing::info!("Publisher drained: every event is acknowledged.");
        Ok(())
    }

    /// Hands `first` and whatever else is queued to the batcher, as much as memory has room
    /// for (or a window's worth, into the spool): every item finishes at most one message.
    fn take_queued(
        &self,
        batcher: &mut Batcher,
        receiver: &mut mpsc::Receiver<Outgoing>,
        first: Option<Outgoing>,
        finished: &mut Vec<Batch>,
    ) {
        let now = Instant::now();
        let room = self.memory_room().max(1);
        let mut taken = 0;
        if let Some(outgoing) = first {
            batcher.take(self.named(outgoing), now, finished);
            taken += 1;
        }
        while taken < room {
            match receiver.try_recv() {
                Ok(outgoing) => batcher.take(self.named(outgoing), now, finished),
                Err(_) => break,
            }
            taken += 1;
        }
    }

    /// The item with the collector's name on it, if it is a gap without one.
    fn named(&self, outgoing: Outgoing) -> Outgoing {
        match outgoing {
            Outgoing::Event(Event::Gap(mut gap)) if gap.collector.is_none() => {
                gap.collector.clone_from(&self.name);
                Outgoing::Event(Event::Gap(gap))
            }
            other => other,
        }
    }

    /// Routes finished messages, in order; a checkpoint waits for the messages made before
    /// it.
    fn route_all(&mut self, finished: Vec<Batch>) -> Result<(), PublisherError> {
        for batch in finished {
            let prepared = match batch {
                Batch::Events(message) => Prepared::events(message),
                Batch::DeadLetter(letter) => Prepared::dead_letter(letter),
                Batch::Checkpoint(stored) => {
                    self.checkpoints.push_back((self.made, stored));
                    continue;
                }
            };
            self.route(prepared)?;
        }
        Ok(())
    }

    /// Tells the checkpoints whose earlier messages are all stored: none of them is only in
    /// memory, and the spool holds nothing unsynced.
    fn release_checkpoints(&mut self) {
        if self.checkpoints.is_empty()
            || self
                .spooling
                .as_ref()
                .is_some_and(|spooling| spooling.spool.is_dirty())
        {
            return;
        }
        // Oldest first: a checkpoint still waiting usually finds its message at the front.
        let in_memory = |made_before: u64| {
            self.window
                .iter()
                .map(|in_flight| &in_flight.entry)
                .chain(self.sending.as_ref().map(|sending| &sending.entry))
                .chain(&self.queue)
                .any(
                    |entry| matches!(entry.origin, Origin::Memory(number) if number <= made_before),
                )
        };
        while let Some(&(made_before, _)) = self.checkpoints.front() {
            if in_memory(made_before) {
                return;
            }
            if let Some((_, stored)) = self.checkpoints.pop_front() {
                // A checkpoint nobody waits for any more needs no answer.
                let _ = stored.send(());
            }
        }
    }

    /// True when nothing is left to publish or acknowledge.
    fn is_done(&self) -> bool {
        self.window.is_empty()
            && self.sending.is_none()
            && self.queue.is_empty()
            && self.overflow.is_empty()
            && self
                .spooling
                .as_ref()
                .is_none_or(|spooling| spooling.spool.is_empty())
    }

    /// Messages in memory: queued, being sent and awaiting acks.
    fn in_memory(&self) -> usize {
        self.queue.len() + self.window.len() + usize::from(self.sending.is_some())
    }

    /// How many more items memory holds; with a spool, a window's worth.
    fn memory_room(&self) -> usize {
        match &self.spooling {
            Some(_) => self.max_outstanding,
            None => self.max_outstanding.saturating_sub(self.in_memory()),
        }
    }

    /// Whether to take events from the connections now.
    fn can_take(&self) -> bool {
        match &self.spooling {
            None => self.in_memory() < self.max_outstanding,
            Some(spooling) => {
                spooling.when_full == WhenFull::Drop
                    || spooling.spool.bytes() + self.limits.max_message_bytes as u64
                        <= spooling.spool.max_bytes()
            }
        }
    }

    /// Queues a new message in memory, or appends it to the spool when the spool already
    /// holds messages (they go first) or memory is full.
    fn route(&mut self, prepared: Prepared) -> Result<(), PublisherError> {
        let memory_full = self.in_memory() >= self.max_outstanding;
        self.made += 1;
        let number = self.made;
        let Some(spooling) = &mut self.spooling else {
            self.queue.push_back(Entry {
                prepared,
                origin: Origin::Memory(number),
            });
            return Ok(());
        };
        if spooling.spool.is_empty() && !memory_full && self.overflow.is_empty() {
            self.queue.push_back(Entry {
                prepared,
                origin: Origin::Memory(number),
            });
            return Ok(());
        }
        if spooling.spool.is_empty() {
            self.spill()?;
        }
        self.append(prepared)
    }

    /// Moves what memory holds into the (empty) spool, in order: messages in flight stay in
    /// flight, now consuming their spool record when acknowledged; queued ones are read back
    /// from the spool when their turn comes.
    fn spill(&mut self) -> Result<(), PublisherError> {
        let Some(spooling) = &mut self.spooling else {
            return Ok(());
        };
        let in_flight = self
            .window
            .iter_mut()
            .map(|in_flight| &mut in_flight.entry)
            .chain(self.sending.as_mut().map(|sending| &mut sending.entry));
        for entry in in_flight {
            if let Origin::Memory(_) = entry.origin {
                spooling.spool.append_unbounded(&entry.prepared.message)?;
                entry.origin = Origin::Spool(spooling.spool.skip_to_end());
            }
        }
        let queued: Vec<Entry> = self.queue.drain(..).collect();
        for entry in queued {
            match entry.origin {
                Origin::Memory(_) => self.append(entry.prepared)?,
                Origin::Spool(_) => self.queue.push_back(entry),
            }
        }
        Ok(())
    }

    /// Appends a message to the spool, after the gaps of what the spool dropped before it;
    /// a full spool drops it and records its events for a `spool_overflow` gap.
    fn append(&mut self, prepared: Prepared) -> Result<(), PublisherError> {
        let Some(spooling) = &mut self.spooling else {
            return Ok(());
        };
        let needed = prepared.message.payload.len() as u64 + 1024;
        let has_room = spooling.spool.bytes() + needed <= spooling.spool.max_bytes();
        if has_room && !self.overflow.is_empty() {
            for (_, gap) in std::mem::take(&mut self.overflow) {
                let gap = Prepared::events(MessageEncoder::new(Event::Gap(gap)).finish());
                spooling.spool.append_unbounded(&gap.message)?;
            }
            tracing::info!(spool = %spooling.spool.path().display(), "The spool has room again; spool_overflow gaps recorded.");
        }
        if spooling.spool.append(&prepared.message)? == Appended::Full {
            self.drop_overflow(&prepared);
        }
        Ok(())
    }

    /// Accounts for a message the full spool could not take.
    fn drop_overflow(&mut self, prepared: &Prepared) {
        let message = &prepared.message;
        self.metrics.spool_dropped_messages.inc();
        self.metrics
            .spool_dropped_events
            .inc_by(message.events as u64);
        if self.overflow.is_empty() {
            tracing::error!(
                spool = ?self.spooling.as_ref().map(|spooling| spooling.spool.path().to_owned()),
                "The spool is full: dropping new events until it has room; spool_overflow gaps will cover them."
            );
        }
        let events = match codec::decode(&message.subject, &message.payload) {
            Ok(events) => events,
            Err(error) => {
                tracing::error!(%error, subject = %message.subject, "Dropped a message the spool could not hold and whose events cannot be named.");
                return;
            }
        };
        let now_ms = now_ms();
        for event in events {
            let (exchange, market_type, symbol) = event.instrument();
            let (from_ms, to_ms) = match &event {
                Event::Gap(gap) => (gap.from_ms, gap.to_ms),
                event => {
                    let time = event
                        .exchange_time_ms()
                        .unwrap_or_else(|| event.received_time_ms());
                    (time, time)
                }
            };
            let gap = Gap {
                exchange,
                market_type,
                symbol: symbol.clone(),
                from_ms,
                to_ms,
                reason: GapReason::SpoolOverflow,
                received_time_ms: now_ms,
                missing_ids: None,
                state: GapState::default(),
                collector: self.name.clone(),
            };
            self.overflow
                .entry(Event::Gap(gap.clone()).subject())
                .and_modify(|pending| {
                    pending.from_ms = pending.from_ms.min(from_ms);
                    pending.to_ms = pending.to_ms.max(to_ms);
                    pending.received_time_ms = now_ms;
                })
                .or_insert(gap);
        }
    }

    /// Hands the next messages to the client while the window has room and no failure
    /// pauses publishing: queued ones first, then the spool's.
    async fn start_sending(&mut self) -> Result<(), PublisherError> {
        loop {
            if self.sending.is_some()
                || self.paused_until.is_some()
                || self.window.len() >= self.max_outstanding
            {
                return Ok(());
            }
            let entry = match self.queue.pop_front() {
                Some(entry) => entry,
                None => match self.next_from_spool()? {
                    Some(entry) => entry,
                    None => return Ok(()),
                },
            };
            let mut sent = send(&self.context, &entry.prepared, self.limits.ack_timeout);
            match (&mut sent).now_or_never() {
                Some(Ok(ack)) => self.window.push_back(InFlight { entry, ack }),
                Some(Err(error)) => self.sent(entry, Err(error)).await?,
                None => self.sending = Some(Sending { entry, sent }),
            }
        }
    }

    /// The spool's next unread message; once the spool is empty, the gaps of what it
    /// dropped.
    fn next_from_spool(&mut self) -> Result<Option<Entry>, PublisherError> {
        let Some(spooling) = &mut self.spooling else {
            return Ok(None);
        };
        if spooling.spool.is_empty() && !self.overflow.is_empty() && self.window.is_empty() {
            for (_, gap) in std::mem::take(&mut self.overflow) {
                self.made += 1;
                self.queue.push_back(Entry {
                    prepared: Prepared::events(MessageEncoder::new(Event::Gap(gap)).finish()),
                    origin: Origin::Memory(self.made),
                });
            }
            return Ok(self.queue.pop_front());
        }
        let since = self
            .outage
            .as_ref()
            .map_or_else(Instant::now, |outage| outage.since);
        Ok(spooling.spool.read_next()?.map(|(message, end)| Entry {
            prepared: Prepared { message, since },
            origin: Origin::Spool(Some(end)),
        }))
    }

    /// Accounts for a message handed to the client, or for the failure to hand it over.
    async fn sent(
        &mut self,
        entry: Entry,
        result: Result<AckFuture, PublishError>,
    ) -> Result<(), PublisherError> {
        let error = match result {
            Ok(ack) => {
                self.window.push_back(InFlight { entry, ack });
                return Ok(());
            }
            Err(error) => error,
        };
        match decide(&self.context, &self.streams, &entry.prepared, &error).await {
            Decision::Split => {
                let parts = self.split(entry.prepared);
                let count = parts.len();
                for (index, prepared) in parts.into_iter().enumerate().rev() {
                    let origin = match entry.origin {
                        Origin::Spool(end) if index + 1 == count => Origin::Spool(end),
                        Origin::Spool(_) => Origin::Spool(None),
                        Origin::Memory(number) => Origin::Memory(number),
                    };
                    self.queue.push_front(Entry { prepared, origin });
                }
                Ok(())
            }
            Decision::Stop(stop) => Err(stop),
            Decision::Retry => self.fail(entry, &error),
        }
    }

    /// Accounts for an ack; a failure starts (or continues) an outage.
    async fn settle(
        &mut self,
        entry: Entry,
        result: Result<PublishAck, PublishError>,
    ) -> Result<(), PublisherError> {
        let error = match result {
            Ok(acknowledged) => {
                self.backoff.reset();
                if acknowledged.duplicate {
                    self.metrics.duplicates.inc();
                }
                if entry.prepared.message.events > 0 {
                    self.metrics.messages_published.inc();
                    self.metrics
                        .events_published
                        .inc_by(entry.prepared.message.events as u64);
                } else {
                    self.metrics.dead_lettered.inc();
                }
                if let (Origin::Spool(end), Some(spooling)) = (entry.origin, &mut self.spooling) {
                    self.metrics.republished_from_spool.inc();
                    if let Some(end) = end {
                        spooling.spool.consume(end)?;
                    }
                }
                self.end_outage_if_over();
                return Ok(());
            }
            Err(error) => error,
        };
        // A message the client accepted was within the payload limit: only a missing
        // stream stops; everything else is published again.
        if let Decision::Stop(stop) =
            decide(&self.context, &self.streams, &entry.prepared, &error).await
        {
            return Err(stop);
        }
        self.fail(entry, &error)
    }

    /// After `failed` was not acknowledged: nothing more is sent for a backoff; it and
    /// everything behind it, in flight or queued, is kept in order (in the spool, or in
    /// memory without one) to be republished together.
    fn fail(&mut self, failed: Entry, error: &PublishError) -> Result<(), PublisherError> {
        self.metrics.publish_retries.inc();
        let mut behind: Vec<Entry> = vec![failed];
        behind.extend(self.window.drain(..).map(|in_flight| in_flight.entry));
        behind.extend(self.sending.take().map(|sending| sending.entry));
        behind.extend(self.queue.drain(..));
        let held = behind.len();
        let delay = self.backoff.next_delay();
        self.paused_until = Some(Instant::now() + delay);
        let first = self.outage.is_none();
        let since = behind
            .first()
            .map_or_else(Instant::now, |entry| entry.prepared.since);
        self.outage.get_or_insert(Outage { since });
        if let Some(spooling) = &mut self.spooling {
            spooling.spool.rewind();
        }
        match &self.spooling {
            Some(_) => {
                for entry in behind {
                    if let Origin::Memory(_) = entry.origin {
                        self.append(entry.prepared)?;
                    }
                }
                let Some(spooling) = &self.spooling else {
                    return Ok(());
                };
                if first {
                    tracing::warn!(%error, spool = %spooling.spool.path().display(), messages = spooling.spool.records(), "JetStream did not acknowledge; spooling everything unacknowledged and republishing it when JetStream answers.");
                } else {
                    tracing::info!(%error, spool = %spooling.spool.path().display(), messages = spooling.spool.records(), retry_in = ?delay, "JetStream still does not acknowledge; the spool keeps growing.");
                }
            }
            None => {
                self.queue.extend(behind);
                if first {
                    tracing::warn!(%error, messages = held, "JetStream did not acknowledge; holding the unacknowledged messages in memory (no publish.spool configured) and republishing them.");
                } else {
                    tracing::info!(%error, messages = held, retry_in = ?delay, "JetStream still does not acknowledge.");
                }
            }
        }
        Ok(())
    }

    /// Logs the end of an outage once everything it held is acknowledged.
    fn end_outage_if_over(&mut self) {
        let spool_empty = self
            .spooling
            .as_ref()
            .is_none_or(|spooling| spooling.spool.is_empty());
        let over = spool_empty && self.queue.is_empty() && self.window.is_empty();
        if let (true, Some(outage)) = (over, &self.outage) {
            tracing::info!(
                after = ?outage.since.elapsed(),
                "JetStream acknowledges again; everything held during the outage is published."
            );
            self.outage = None;
        }
    }

    /// Makes what was spooled durable.
    fn sync(&mut self) -> Result<(), PublisherError> {
        if let Some(spooling) = &mut self.spooling {
            spooling.spool.sync()?;
            spooling.last_sync = Instant::now();
        }
        Ok(())
    }

    /// At the end of `flush_timeout`: keeps everything unacknowledged in the spool for the
    /// next start, and says so; without a spool it is lost, and says that.
    fn leave_in_spool(&mut self) -> Result<(), PublisherError> {
        let mut behind: Vec<Entry> = self
            .window
            .drain(..)
            .map(|in_flight| in_flight.entry)
            .collect();
        behind.extend(self.sending.take().map(|sending| sending.entry));
        behind.extend(self.queue.drain(..));
        let Some(spooling) = &mut self.spooling else {
            let events: usize = behind
                .iter()
                .map(|entry| entry.prepared.message.events)
                .sum();
            tracing::error!(
                messages = behind.len(),
                events,
                flush_timeout = ?self.limits.flush_timeout,
                "JetStream did not acknowledge everything before the flush deadline; without publish.spool these events are lost."
            );
            return Ok(());
        };
        spooling.spool.rewind();
        for entry in behind {
            if let Origin::Memory(_) = entry.origin {
                spooling.spool.append_unbounded(&entry.prepared.message)?;
            }
        }
        for (_, gap) in std::mem::take(&mut self.overflow) {
            let gap = Prepared::events(MessageEncoder::new(Event::Gap(gap)).finish());
            spooling.spool.append_unbounded(&gap.message)?;
        }
        spooling.spool.sync()?;
        tracing::warn!(
            spool = %spooling.spool.path().display(),
            messages = spooling.spool.records(),
            bytes = spooling.spool.bytes(),
            flush_timeout = ?self.limits.flush_timeout,
            "JetStream did not acknowledge everything before the flush deadline; what it did not acknowledge stays in the spool and is published at the next start."
        );
        self.report();
        Ok(())
    }

    /// Publishes the window, spool and outage state to the metrics.
    fn report(&self) {
        self.metrics.outstanding_acks.set(self.window.len() as i64);
        let (records, bytes) = self.spooling.as_ref().map_or((0, 0), |spooling| {
            (spooling.spool.records(), spooling.spool.bytes())
        });
        self.metrics.spooled_messages.set(records as i64);
        self.metrics.spooled_bytes.set(bytes as i64);
        let oldest = match &self.outage {
            Some(outage) => Some(outage.since),
            None => self
                .window
                .front()
                .map(|in_flight| in_flight.entry.prepared.since)
                .or_else(|| self.queue.front().map(|entry| entry.prepared.since)),
        };
        self.metrics.set_oldest_unacked(oldest);
    }

    /// A message over the payload limit as smaller messages: its events in two halves, or
    /// its one event as a dead letter cut to fit, referring to its `Nats-Msg-Id`.
    fn split(&self, prepared: Prepared) -> Vec<Prepared> {
        let max_payload = self.context.client().max_payload();
        let message = &prepared.message;
        let mut events = if message.events > 1 {
            codec::decode(&message.subject, &message.payload).unwrap_or_default()
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
        tracing::error!(subject = %message.subject, bytes = message.payload.len(), max_payload, "An event exceeds the server's payload limit; dead-lettering it.");
        let reference = prepared.msg_id();
        vec![Prepared::dead_letter(DeadLetter::new(
            DeadLetterOrigin::Collector,
            &message.subject,
            message.payload.clone(),
            &format!("the event exceeds the server's payload limit of {max_payload} bytes"),
            reference.as_deref(),
            max_payload,
        ))]
    }
}

/// Now, Unix milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
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
    let subject = &prepared.message.subject;
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => Decision::Split,
        PublishErrorKind::StreamNotFound => {
            let stream = if subject.starts_with("deadletter.") {
                &streams.deadletter_name
            } else {
                &streams.name
            };
            match context.get_stream(stream).await {
                Err(lookup) if is_not_found(lookup.kind()) => {
                    Decision::Stop(PublisherError::StreamMissing {
                        stream: stream.clone(),
                        subject: subject.clone(),
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

/// Hands a message to the client; resolves to its ack. Handing over and the ack share one
/// deadline, `ack_timeout` from now, so that a window sent into an outage fails within one
/// timeout.
fn send(context: &jetstream::Context, prepared: &Prepared, ack_timeout: Duration) -> SendFuture {
    let deadline = Instant::now() + ack_timeout;
    let context = context.clone();
    let message = prepared.message.clone();
    Box::pin(async move {
        let timed_out = |_| PublishError::new(PublishErrorKind::TimedOut);
        let ack = tokio::time::timeout_at(
            deadline,
            context.publish_with_headers(message.subject, message.headers, message.payload),
        )
        .await
        .map_err(timed_out)??;
        let ack: AckFuture = Box::pin(async move {
            tokio::time::timeout_at(deadline, ack.into_future())
                .await
                .map_err(timed_out)?
        });
        Ok(ack)
    })
}

/// Waits for the message being handed to the client.
async fn sending(sending: &mut Option<Sending>) -> Result<AckFuture, PublishError> {
    match sending {
        Some(sending) => (&mut sending.sent).await,
        None => std::future::pending().await,
    }
}

/// Waits for the oldest outstanding ack without removing it from the window.
async fn oldest_ack(window: &mut VecDeque<InFlight>) -> Result<PublishAck, PublishError> {
    match window.front_mut() {
        Some(in_flight) => (&mut in_flight.ack).await,
        None => std::future::pending().await,
    }
}
