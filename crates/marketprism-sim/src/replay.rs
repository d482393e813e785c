//! Replays a captured session: its WebSocket frames to the clients subscribed to their
//! streams, its REST responses to the requests that match them. Nothing is generated.
//!
//! * Streams: a frame goes to the clients subscribed to its stream on the endpoint it was
//!   captured from: the Binance combined-stream name (written wrapped or unwrapped to suit
//!   the client), the OKX channel and instrument, the Deribit channel, the Bybit topic, the
//!   Coinbase channel and product. Channels that differ only in speed or depth are one
//!   stream: Deribit `book.X.raw` serves a `book.X.100ms` subscription, OKX `books-l2-tbt` a
//!   `books` one, Coinbase Exchange `level2` a `level2_batch` one. Replies to the recorder's
//!   own requests, heartbeats and feeds the simulator does not speak (Bybit v2) are not
//!   replayed; the simulator answers its clients' requests itself, for every instrument.
//! * Connections: a capture may hold several connections carrying the same stream. Each
//!   client receives one captured connection's frames of a stream (the one serving the
//!   fewest clients), never several merged, whose books would not chain.
//! * REST: a request is answered with the captured response to the same path and query
//!   (`limit` aside), repeated requests with the responses in capture order (the last one
//!   again once they run out), anything else with 404. Binance's retired `/api/v1/depth`
//!   answers as `/api/v3/depth`.
//! * Order: a Binance depth snapshot is a sync point. While a client is subscribed to the
//!   symbol's depth stream, the frames after the snapshot wait until the client has fetched
//!   it, and [`APPLY_MARGIN`] more, so the client bridges the snapshot with the same updates
//!   the recorder did. A snapshot may be fetched before its place in the stream: the frames
//!   before it in a capture are older than it (the captures' README says so of every one).
//! * Pacing: frames keep their recorded spacing divided by the replay speed (0: as fast as
//!   possible); time spent waiting at a sync point shifts the rest. The stream starts when a
//!   client first subscribes or, with `--replay-hold`, on `POST /control/start`, so that a
//!   collector of several connections can be subscribed everywhere first.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use marketprism_capture::{read_capture, CaptureError, CaptureRecord, RecordKind};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dialect::Dialect;
use crate::polled::RestRequest;
use crate::server::{lock, Client, Outbound, Shared};

/// How long frames after a fetched snapshot wait, for the client to apply the snapshot
/// before it reads them.
pub const APPLY_MARGIN: Duration = Duration::from_millis(500);

/// How long a sync point waits for a subscribed client to fetch its snapshot before the
/// stream goes on without it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A loaded capture: the stream to send and the REST responses to answer with.
pub(crate) struct Session {
    /// What the HTTP handlers use: the REST responses and the start signal.
    pub(crate) state: ReplayState,
    /// What [`run`] sends.
    pub(crate) stream: Stream,
}

/// The frames of a capture and where they go.
pub(crate) struct Stream {
    /// Frames and sync points, in capture order.
    steps: Vec<Step>,
    /// The captured connections carrying each stream, by endpoint, in capture order.
    carriers: HashMap<(Dialect, String), Vec<usize>>,
}

/// The part of a replay the HTTP handlers use.
pub(crate) struct ReplayState {
    answers: Mutex<Answers>,
    /// Set by `POST /control/start`.
    started: AtomicBool,
    start: Notify,
}

/// One step of the stream.
enum Step {
    /// A captured frame of a stream, from captured connection `connection`.
    Frame {
        offset: Duration,
        connection: usize,
        stream: String,
        payload: String,
    },
    /// A Binance depth snapshot: response `answer`, for the depth stream of `symbol`.
    Snapshot {
        offset: Duration,
        answer: usize,
        dialect: Dialect,
        symbol: String,
    },
}

impl Step {
    fn offset(&self) -> Duration {
        match self {
            Step::Frame { offset, .. } | Step::Snapshot { offset, .. } => *offset,
        }
    }
}

/// The captured REST responses.
#[derive(Default)]
struct Answers {
    /// Response numbers per request key, in capture order.
    by_request: HashMap<String, Vec<usize>>,
    /// Requests answered per request key.
    answered: HashMap<String, usize>,
    bodies: Vec<String>,
    /// When each response was first served.
    served_at: Vec<Option<Instant>>,
}

