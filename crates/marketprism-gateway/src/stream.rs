//! `WS /v1/stream?types&symbols[&exchange][&market][&start][&frames]`: normalized events from
//! the event stream, live, as WebSocket text frames, one event per frame in the bus's JSON
//! form (`{"type":"trade","exchange":"binance",...}`). With `frames=array`, the events the
//! collector published together go out as one JSON array (`[{"type":"trade",...},...]`): a
//! client following busy feeds then handles a frame per batch rather than per event.
//!
//! Each (data type, symbol) is read through an ordered JetStream consumer, which keeps the
//! stream's order and never delivers a message twice. Clients without `start` share one
//! consumer per subject ([`Hub`]): a subject is read once however many clients follow it.
//! With `start`, a client's consumers are its own and begin at that time, so it first gets
//! what the stream holds since then and then, through the same consumers, what arrives:
//! nothing is lost or repeated at the switch.
//! Once every consumer has caught up with the stream, a `{"type":"replay_completed"}` frame
//! marks the switch. Without `start` the consumers begin with new messages. While a client
//! replays, its readers wait for it: the stream holds what it has not read yet.
//!
//! Gaps of the requested symbols arrive inline as `gap` events: where a collector lost its
//! connection or saw a sequence break, the client hears of it as it happens. Every
//! `live.heartbeat` a `{"type":"heartbeat"}` frame shows the connection is alive when the
//! feeds are quiet. A client that reads slower than events arrive fills its buffer of
//! `live.client_buffer` frames; it is then closed with code 1008 and a reason saying so,
//! rather than slowing the others or growing without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, Consumer, DeliverPolicy};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt as _, StreamExt as _};
use marketprism_model::{codec, DataType, Exchange, MarketType, Symbol};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::params::Params;
use crate::ApiError;

/// The close code of a client whose buffer overflowed: policy violation.
const OVERFLOW_CODE: u16 = 1008;

/// The close code when the event stream cannot be read: internal error.
const UNAVAILABLE_CODE: u16 = 1011;

/// The close code when the gateway stops: going away.
const GOING_AWAY_CODE: u16 = 1001;

/// Most frames written to a client at once, before one flush.
const WRITE_BATCH: usize = 256;

fn default_heartbeat() -> Duration {
    Duration::from_secs(5)
}

fn default_client_buffer() -> usize {
    10_000
}

/// Settings of the live stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// How often a client gets a heartbeat frame, e.g. `5s`.
    #[serde(default = "default_heartbeat", with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Frames waiting for one client at most; one more closes it.
    #[serde(default = "default_client_buffer")]
    pub client_buffer: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            heartbeat: default_heartbeat(),
            client_buffer: default_client_buffer(),
        }
    }
}

impl LiveConfig {
    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat.is_zero() {
            return Err("live.heartbeat must be positive".into());
        }
        if self.client_buffer == 0 {
            return Err("live.client_buffer must be positive".into());
        }
        Ok(())
    }
}

/// What one client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// The data types.
    pub types: Vec<DataType>,
    /// The symbols.
    pub symbols: Vec<Symbol>,
    /// One venue, or every one.
    pub exchange: Option<Exchange>,
    /// One market, or every one.
    pub market: Option<MarketType>,
    /// Where to begin, Unix milliseconds; absent: with new events.
    pub start_ms: Option<i64>,
    /// How events are framed.
    pub framing: Framing,
}

impl StreamRequest {
    /// Takes the request's parameters from `params`, refusing any other.
    pub fn parse(mut params: Params) -> Result<Self, ApiError> {
        let request = StreamRequest {
            types: params.data_types("types")?,
            symbols: params.symbols("symbols")?,
            exchange: params.optional_exchange()?,
            market: params.optional_market()?,
            start_ms: params.optional_time("start")?,
            framing: match params.choice("frames", &["event", "array"])? {
                "array" => Framing::Array,
                _ => Framing::Event,
            },
        };
        params.finish()?;
        Ok(request)
    }