impl Answers {
    fn push(&mut self, key: String, body: String) -> usize {
        let index = self.bodies.len();
        self.bodies.push(body);
        self.served_at.push(None);
        self.by_request.entry(key).or_default().push(index);
        index
    }

    /// The response to the next request for `key`.
    fn answer(&mut self, key: &str) -> Option<String> {
        let responses = self.by_request.get(key)?;
        let answered = self.answered.entry(key.to_owned()).or_default();
        let index = *responses.get(*answered).or(responses.last())?;
        *answered += 1;
        if let Some(served_at) = self.served_at.get_mut(index) {
            served_at.get_or_insert_with(Instant::now);
        }
        self.bodies.get(index).cloned()
    }
}

/// The venue endpoint a captured record belongs to, if the simulator speaks it.
fn dialect_of(record: &CaptureRecord) -> Option<Dialect> {
    match record.venue.as_str() {
        "binance-spot" => Some(Dialect::Binance { futures: false }),
        "binance-usdm" => Some(Dialect::Binance { futures: true }),
        "okx" => Some(Dialect::Okx),
        "deribit" => Some(Dialect::Deribit),
        "bybit" if record.url.contains("/v5/public/spot") => Some(Dialect::Bybit { linear: false }),
        "bybit" if record.url.contains("/v5/public/linear") => {
            Some(Dialect::Bybit { linear: true })
        }
        "coinbase" if record.url.contains("advanced-trade-ws") => Some(Dialect::Coinbase),
        "coinbase" if record.url.contains("ws-feed.") => Some(Dialect::CoinbaseExchange),
        _ => None,
    }
}

/// The fields that name a pushed frame's stream, in every venue's framing; replies and
/// heartbeats lack them.
#[derive(Deserialize)]
struct Pushed<'a> {
    /// Binance combined streams.
    #[serde(default)]
    stream: Option<String>,
    /// OKX.
    #[serde(default)]
    arg: Option<OkxArg>,
    #[serde(default)]
    event: Option<String>,
    /// Deribit.
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<DeribitParams>,
    /// Bybit.
    #[serde(default)]
    topic: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    /// Coinbase.
    #[serde(default)]
    channel: Option<String>,
    #[serde(default, borrow)]
    events: Option<&'a RawValue>,
}

/// The product of a Coinbase event (`l2_data`, `market_trades`), wherever it is written.
#[derive(Deserialize)]
struct CoinbaseEvent {
    #[serde(default)]
    product_id: Option<String>,
    #[serde(default)]
    trades: Vec<CoinbaseTrade>,
}

#[derive(Deserialize)]
struct CoinbaseTrade {
    product_id: String,
}

/// The subscription a Coinbase message belongs to: `level2:BTC-USD`,
/// `market_trades:BTC-USD`, `heartbeats`; `None` for answers and other channels.
fn coinbase_stream(channel: &str, events: &RawValue) -> Option<String> {
    let channel = match channel {
        "l2_data" => "level2",
        "market_trades" => "market_trades",
        "heartbeats" => return Some("heartbeats".to_owned()),
        _ => return None,
    };
    let events: Vec<CoinbaseEvent> = serde_json::from_str(events.get()).ok()?;
    let event = events.first()?;
    let product = event
        .product_id
        .clone()
        .or_else(|| event.trades.first().map(|trade| trade.product_id.clone()))?;
    Some(format!("{channel}:{product}"))
}

#[derive(Deserialize)]
struct OkxArg {
    channel: String,
    #[serde(default, rename = "instId")]
    inst_id: Option<String>,
    #[serde(default, rename = "instType")]
    inst_type: Option<String>,
}

#[derive(Deserialize)]
struct DeribitParams {
    channel: String,
}

/// The stream a pushed frame belongs to, as its subscription is named; `None` for replies,
/// heartbeats and anything else that is not a push.
fn pushed_stream(dialect: Dialect, payload: &str) -> Option<String> {
    let pushed: Pushed<'_> = serde_json::from_str(payload).ok()?;
    match dialect {
        Dialect::Binance { .. } => pushed.stream.filter(|_| pushed.data.is_some()),
        Dialect::Okx => {
            let arg = pushed
                .arg
                .filter(|_| pushed.event.is_none() && pushed.data.is_some())?;
            let target = arg.inst_id.or(arg.inst_type)?;
            Some(format!("{}:{target}", arg.channel))
        }
        Dialect::Deribit => pushed
            .params
            .filter(|_| pushed.method.as_deref() == Some("subscription"))
            .map(|params| params.channel),
        Dialect::Bybit { .. } => pushed.topic.filter(|_| pushed.data.is_some()),
        Dialect::Coinbase => coinbase_stream(pushed.channel.as_deref()?, pushed.events?),
        Dialect::CoinbaseExchange => crate::coinbase_exchange::stream(payload),
    }
}