    /// The subjects to read, one per (data type, symbol), the symbols' gaps included:
    /// `{type}.{exchange or *}.{market or *}.{symbol}`.
    pub fn subjects(&self) -> Vec<String> {
        let exchange = self.exchange.map_or("*", Exchange::as_str);
        let market = self.market.map_or("*", MarketType::as_str);
        // Gaps are not a type one asks for (no table holds them as events): they always come.
        self.types
            .iter()
            .chain([&DataType::Gap])
            .flat_map(|data_type| {
                self.symbols.iter().map(move |symbol| {
                    format!("{}.{exchange}.{market}.{symbol}", data_type.as_str())
                })
            })
            .collect()
    }
}

/// A frame of the gateway's own, beside the events.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Notice {
    /// Everything the stream held from `start` on has been sent; what follows is live.
    ReplayCompleted { time_ms: i64 },
    /// The connection is alive.
    Heartbeat { time_ms: i64 },
}

impl Notice {
    fn frame(&self) -> Utf8Bytes {
        // A struct of an integer and a tag serializes.
        Utf8Bytes::from(serde_json::to_string(self).unwrap_or_default())
    }
}

/// Why the events stopped coming for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    /// The client's buffer overflowed.
    Overflow,
    /// The event stream could not be read.
    Unavailable(String),
}

impl Ending {
    /// The close frame's code and reason, for a client whose buffer holds `buffer` frames.
    fn close(self, buffer: usize) -> (u16, String) {
        match self {
            Ending::Overflow => (
                OVERFLOW_CODE,
                format!(
                    "too slow: {buffer} frames waited for this client; reconnect, with start= to resume"
                ),
            ),
            Ending::Unavailable(reason) => (UNAVAILABLE_CODE, reason),
        }
    }
}

/// The events of one bus message, in order: what readers hand on at once, shared by every
/// client that gets them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Batch {
    /// Each event's JSON text.
    events: Box<[Utf8Bytes]>,
    /// All of them as one JSON array, made once for every client that wants it so.
    array: OnceLock<Utf8Bytes>,
}

/// A batch as readers pass it around.
type Events = Arc<Batch>;

impl Batch {
    /// The texts of a message's usable events; none when the message is not events.
    fn of(message: &async_nats::Message) -> Events {
        let Ok(events) = codec::decode_each(&message.subject, &message.payload) else {
            return Events::default();
        };
        Arc::new(Batch {
            events: events
                .into_iter()
                .filter(|event| event.event.is_ok())
                .filter_map(|event| std::str::from_utf8(event.raw).ok())
                .map(Utf8Bytes::from)
                .collect(),
            array: OnceLock::new(),
        })
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events as one JSON array.
    fn array(&self) -> Utf8Bytes {
        self.array
            .get_or_init(|| {
                let length = self
                    .events
                    .iter()
                    .map(|event| event.len() + 1)
                    .sum::<usize>();
                let mut array = String::with_capacity(length + 1);
                for event in &self.events {
                    array.push(if array.is_empty() { '[' } else { ',' });
                    array.push_str(event.as_str());
                }
                array.push(']');
                Utf8Bytes::from(array)
            })
            .clone()
    }
}

/// What waits in a client's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Queued {
    /// Events, one frame each or together in an array.
    Events(Events),
    /// A frame of the gateway's own, always on its own.
    Notice(Utf8Bytes),
}

impl Queued {
    /// Its room in the buffer: its frames, but at most the whole buffer.
    fn room(&self, capacity: usize) -> usize {
        match self {
            Queued::Events(events) => events.len().min(capacity),
            Queued::Notice(_) => 1,
        }
    }
}

/// How events are framed for a client (`frames=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One event per text frame (`event`, the default).
    Event,
    /// The events the collector published together in one text frame, as a JSON array
    /// (`array`): far fewer frames for a client following busy feeds, each made once for
    /// all clients. Notices stay frames of their own.
    Array,
}

impl Framing {
    /// The text frames of `queued`, in order.
    fn frames(self, queued: &[Queued]) -> Vec<Utf8Bytes> {
        let mut frames = Vec::new();
        for item in queued {
            match (self, item) {
                (Framing::Event, Queued::Events(batch)) => {
                    frames.extend(batch.events.iter().cloned());
                }
                (Framing::Array, Queued::Events(batch)) => frames.push(batch.array()),
                (_, Queued::Notice(notice)) => frames.push(notice.clone()),
            }
        }
        frames
    }
}

/// What the readers of one client's subjects share.
struct Feed {
    queue: mpsc::UnboundedSender<Queued>,
    /// Room left in the client's buffer, in frames: a reader takes a permit per event it
    /// queues, the writer gives them back once they are written.
    room: Arc<Semaphore>,
    /// The buffer's size, in frames.
    capacity: usize,
    /// Subjects still catching up with the stream, with `start` only.
    catching_up: AtomicUsize,
    ending: mpsc::Sender<Ending>,
    stop: CancellationToken,
}

impl Feed {
    /// Queues `item`. While `replaying`, a full buffer makes the reader wait: the stream
    /// holds the rest, so the client gets it at its own pace. Live, a full buffer means the
    /// client reads slower than events arrive, and it is ended.
    async fn send(&self, item: Queued, replaying: bool) -> bool {
        let room = u32::try_from(item.room(self.capacity)).unwrap_or(u32::MAX);
        if room == 0 {
            return true;
        }
        let permit = if replaying {
            match self.room.acquire_many(room).await {
                Ok(permit) => permit,
                Err(_) => return false,
            }
        } else {
            match self.room.try_acquire_many(room) {
                Ok(permit) => permit,
                Err(_) => {
                    let _ = self.ending.try_send(Ending::Overflow);
                    self.stop.cancel();
                    return false;
                }
            }
        };
        // The writer gives the room back.
        permit.forget();
        self.queue.send(item).is_ok()
    }

    /// Whether some subject still replays: until all have caught up, every reader waits for
    /// the client rather than ending it (one subject live beside another replaying would
    /// otherwise find the buffer the replay keeps full).
    fn replaying(&self) -> bool {
        self.catching_up.load(Ordering::Acquire) > 0
    }

    /// One subject has caught up; the last one to do so sends the marker.
    async fn caught_up(&self) {
        if self.catching_up.fetch_sub(1, Ordering::AcqRel) == 1 {
            let marker = Notice::ReplayCompleted { time_ms: now_ms() }.frame();
            self.send(Queued::Notice(marker), true).await;
        }
    }

    fn fail(&self, reason: String) {
        let _ = self.ending.try_send(Ending::Unavailable(reason));
        self.stop.cancel();
    }
}