/// The stream a subscription name stands for, as frames are matched to subscriptions: one
/// key for the variants of a channel that differ only in speed or depth (OKX `books*`, the
/// Deribit interval suffix). OKX names are `channel:instrument`, as the server keeps them.
pub(crate) fn stream_key(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Okx => match name.split_once(':') {
            Some((channel, target)) if channel.starts_with("books") => format!("books:{target}"),
            _ => name.to_owned(),
        },
        Dialect::Deribit => match name.rsplit_once('.') {
            Some((channel, interval))
                if interval == "raw" || interval == "agg2" || interval.ends_with("ms") =>
            {
                channel.to_owned()
            }
            _ => name.to_owned(),
        },
        Dialect::CoinbaseExchange => crate::coinbase_exchange::stream_key(name),
        Dialect::Binance { .. } | Dialect::Bybit { .. } | Dialect::Coinbase => name.to_owned(),
    }
}

/// The key a REST request is answered by: its path and its query without `limit`, sorted;
/// Binance's retired `/api/v1/depth` is `/api/v3/depth`.
fn request_key(path: &str, query: &str) -> String {
    let path = match path {
        "/api/v1/depth" => "/api/v3/depth",
        other => other,
    };
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("limit"))
        .collect();
    pairs.sort_unstable();
    format!("{path}?{}", pairs.join("&"))
}

/// The path and query of a captured request URL.
fn path_and_query(url: &str) -> (&str, &str) {
    let after_host = url.split_once("://").map_or(url, |(_, rest)| {
        rest.find('/').map_or("", |slash| &rest[slash..])
    });
    after_host.split_once('?').unwrap_or((after_host, ""))
}

/// The `symbol` of a Binance depth-snapshot request, lower case.
fn snapshot_symbol(path: &str, query: &str) -> Option<String> {
    if !path.ends_with("/depth") {
        return None;
    }
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("symbol="))
        .map(str::to_ascii_lowercase)
}

impl Session {
    /// Loads a capture.
    pub(crate) fn load(path: &Path) -> Result<Session, CaptureError> {
        let records = read_capture(path)?;
        let start = records.first().map_or(0.0, |record| record.recv_ts);
        let offset =
            |record: &CaptureRecord| Duration::from_secs_f64((record.recv_ts - start).max(0.0));
        let mut answers = Answers::default();
        let mut connections: HashMap<&str, usize> = HashMap::new();
        let mut carriers: HashMap<(Dialect, String), Vec<usize>> = HashMap::new();
        let mut steps = Vec::new();
        let mut skipped = 0_usize;
        for record in &records {
            let dialect = dialect_of(record);
            match record.kind {
                RecordKind::Rest => {
                    let (path, query) = path_and_query(&record.url);
                    let answer = answers.push(request_key(path, query), record.payload.clone());
                    let snapshot = dialect
                        .filter(|dialect| matches!(dialect, Dialect::Binance { .. }))
                        .zip(snapshot_symbol(path, query));
                    if let Some((dialect, symbol)) = snapshot {
                        steps.push(Step::Snapshot {
                            offset: offset(record),
                            answer,
                            dialect,
                            symbol,
                        });
                    }
                }
                RecordKind::Ws => {
                    let Some((dialect, stream)) = dialect.and_then(|dialect| {
                        pushed_stream(dialect, &record.payload)
                            .map(|name| (dialect, stream_key(dialect, &name)))
                    }) else {
                        skipped += 1;
                        continue;
                    };
                    let next = connections.len();
                    let connection = *connections.entry(record.conn.as_str()).or_insert(next);
                    let carrying = carriers.entry((dialect, stream.clone())).or_default();
                    if !carrying.contains(&connection) {
                        carrying.push(connection);
                    }
                    steps.push(Step::Frame {
                        offset: offset(record),
                        connection,
                        stream,
                        payload: record.payload.clone(),
                    });
                }
            }
        }
        tracing::info!(
            capture = %path.display(),
            steps = steps.len(),
            connections = connections.len(),
            rest_responses = answers.bodies.len(),
            not_replayed = skipped,
            "Capture loaded (frames that are replies, heartbeats or feeds the simulator does not speak are not replayed)."
        );
        Ok(Session {
            state: ReplayState {
                answers: Mutex::new(answers),
                started: AtomicBool::new(false),
                start: Notify::new(),
            },
            stream: Stream { steps, carriers },
        })
    }
}