/// Serves one client until it leaves, falls behind, the stream fails or `shutdown`.
pub async fn serve(
    mut socket: WebSocket,
    hub: Arc<Hub>,
    request: StreamRequest,
    config: LiveConfig,
    shutdown: CancellationToken,
) {
    let stop = shutdown.child_token();
    let (queue, mut queued) = mpsc::unbounded_channel();
    let (ending, mut ended) = mpsc::channel(1);
    let subjects = request.subjects();
    let room = Arc::new(Semaphore::new(config.client_buffer));
    let feed = Arc::new(Feed {
        queue,
        room: Arc::clone(&room),
        capacity: config.client_buffer,
        catching_up: AtomicUsize::new(if request.start_ms.is_some() {
            subjects.len()
        } else {
            0
        }),
        ending,
        stop: stop.clone(),
    });
    let readers: Vec<_> = subjects
        .into_iter()
        .map(|subject| match request.start_ms {
            Some(start_ms) => tokio::spawn(read_subject(
                hub.jetstream.clone(),
                hub.stream.clone(),
                subject,
                start_ms,
                Arc::clone(&feed),
            )),
            None => {
                let (topic, events) = hub.subscribe(&subject, config.client_buffer);
                tokio::spawn(forward_live(topic, events, Arc::clone(&feed)))
            }
        })
        .collect();
    drop(feed);

    let mut heartbeat = tokio::time::interval(config.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await;
    let close = loop {
        // The first item, and the room it took in the buffer.
        let (first, mut taken) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Some((GOING_AWAY_CODE, "the gateway is stopping".to_owned())),
            Some(ending) = ended.recv() => break Some(ending.close(config.client_buffer)),
            item = queued.recv() => match item {
                Some(item) => {
                    let room = item.room(config.client_buffer);
                    (item, room)
                }
                None => break None,
            },
            _ = heartbeat.tick() => (Queued::Notice(Notice::Heartbeat { time_ms: now_ms() }.frame()), 0),
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                Some(Ok(_)) => continue,
            },
        };
        // Whatever else is queued goes out with it, in one write. A client that stops
        // reading blocks the write: its overflow must still end it.
        let mut batch = vec![first];
        while taken < WRITE_BATCH {
            match queued.try_recv() {
                Ok(item) => {
                    taken += item.room(config.client_buffer);
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        let write = async {
            for frame in request.framing.frames(&batch) {
                socket.feed(Message::Text(frame)).await?;
            }
            socket.flush().await
        };
        tokio::select! {
            biased;
            Some(ending) = ended.recv() => break Some(ending.close(config.client_buffer)),
            written = write => if written.is_err() {
                break None;
            },
        }
        // The room the readers took for these frames.
        room.add_permits(taken);
    };
    stop.cancel();
    for reader in readers {
        reader.abort();
    }
    if let Some((code, reason)) = close {
        // A reason is at most 123 bytes.
        let reason: String = reason.chars().take(120).collect();
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(reason),
            })))
            .await;
    }
}

/// An ordered consumer of `subject` on `stream`, delivering as `deliver_policy` says.
async fn ordered_consumer(
    jetstream: &async_nats::jetstream::Context,
    stream: &str,
    subject: &str,
    deliver_policy: DeliverPolicy,
) -> Result<Consumer<pull::OrderedConfig>, String> {
    jetstream
        .get_stream(stream)
        .await
        .map_err(|error| format!("stream {stream}: {error}"))?
        .create_consumer(pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy,
            ..pull::OrderedConfig::default()
        })
        .await
        .map_err(|error| format!("reading {subject}: {error}"))
}

/// Reads `subject` through an ordered consumer of its own from `start_ms` and queues its
/// events, until `feed` stops.
async fn read_subject(
    jetstream: async_nats::jetstream::Context,
    stream_name: String,
    subject: String,
    start_ms: i64,
    feed: Arc<Feed>,
) {
    let deliver_policy =
        match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(start_ms) * 1_000_000) {
            Ok(start_time) => DeliverPolicy::ByStartTime { start_time },
            Err(_) => DeliverPolicy::All,
        };
    let consumer = ordered_consumer(&jetstream, &stream_name, &subject, deliver_policy);
    let consumer = tokio::select! {
        _ = feed.stop.cancelled() => return,
        consumer = consumer => match consumer {
            Ok(consumer) => consumer,
            Err(reason) => return feed.fail(reason),
        },
    };
    let mut catching_up = true;
    if consumer.cached_info().num_pending == 0 {
        feed.caught_up().await;
        catching_up = false;
    }
    let mut messages = match consumer.messages().await {
        Ok(messages) => messages,
        Err(error) => return feed.fail(format!("reading {subject}: {error}")),
    };
    loop {
        let message = tokio::select! {
            _ = feed.stop.cancelled() => return,
            message = messages.next() => message,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(error)) => return feed.fail(format!("reading {subject}: {error}")),
            None => return feed.fail(format!("reading {subject}: the consumer ended")),
        };
        let sent = tokio::select! {
            _ = feed.stop.cancelled() => false,
            sent = feed.send(Queued::Events(Batch::of(&message)), feed.replaying()) => sent,
        };
        if !sent {
            return;
        }
        if catching_up && message.info().is_ok_and(|info| info.pending == 0) {
            feed.caught_up().await;
            catching_up = false;
        }
    }
}

/// What one subject's shared reader hands its clients.
#[derive(Debug, Clone)]
enum Live {
    /// The JSON texts of one message's events.
    Events(Events),
    /// The reader stopped: the event stream could not be read.
    Failed(String),
}

/// The live subjects of clients without `start`: each read once, through one ordered
/// consumer, whatever the number of clients reading it, and handed to each of them. A
/// subject's reader starts with its first client and stops with its last.
pub struct Hub {
    jetstream: async_nats::jetstream::Context,
    stream: String,
    topics: Mutex<HashMap<String, Weak<Topic>>>,
}

/// One subject's reader and its clients' channel.
struct Topic {
    events: broadcast::Sender<Live>,
    failed: Arc<AtomicBool>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Hub {
    /// Live subjects of `stream`.
    pub fn new(jetstream: async_nats::jetstream::Context, stream: String) -> Self {
        Hub {
            jetstream,
            stream,
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// The subject's events from now, through its running reader or one started now; a
    /// client falling `capacity` messages behind the reader is told it lagged.
    fn subscribe(&self, subject: &str, capacity: usize) -> (Arc<Topic>, broadcast::Receiver<Live>) {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        topics.retain(|_, topic| topic.strong_count() > 0);
        if let Some(topic) = topics
            .get(subject)
            .and_then(Weak::upgrade)
            .filter(|topic| !topic.failed.load(Ordering::Acquire))
        {
            let events = topic.events.subscribe();
            return (topic, events);
        }
        let (events, receiver) = broadcast::channel(capacity);
        let failed = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_live(
            self.jetstream.clone(),
            self.stream.clone(),
            subject.to_owned(),
            events.clone(),
            Arc::clone(&failed),
        ));
        let topic = Arc::new(Topic {
            events,
            failed,
            reader,
        });
        topics.insert(subject.to_owned(), Arc::downgrade(&topic));
        (topic, receiver)
    }
}

/// Reads `subject` from new messages on and hands each event to the subject's clients.
async fn read_live(
    jetstream: async_nats::jetstream::Context,
    stream: String,
    subject: String,
    events: broadcast::Sender<Live>,
    failed: Arc<AtomicBool>,
) {
    let reason = async {
        let consumer = ordered_consumer(&jetstream, &stream, &subject, DeliverPolicy::New).await?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|error| format!("reading {subject}: {error}"))?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(|error| format!("reading {subject}: {error}"))?;
            let texts = Batch::of(&message);
            if !texts.is_empty() {
                // No client at this instant is no error: the next one may come.
                let _ = events.send(Live::Events(texts));
            }
        }
        Err::<(), _>(format!("reading {subject}: the consumer ended"))
    }
    .await;
    if let Err(reason) = reason {
        failed.store(true, Ordering::Release);
        let _ = events.send(Live::Failed(reason));
    }
}