/// One WebSocket connection of a capture, as a replay serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedConnection {
    /// The capture's label of the connection, e.g. `OKX.ws.1`.
    pub label: String,
    /// The simulator path serving it: `/stream` (Binance spot), `/fapi/stream` (Binance
    /// USDⓈ-M), `/ws/v5/public` (OKX), `/ws/api/v2` (Deribit), `/v5/public/spot` or
    /// `/v5/public/linear` (Bybit), `/` (Coinbase Advanced Trade), `/ws-feed` (Coinbase
    /// Exchange).
    pub endpoint: &'static str,
    /// The streams it carries, in order of their first frame, named as captured: Binance
    /// stream names, OKX `channel:instId` (`channel:instType` for market-wide channels),
    /// Deribit channels, Bybit topics, Coinbase `channel:product` (Advanced Trade
    /// `level2:BTC-USD`, `market_trades:BTC-USD`, `heartbeats`; Exchange `level2:BTC-USD`,
    /// `matches:BTC-USD`).
    pub streams: Vec<String>,
}

/// The connections of a capture a replay serves, in capture order; connections of feeds
/// the simulator does not speak (Bybit v2) are left out.
pub fn captured_connections(path: &Path) -> Result<Vec<CapturedConnection>, CaptureError> {
    let mut connections: Vec<CapturedConnection> = Vec::new();
    for record in read_capture(path)?
        .iter()
        .filter(|record| record.kind == RecordKind::Ws)
    {
        let Some((dialect, stream)) = dialect_of(record).and_then(|dialect| {
            pushed_stream(dialect, &record.payload).map(|stream| (dialect, stream))
        }) else {
            continue;
        };
        let index = match connections
            .iter()
            .position(|connection| connection.label == record.conn)
        {
            Some(index) => index,
            None => {
                connections.push(CapturedConnection {
                    label: record.conn.clone(),
                    endpoint: dialect.endpoint(),
                    streams: Vec::new(),
                });
                connections.len() - 1
            }
        };
        let streams = &mut connections[index].streams;
        if !streams.contains(&stream) {
            streams.push(stream);
        }
    }
    Ok(connections)
}

/// Which captured connection serves each client's streams.
#[derive(Default)]
struct Routes {
    /// The subscription generation the routes were built for.
    generation: Option<u64>,
    /// (client, stream) → captured connection.
    assigned: HashMap<(u64, String), usize>,
    /// (captured connection, stream) → clients.
    clients: HashMap<(usize, String), Vec<u64>>,
}

impl Routes {
    /// Brings the routes up to date with the clients' subscriptions. A client keeps the
    /// connection it was given for as long as it stays subscribed; a new subscriber gets the
    /// captured connection of the stream serving the fewest clients.
    fn refresh(
        &mut self,
        generation: u64,
        clients: &HashMap<u64, Client>,
        carriers: &HashMap<(Dialect, String), Vec<usize>>,
    ) {
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        let wanted: BTreeSet<(u64, Dialect, String)> = clients
            .iter()
            .flat_map(|(id, client)| {
                client
                    .streams
                    .iter()
                    .map(|name| (*id, client.dialect, stream_key(client.dialect, name)))
            })
            .collect();
        self.assigned.retain(|(id, stream), _| {
            clients
                .get(id)
                .is_some_and(|client| wanted.contains(&(*id, client.dialect, stream.clone())))
        });
        let mut load: HashMap<(usize, &str), usize> = HashMap::new();
        for ((_, stream), connection) in &self.assigned {
            *load.entry((*connection, stream.as_str())).or_default() += 1;
        }
        let mut added = Vec::new();
        for (id, dialect, stream) in &wanted {
            if self.assigned.contains_key(&(*id, stream.clone())) {
                continue;
            }
            let Some(carrying) = carriers.get(&(*dialect, stream.clone())) else {
                continue;
            };
            let least_served = carrying.iter().min_by_key(|connection| {
                load.get(&(**connection, stream.as_str()))
                    .copied()
                    .unwrap_or_default()
            });
            if let Some(&connection) = least_served {
                *load.entry((connection, stream.as_str())).or_default() += 1;
                added.push(((*id, stream.clone()), connection));
            }
        }
        self.assigned.extend(added);
        self.clients.clear();
        for ((id, stream), connection) in &self.assigned {
            self.clients
                .entry((*connection, stream.clone()))
                .or_default()
                .push(*id);
        }
    }
}

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// The frame as `client` receives it: Binance raw-stream clients get the payload unwrapped,
/// Coinbase clients get it numbered in their connection's sequence.
fn framed(client: &Client, payload: &str) -> String {
    if client.dialect == Dialect::Coinbase {
        return crate::coinbase::renumbered(client, payload);
    }
    if matches!(client.dialect, Dialect::Binance { .. }) && !client.combined {
        if let Ok(combined) = serde_json::from_str::<Combined<'_>>(payload) {
            return combined.data.get().to_owned();
        }
    }
    payload.to_owned()
}