/// Hands a live subject's events to one client, keeping the subject's reader alive.
async fn forward_live(topic: Arc<Topic>, mut events: broadcast::Receiver<Live>, feed: Arc<Feed>) {
    let _reading = topic;
    loop {
        let live = tokio::select! {
            _ = feed.stop.cancelled() => return,
            live = events.recv() => live,
        };
        match live {
            Ok(Live::Events(texts)) => {
                if !feed.send(Queued::Events(texts), false).await {
                    return;
                }
            }
            Ok(Live::Failed(reason)) => return feed.fail(reason),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let _ = feed.ending.try_send(Ending::Overflow);
                feed.stop.cancel();
                return;
            }
            Err(broadcast::error::RecvError::Closed) => {
                return feed.fail("the live reader stopped".to_owned())
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<StreamRequest, ApiError> {
        StreamRequest::parse(Params::parse(Some(query))?)
    }

    #[test]
    fn each_type_and_symbol_is_a_subject_of_its_own_and_gaps_come_along() {
        let request = parse("types=trade,orderbook&symbols=BTC-USDT,ETH-USDT&exchange=binance")
            .expect("valid");
        assert_eq!(
            request.subjects(),
            [
                "trade.binance.*.BTC-USDT",
                "trade.binance.*.ETH-USDT",
                "orderbook.binance.*.BTC-USDT",
                "orderbook.binance.*.ETH-USDT",
                "gap.binance.*.BTC-USDT",
                "gap.binance.*.ETH-USDT",
            ]
        );
        assert_eq!(request.start_ms, None);
        let from = parse("types=funding_rate&symbols=BTC-USDT&market=perpetual&start=2026-11-27")
            .expect("valid");
        assert_eq!(
            from.subjects(),
            [
                "funding_rate.*.perpetual.BTC-USDT",
                "gap.*.perpetual.BTC-USDT"
            ]
        );
        assert_eq!(from.start_ms, Some(1_795_737_600_000));
    }

    #[test]
    fn a_bad_parameter_is_named() {
        for (query, parameter) in [
            ("symbols=BTC-USDT", "types"),
            ("types=trade", "symbols"),
            ("types=trades&symbols=BTC-USDT", "types"),
            ("types=trade&symbols=BTC-USDT&start=yesterday", "start"),
            ("types=trade&symbols=BTC-USDT&venue=binance", "venue"),
            ("types=trade&symbols=BTC-USDT&frames=lines", "frames"),
        ] {
            match parse(query) {
                Err(ApiError::BadParameter {
                    parameter: named, ..
                }) => {
                    assert_eq!(named, parameter, "{query}");
                }
                other => panic!("{query}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_array_holds_a_message_s_events_and_single_frames_each_event() {
        let events = |texts: &[&str]| {
            Queued::Events(Arc::new(Batch {
                events: texts.iter().map(|text| Utf8Bytes::from(*text)).collect(),
                array: OnceLock::new(),
            }))
        };
        let notice = Queued::Notice(Utf8Bytes::from(r#"{"type":"replay_completed"}"#));
        let queued = [
            events(&["{\"a\":1}", "{\"a\":2}"]),
            events(&["{\"a\":3}"]),
            notice,
            events(&["{\"a\":4}"]),
        ];
        let texts = |framing: Framing| -> Vec<String> {
            framing
                .frames(&queued)
                .iter()
                .map(|frame| frame.as_str().to_owned())
                .collect()
        };
        assert_eq!(
            texts(Framing::Array),
            [
                r#"[{"a":1},{"a":2}]"#,
                r#"[{"a":3}]"#,
                r#"{"type":"replay_completed"}"#,
                r#"[{"a":4}]"#
            ]
        );
        assert_eq!(
            texts(Framing::Event),
            [
                r#"{"a":1}"#,
                r#"{"a":2}"#,
                r#"{"a":3}"#,
                r#"{"type":"replay_completed"}"#,
                r#"{"a":4}"#
            ]
        );
        assert_eq!(
            parse("types=trade&symbols=BTC-USDT&frames=array")
                .expect("valid")
                .framing,
            Framing::Array
        );
    }

    #[test]
    fn notices_carry_their_type() {
        assert_eq!(
            Notice::ReplayCompleted { time_ms: 5 }.frame().as_str(),
            r#"{"type":"replay_completed","time_ms":5}"#
        );
        assert_eq!(
            Notice::Heartbeat { time_ms: 7 }.frame().as_str(),
            r#"{"type":"heartbeat","time_ms":7}"#
        );
    }
}