/// Waits until the stream may start: a client subscribed or, held, `POST /control/start`.
async fn started(shared: &Shared, state: &ReplayState, shutdown: &CancellationToken) -> bool {
    let ready = || {
        if shared.config.replay_hold {
            state.started.load(Ordering::Relaxed)
        } else {
            shared.has_subscribers()
        }
    };
    while !ready() {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = state.start.notified() => {}
            _ = shared.subscribed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    true
}

/// Waits at a depth snapshot while a client subscribed to the symbol's depth stream has
/// not fetched it, or fetched it less than [`APPLY_MARGIN`] ago; false on shutdown.
async fn sync(
    shared: &Shared,
    state: &ReplayState,
    answer: usize,
    dialect: Dialect,
    symbol: &str,
    shutdown: &CancellationToken,
) -> bool {
    let depth_stream = format!("{symbol}@depth");
    let waiting_since = Instant::now();
    loop {
        let served_at = lock(&state.answers)
            .served_at
            .get(answer)
            .copied()
            .flatten();
        match served_at {
            Some(served_at) if served_at.elapsed() >= APPLY_MARGIN => return true,
            Some(_) => {}
            None => {
                let subscribed = shared.clients().values().any(|client| {
                    client.dialect == dialect
                        && client
                            .streams
                            .iter()
                            .any(|stream| stream.starts_with(&depth_stream))
                });
                if !subscribed {
                    return true;
                }
                if waiting_since.elapsed() >= FETCH_TIMEOUT {
                    tracing::warn!(%symbol, "No subscribed client fetched the depth snapshot; replaying on.");
                    return true;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

/// Sends every frame once, paced, starting when the first client subscribes (or when
/// started on command).
pub(crate) async fn run(shared: Arc<Shared>, stream: Stream, shutdown: CancellationToken) {
    let Some(state) = shared.replay.as_ref() else {
        return;
    };
    if !started(&shared, state, &shutdown).await {
        return;
    }
    let speed = shared.config.replay_speed;
    let mut origin = Instant::now();
    let mut routes = Routes::default();
    let mut frames = 0_u64;
    for step in &stream.steps {
        if speed > 0.0 {
            let due = origin + step.offset().div_f64(speed);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
        } else {
            tokio::task::yield_now().await;
        }
        match step {
            Step::Frame {
                connection,
                stream: name,
                payload,
                ..
            } => {
                let clients = shared.clients();
                routes.refresh(shared.streams_generation(), &clients, &stream.carriers);
                let receivers = routes.clients.get(&(*connection, name.clone()));
                for client in receivers
                    .into_iter()
                    .flatten()
                    .filter_map(|id| clients.get(id))
                {
                    client.offer(Outbound {
                        text: framed(client, payload),
                        trade: None,
                    });
                }
                frames += u64::from(receivers.is_some_and(|ids| !ids.is_empty()));
            }
            Step::Snapshot {
                answer,
                dialect,
                symbol,
                ..
            } => {
                let arrived = Instant::now();
                if !sync(&shared, state, *answer, *dialect, symbol, &shutdown).await {
                    return;
                }
                origin += arrived.elapsed();
            }
        }
    }
    shared.report().done = true;
    tracing::info!(frames, "Replay finished.");
}

/// Answers a REST request with the captured response to it (404 when the capture holds
/// none); every request is recorded in the report.
pub(crate) async fn answer(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let key = request_key(uri.path(), uri.query().unwrap_or_default());
    let body = shared
        .replay
        .as_ref()
        .and_then(|state| lock(&state.answers).answer(&key));
    let status = if body.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    shared.report().record_request(RestRequest {
        path: uri.to_string(),
        at_ms: marketprism_model::now_ms(),
        status: status.as_u16(),
    });
    match body {
        Some(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        None => (
            status,
            Json(serde_json::json!({ "msg": format!("the capture holds no response to {key}") })),
        )
            .into_response(),
    }
}

/// `POST /control/start`: starts a replay held by `--replay-hold`.
pub(crate) async fn start(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    if let Some(state) = &shared.replay {
        state.started.store(true, Ordering::Relaxed);
        state.start.notify_waiters();
    }
    tracing::info!("Replay started on command.");
    Json(serde_json::json!({ "started": true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_keyed_by_path_and_query_without_limit() {
        let (path, query) =
            path_and_query("https://www.binance.com/api/v1/depth?symbol=BTCUSDT&limit=1000");
        assert_eq!(
            (path, query),
            ("/api/v1/depth", "symbol=BTCUSDT&limit=1000")
        );
        assert_eq!(request_key(path, query), "/api/v3/depth?symbol=BTCUSDT");
        assert_eq!(
            request_key("/api/v3/depth", "limit=5000&symbol=BTCUSDT"),
            "/api/v3/depth?symbol=BTCUSDT"
        );
        let (path, query) = path_and_query(
            "https://api.bybit.com/v5/market/instruments-info?&category=spot&status=Trading&limit=1000",
        );
        assert_eq!(
            request_key(path, query),
            "/v5/market/instruments-info?category=spot&status=Trading"
        );
        assert_eq!(snapshot_symbol(path, query), None);
        assert_eq!(
            snapshot_symbol("/fapi/v1/depth", "symbol=KSMUSDT&limit=1000").as_deref(),
            Some("ksmusdt")
        );
    }

    #[test]
    fn pushes_name_their_stream_and_replies_name_none() {
        let binance = Dialect::Binance { futures: false };
        let bybit = Dialect::Bybit { linear: true };
        let cases = [
            (
                binance,
                r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#,
                Some("btcusdt@aggTrade"),
            ),
            (binance, r#"{"result":null,"id":1}"#, None),
            (
                Dialect::Okx,
                r#"{"arg":{"channel":"books-l2-tbt","instId":"BTC-USDT"},"action":"update","data":[]}"#,
                Some("books:BTC-USDT"),
            ),
            (
                Dialect::Okx,
                r#"{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[]}"#,
                Some("liquidation-orders:SWAP"),
            ),
            (
                Dialect::Okx,
                r#"{"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"}}"#,
                None,
            ),
            (
                Dialect::Deribit,
                r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.ETH-9APR21-1950-C.raw","data":{}}}"#,
                Some("book.ETH-9APR21-1950-C"),
            ),
            (
                Dialect::Deribit,
                r#"{"jsonrpc":"2.0","method":"subscription","params":{"channel":"deribit_volatility_index.btc_usd","data":{}}}"#,
                Some("deribit_volatility_index.btc_usd"),
            ),
            (
                Dialect::Deribit,
                r#"{"jsonrpc":"2.0","id":0,"result":["trades.BTC-PERPETUAL.raw"]}"#,
                None,
            ),
            (
                bybit,
                r#"{"topic":"orderbook.200.BTCUSDT","type":"delta","data":{}}"#,
                Some("orderbook.200.BTCUSDT"),
            ),
            (
                bybit,
                r#"{"success":true,"ret_msg":"","op":"subscribe"}"#,
                None,
            ),
            (bybit, "not json", None),
        ];
        for (dialect, payload, stream) in cases {
            let found = pushed_stream(dialect, payload).map(|name| stream_key(dialect, &name));
            assert_eq!(found.as_deref(), stream, "{payload}");
        }
        assert_eq!(
            stream_key(Dialect::Deribit, "book.ETH-9APR21-1950-C.100ms"),
            "book.ETH-9APR21-1950-C"
        );
        assert_eq!(stream_key(Dialect::Okx, "books:BTC-USDT"), "books:BTC-USDT");
    }
}
