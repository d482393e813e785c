//! The HTTP/WebSocket server: stream endpoints, method frames, pings and the control API.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::depth::{BookFault, BookKey, Books, TrueBook};
use crate::dialect::Dialect;
use crate::listings::Listings;
use crate::protocol::{error_reply, parse_stream, result_reply, MethodCall};
use crate::ws_limits::WsLimiter;
use crate::{Config, Report, SlowConsumer};

/// Frames queued per connection; a client that falls this far behind is disconnected, as
/// Binance does with slow consumers.
const CLIENT_QUEUE: usize = 8192;

/// The simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding or serving failed.
    #[error("simulator server on {address}: {source}")]
    Serve {
        /// The listen address.
        address: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// The replay capture could not be read.
    #[error(transparent)]
    Capture(#[from] marketprism_capture::CaptureError),
}

/// A frame for one client; `trade` marks generated trades for delivery accounting.
pub(crate) struct Outbound {
    pub(crate) text: String,
    pub(crate) trade: Option<TradeDelivery>,
}

/// Which generated trade a frame carries, written for which `exchange/market`.
pub(crate) struct TradeDelivery {
    /// The trade's number in the report ([`Report::mark_delivered`]).
    pub(crate) index: u64,
    /// E.g. `okx/perpetual`.
    pub(crate) venue: &'static str,
}

/// One connected client.
pub(crate) struct Client {
    /// The venue protocol the connection speaks.
    pub(crate) dialect: Dialect,
    /// Whether Binance frames are wrapped as `{"stream":..,"data":..}`.
    pub(crate) combined: bool,
    /// Subscribed stream names.
    pub(crate) streams: BTreeSet<String>,
    pub(crate) sender: mpsc::Sender<Outbound>,
    pub(crate) close: CancellationToken,
    /// Messages numbered so far (Coinbase's `sequence_num`, per connection).
    pub(crate) messages: AtomicU64,
    /// Set when the client fell [`CLIENT_QUEUE`] frames behind and was disconnected.
    pub(crate) slow: AtomicBool,
}

impl Client {
    /// A client of `dialect` subscribed to `streams`, its frames queued on `sender`.
    pub(crate) fn new(
        dialect: Dialect,
        combined: bool,
        streams: BTreeSet<String>,
        sender: mpsc::Sender<Outbound>,
    ) -> Self {
        Client {
            dialect,
            combined,
            streams,
            sender,
            close: CancellationToken::new(),
            messages: AtomicU64::new(0),
            slow: AtomicBool::new(false),
        }
    }

    /// A client of `dialect` subscribed to `streams` whose frames go nowhere, for tests of
    /// a dialect's framing.
    #[cfg(test)]
    pub(crate) fn subscribed(dialect: Dialect, combined: bool, streams: &[&str]) -> Self {
        let (sender, _) = mpsc::channel(1);
        let streams = streams.iter().map(|stream| (*stream).to_owned()).collect();
        Client::new(dialect, combined, streams, sender)
    }

    /// The next message number of the connection.
    pub(crate) fn next_message(&self) -> u64 {
        self.messages.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a frame; a full queue disconnects the client.
    pub(crate) fn offer(&self, frame: Outbound) {
        match self.sender.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.slow.store(true, Ordering::Relaxed);
                self.close.cancel();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.close.cancel(),
        }
    }
}

/// State shared by connections, the generator and the control API.
pub(crate) struct Shared {
    pub(crate) config: Config,
    clients: Mutex<HashMap<u64, Client>>,
    report: Mutex<Report>,
    /// Signalled whenever a client gains a subscription.
    pub(crate) subscribed: Notify,
    /// Counts changes of any client's subscriptions (and clients leaving).
    streams_generation: AtomicU64,
    /// The capture being replayed, if any.
    pub(crate) replay: Option<crate::replay::ReplayState>,
    next_client: AtomicU64,
    books: Mutex<Books>,
    /// Until this time (Unix ms) connections send nothing, not even pings.
    silent_until_ms: AtomicI64,
    /// Polls still to answer with 429.
    pub(crate) rate_limited: AtomicU64,
    /// The `Retry-After` of those answers, seconds.
    pub(crate) retry_after_s: AtomicU64,
    /// The venues' REST limits and what was counted against them.
    pub(crate) limits: Mutex<crate::limits::Limits>,
    /// The venues' WebSocket limits and what was counted against them.
    ws_limits: Mutex<WsLimiter>,
    /// The symbols listed and delisted; taken before the books when both are held.
    listings: Mutex<Listings>,
    /// Each symbol's latest trade, for Coinbase Exchange.
    last_matches: Mutex<crate::coinbase_exchange::LastMatches>,
}

/// Locks a mutex, recovering the data if a holder panicked: the report and client table stay
/// meaningful after a failed connection task.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn clients(&self) -> MutexGuard<'_, HashMap<u64, Client>> {
        lock(&self.clients)
    }

    pub(crate) fn report(&self) -> MutexGuard<'_, Report> {
        lock(&self.report)
    }

    pub(crate) fn books(&self) -> MutexGuard<'_, Books> {
        lock(&self.books)
    }

    pub(crate) fn listings(&self) -> MutexGuard<'_, Listings> {
        lock(&self.listings)
    }

    /// Each symbol's latest trade; taken after the client table and the books.
    pub(crate) fn last_matches(&self) -> MutexGuard<'_, crate::coinbase_exchange::LastMatches> {
        lock(&self.last_matches)
    }

    /// The WebSocket limiter; taken after the client table when both are held.
    fn ws(&self) -> MutexGuard<'_, WsLimiter> {
        lock(&self.ws_limits)
    }

    fn is_silent(&self) -> bool {
        marketprism_model::now_ms() < self.silent_until_ms.load(Ordering::Relaxed)
    }

    /// Notes that a client's subscriptions changed (or a client left), waking whoever waits
    /// for a subscriber.
    pub(crate) fn streams_changed(&self) {
        self.streams_generation.fetch_add(1, Ordering::Relaxed);
        self.subscribed.notify_waiters();
    }

    /// The number of subscription changes so far.
    pub(crate) fn streams_generation(&self) -> u64 {
        self.streams_generation.load(Ordering::Relaxed)
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        self.clients()
            .values()
            .any(|client| !client.streams.is_empty())
    }

    fn is_known_stream(&self, stream: &str) -> bool {
        if self.config.replay.is_some() {
            return stream.contains('@');
        }
        if stream == crate::derivatives::ALL_LIQUIDATIONS {
            return true;
        }
        match parse_stream(stream) {
            // Binance keeps a delisted symbol (`BREAK`), so its streams stay known.
            Some((symbol, channel)) => {
                self.listings().get(&symbol).is_some()
                    && matches!(
                        channel,
                        "trade"
                            | "aggTrade"
                            | "depth"
                            | "depth@100ms"
                            | "markPrice@1s"
                            | "forceOrder"
                    )
            }
            None => false,
        }
    }
}

/// Binds the listen address; returns the bound address and the future serving until
/// `shutdown` is cancelled.
pub async fn bind(
    config: Config,
    shutdown: CancellationToken,
) -> Result<
    (
        SocketAddr,
        impl std::future::Future<Output = Result<(), SimError>>,
    ),
    SimError,
> {
    let address = config.listen;
    let serve_error = move |source| SimError::Serve { address, source };
    let (replay, stream) = match &config.replay {
        Some(path) => {
            let session = crate::replay::Session::load(path)?;
            (Some(session.state), Some(session.stream))
        }
        None => (None, None),
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(serve_error)?;
    let bound = listener.local_addr().map_err(serve_error)?;
    // A replay sends the capture and nothing generated.
    let simulated = if replay.is_some() {
        Vec::new()
    } else {
        config.symbol_list()
    };
    let books = Books::new(&simulated, config.seed, config.book_levels);
    let listings = Listings::new(&simulated);
    let mut account = Report::new(config.report_retention());
    account.listings = listings.report();
    let shared = Arc::new(Shared {
        config,
        clients: Mutex::new(HashMap::new()),
        report: Mutex::new(account),
        subscribed: Notify::new(),
        streams_generation: AtomicU64::new(0),
        replay,
        next_client: AtomicU64::new(1),
        books: Mutex::new(books),
        silent_until_ms: AtomicI64::new(0),
        rate_limited: AtomicU64::new(0),
        retry_after_s: AtomicU64::new(1),
        limits: Mutex::new(crate::limits::Limits::default()),
        ws_limits: Mutex::new(WsLimiter::default()),
        listings: Mutex::new(listings),
        last_matches: Mutex::default(),
    });
    let source = {
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        async move {
            match stream {
                Some(stream) => crate::replay::run(shared, stream, shutdown).await,
                None => {
                    tokio::join!(
                        crate::generator::run(shared.clone(), shutdown.clone()),
                        crate::depth::run(shared.clone(), shutdown.clone()),
                        crate::derivatives::run(shared.clone(), shutdown.clone()),
                        crate::coinbase::heartbeats(shared, shutdown),
                    );
                }
            }
        }
    };
    let app = Router::new()
        .route("/ws", get(raw_without_streams))
        .route("/ws/{*streams}", get(raw_with_streams))
        .route("/stream", get(combined))
        .route("/fapi/stream", get(futures_combined))
        .route("/ws/v5/public", get(okx))
        .route("/ws/api/v2", get(deribit))
        .route("/v5/public/{category}", get(bybit))
        .route("/", get(coinbase))
        .route("/ws-feed", get(coinbase_exchange))
        .route("/control/disconnect", post(disconnect_all))
        .route("/control/silence", post(silence))
        .route("/control/report", get(report))
        .route("/control/rest-usage", get(rest_usage))
        .route("/control/ws-usage", get(ws_usage))
        .route("/control/summary", get(summary));
    // A replay answers REST requests from the capture only.
    let app = if shared.replay.is_some() {
        app.route("/control/start", post(crate::replay::start))
            .fallback(crate::replay::answer)
    } else {
        app.route("/api/v3/depth", get(depth_snapshot))
            .route("/fapi/v1/depth", get(futures_depth_snapshot))
            .route("/fapi/v1/premiumIndex", get(crate::polled::premium_index))
            .route("/fapi/v1/openInterest", get(crate::polled::open_interest))
            .route(
                "/futures/data/{series}",
                get(crate::polled::long_short_ratio),
            )
            .route(
                "/api/v5/rubik/stat/contracts/{series}",
                get(crate::polled::okx_long_short_ratio),
            )
            .route(
                "/v5/market/account-ratio",
                get(crate::polled::bybit_account_ratio),
            )
            .route(
                "/api/v2/public/get_volatility_index_data",
                get(crate::polled::volatility_history),
            )
            .route("/api/v3/aggTrades", get(crate::history::binance_agg_trades))
            .route(
                "/fapi/v1/aggTrades",
                get(crate::history::binance_agg_trades),
            )
            .route(
                "/api/v3/historicalTrades",
                get(crate::history::binance_historical_trades),
            )
            .route(
                "/api/v5/market/history-trades",
                get(crate::history::okx_history_trades),
            )
            .route(
                "/api/v2/public/get_last_trades_by_instrument",
                get(crate::history::deribit_last_trades),
            )
            .route(
                "/api/v2/public/get_last_trades_by_instrument_and_time",
                get(crate::history::deribit_last_trades),
            )
            .route(
                "/v5/market/recent-trade",
                get(crate::history::bybit_recent_trades),
            )
            .route(
                "/api/v3/exchangeInfo",
                get(crate::instruments::binance_exchange_info),
            )
            .route(
                "/fapi/v1/exchangeInfo",
                get(crate::instruments::binance_futures_exchange_info),
            )
            .route(
                "/api/v5/public/instruments",
                get(crate::instruments::okx_instruments),
            )
            .route(
                "/api/v2/public/get_instruments",
                get(crate::instruments::deribit_instruments),
            )
            .route(
                "/v5/market/instruments-info",
                get(crate::instruments::bybit_instruments),
            )
            .route(
                "/api/v3/brokerage/market/products",
                get(crate::instruments::coinbase_products),
            )
            .route(
                "/products",
                get(crate::instruments::coinbase_exchange_products),
            )
            .route(
                "/control/listings",
                get(crate::listings::current).post(crate::listings::change),
            )
            .route("/control/rate-limit", post(crate::polled::rate_limit))
            .route("/control/book-fault", post(book_fault))
            .route("/control/stale-snapshots", post(stale_snapshots))
            .route("/control/book", get(true_book))
    };
    // Every REST route, those above and any added later, is weighed and limited.
    let app = app
        .with_state(shared.clone())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            crate::limits::enforce,
        ));
    tracing::info!(address = %bound, "Simulator listening (Binance spot and USDⓈ-M, OKX, Deribit, Bybit and Coinbase protocols).");
    let server = async move {
        let source = tokio::spawn(source);
        let served = axum::serve(listener, app)
            .with_graceful_shutdown({
                let shutdown = shutdown.clone();
                async move { shutdown.cancelled().await }
            })
            .await;
        shutdown.cancel();
        for client in shared.clients().values() {
            client.close.cancel();
        }
        let _ = source.await;
        served.map_err(serve_error)
    };
    Ok((bound, server))
}

/// Serves until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), SimError> {
    let (_, server) = bind(config, shutdown).await?;
    server.await
}

async fn raw_without_streams(
    State(shared): State<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(shared, upgrade, BINANCE_SPOT, false, Vec::new())
}

/// Serves a WebSocket client if its venue's connection limits admit it; refuses it with an
/// HTTP status otherwise (see `ws_limits.rs`).
fn accept(
    shared: Arc<Shared>,
    upgrade: WebSocketUpgrade,
    dialect: Dialect,
    combined: bool,
    initial: Vec<String>,
) -> Response {
    let admitted =
        shared
            .ws()
            .admit_connection(dialect, initial.len(), marketprism_model::now_ms());
    if let Err(status) = admitted {
        tracing::warn!(%status, path = dialect.endpoint(), "WebSocket connection beyond the venue's limits refused.");
        return (status, "connection refused: beyond the venue's limits").into_response();
    }
    upgrade.on_upgrade(move |socket| serve_client(shared, socket, dialect, combined, initial))
}

const BINANCE_SPOT: Dialect = Dialect::Binance { futures: false };

/// Binance USDⓈ-M combined streams (`/fapi/stream`), subscribed with method frames.
async fn futures_combined(
    State(shared): State<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(
        shared,
        upgrade,
        Dialect::Binance { futures: true },
        true,
        Vec::new(),
    )
}

async fn okx(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    accept(shared, upgrade, Dialect::Okx, false, Vec::new())
}

async fn coinbase(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    accept(shared, upgrade, Dialect::Coinbase, false, Vec::new())
}

/// Coinbase Exchange (`/ws-feed`).
async fn coinbase_exchange(
    State(shared): State<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(
        shared,
        upgrade,
        Dialect::CoinbaseExchange,
        false,
        Vec::new(),
    )
}

async fn deribit(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    accept(shared, upgrade, Dialect::Deribit, false, Vec::new())
}

/// Bybit v5: `/v5/public/spot` and `/v5/public/linear` serve the same simulated market.
async fn bybit(
    State(shared): State<Arc<Shared>>,
    Path(category): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let linear = match category.as_str() {
        "spot" => false,
        "linear" => true,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    accept(
        shared,
        upgrade,
        Dialect::Bybit { linear },
        false,
        Vec::new(),
    )
}

async fn raw_with_streams(
    State(shared): State<Arc<Shared>>,
    Path(streams): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let streams = streams.split('/').map(str::to_owned).collect();
    accept(shared, upgrade, BINANCE_SPOT, false, streams)
}

#[derive(Deserialize)]
struct CombinedQuery {
    #[serde(default)]
    streams: Option<String>,
}

async fn combined(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<CombinedQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let streams = query
        .streams
        .map(|list| {
            list.split('/')
                .filter(|stream| !stream.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    accept(shared, upgrade, BINANCE_SPOT, true, streams)
}

/// Drops every connection. The time recorded is taken once every client is closed, under
/// the client-table lock that queueing a frame takes: every frame a client still receives
/// was queued before it, so it carries an earlier time (its writer sends nothing queued
/// after the close).
async fn disconnect_all(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let (closed, now) = {
        let clients = shared.clients();
        for client in clients.values() {
            client.close.cancel();
        }
        (clients.len(), marketprism_model::now_ms())
    };
    shared.report().disconnects_ms.push(now);
    tracing::info!(closed, "Dropped every connection on command.");
    Json(serde_json::json!({ "closed": closed, "at_ms": now }))
}

#[derive(Deserialize)]
struct DepthQuery {
    symbol: String,
    #[serde(default = "default_depth_limit")]
    limit: usize,
}

fn default_depth_limit() -> usize {
    100
}

/// `GET /api/v3/depth?symbol=BTCUSDT&limit=1000`, answered as Binance does.
async fn depth_snapshot(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<DepthQuery>,
) -> Response {
    answer_depth(&shared, &query, false)
}

/// `GET /fapi/v1/depth`: as spot, plus the message and transaction times `E` and `T`.
async fn futures_depth_snapshot(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<DepthQuery>,
) -> Response {
    answer_depth(&shared, &query, true)
}

fn answer_depth(shared: &Shared, query: &DepthQuery, futures: bool) -> Response {
    let snapshot = shared
        .books()
        .snapshot(&query.symbol, query.limit.clamp(1, 5000));
    let path = if futures {
        "/fapi/v1/depth"
    } else {
        "/api/v3/depth"
    };
    shared.report().record_request(crate::RestRequest {
        path: format!("{path}?symbol={}&limit={}", query.symbol, query.limit),
        at_ms: marketprism_model::now_ms(),
        status: if snapshot.is_some() { 200 } else { 400 },
    });
    match snapshot {
        Some(snapshot) => {
            let mut body = serde_json::to_value(snapshot).unwrap_or(Value::Null);
            if futures {
                let now = marketprism_model::now_ms();
                body["E"] = Value::from(now);
                body["T"] = Value::from(now);
            }
            Json(body).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"code": -1121, "msg": "Invalid symbol."})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct SilenceRequest {
    ms: i64,
}

/// Makes every connection send nothing (no data, no pings) for a while.
async fn silence(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<SilenceRequest>,
) -> Json<Value> {
    let until = marketprism_model::now_ms() + request.ms.max(0);
    shared.silent_until_ms.store(until, Ordering::Relaxed);
    tracing::info!(ms = request.ms, "Connections silenced on command.");
    Json(serde_json::json!({ "silent_until_ms": until }))
}

#[derive(Deserialize)]
struct FaultRequest {
    kind: BookFault,
    #[serde(default)]
    symbol: Option<String>,
}

/// Queues a book fault for one symbol or all.
async fn book_fault(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<FaultRequest>,
) -> Json<Value> {
    let injected = shared
        .books()
        .inject(request.symbol.as_deref(), request.kind);
    tracing::info!(kind = ?request.kind, symbol = ?request.symbol, injected, "Book fault queued.");
    Json(serde_json::json!({ "injected": injected }))
}

#[derive(Deserialize)]
struct StaleRequest {
    n: usize,
    #[serde(default)]
    symbol: Option<String>,
}

/// Makes the next `n` depth snapshots of one symbol (or of every symbol) older than the
/// stream, so that none of them bridges it.
async fn stale_snapshots(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<StaleRequest>,
) -> Json<Value> {
    let mut books = shared.books();
    let mut injected = 0;
    for _ in 0..request.n {
        injected = books.inject(request.symbol.as_deref(), BookFault::StaleSnapshot);
    }
    tracing::info!(n = request.n, symbol = ?request.symbol, "Stale snapshots queued.");
    Json(serde_json::json!({ "symbols": injected, "n": request.n }))
}

/// What each venue's WebSocket connections did against its limits.
async fn ws_usage(
    State(shared): State<Arc<Shared>>,
) -> Json<std::collections::BTreeMap<String, crate::WsUsage>> {
    Json(shared.ws().usage())
}

/// What each venue's REST traffic weighed against its limits.
async fn rest_usage(
    State(shared): State<Arc<Shared>>,
) -> Json<std::collections::BTreeMap<String, crate::VenueUsage>> {
    Json(lock(&shared.limits).usage())
}

#[derive(Deserialize)]
struct TrueBookQuery {
    symbol: String,
    /// The update id, event number or time to look up, as `by` says.
    update_id: u64,
    #[serde(default)]
    by: BookKey,
    #[serde(default = "default_depth_limit")]
    limit: usize,
}

/// The true book of a symbol right after an update id (or event, or at a time), for tests.
async fn true_book(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<TrueBookQuery>,
) -> Result<Json<TrueBook>, StatusCode> {
    shared
        .books()
        .true_book(
            &query.symbol,
            query.by,
            query.update_id,
            query.limit,
            crate::depth::now_us(),
        )
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn report(State(shared): State<Arc<Shared>>) -> Json<Report> {
    let mut report = shared.report().clone();
    report.rest_usage = lock(&shared.limits).usage();
    report.ws_usage = shared.ws().usage();
    Json(report)
}

async fn summary(State(shared): State<Arc<Shared>>) -> Json<crate::Summary> {
    Json(shared.report().summary())
}

async fn serve_client(
    shared: Arc<Shared>,
    socket: WebSocket,
    dialect: Dialect,
    combined: bool,
    initial: Vec<String>,
) {
    let id = shared.next_client.fetch_add(1, Ordering::Relaxed);
    let (sender, mut receiver) = mpsc::channel::<Outbound>(CLIENT_QUEUE);
    let streams: BTreeSet<String> = initial
        .into_iter()
        .filter(|stream| shared.is_known_stream(stream))
        .collect();
    let has_streams = !streams.is_empty();
    shared.ws().opened(id, dialect, streams.len());
    let client = Client::new(dialect, combined, streams, sender);
    let close = client.close.clone();
    shared.clients().insert(id, client);
    shared.report().connections += 1;
    if has_streams {
        shared.streams_changed();
    }
    let (mut sink, mut incoming) = socket.split();
    // Set when the client is closed for its message rate: the venue's last frame, if any.
    let farewell: Arc<OnceLock<Option<String>>> = Arc::new(OnceLock::new());

    let writer = {
        let shared = shared.clone();
        let close = close.clone();
        let farewell = farewell.clone();
        let ping_interval = shared.config.ping_interval;
        tokio::spawn(async move {
            let mut pings = tokio::time::interval_at(
                tokio::time::Instant::now() + ping_interval,
                ping_interval,
            );
            loop {
                tokio::select! {
                    biased;
                    _ = close.cancelled() => {
                        let close_frame = match farewell.get() {
                            Some(last) => {
                                if let Some(text) = last {
                                    let _ = sink.send(Message::text(text.as_str())).await;
                                }
                                Some(CloseFrame {
                                    code: 1008,
                                    reason: "Too many requests".into(),
                                })
                            }
                            None => None,
                        };
                        let _ = sink.send(Message::Close(close_frame)).await;
                        break;
                    }
                    _ = pings.tick() => {
                        if shared.is_silent() {
                            continue;
                        }
                        if sink.send(Message::Ping(Default::default())).await.is_err() {
                            break;
                        }
                    }
                    frame = receiver.recv() => {
                        let Some(frame) = frame else { break };
                        if shared.is_silent() {
                            // A silent socket: the frame never reaches the client.
                            continue;
                        }
                        if sink.send(Message::text(frame.text)).await.is_err() {
                            break;
                        }
                        let mut report = shared.report();
                        report.frames_sent += 1;
                        if let Some(delivery) = frame.trade {
                            report.mark_delivered(delivery.index, delivery.venue);
                        }
                    }
                }
            }
            close.cancel();
        })
    };

    loop {
        let message = tokio::select! {
            _ = close.cancelled() => break,
            message = incoming.next() => message,
        };
        if let Some(Ok(frame)) = &message {
            let counted = shared
                .ws()
                .count_frame(id, frame, marketprism_model::now_ms());
            if let Err(last) = counted {
                tracing::warn!(
                    path = dialect.endpoint(),
                    "Client beyond the venue's message rate; closing it."
                );
                let _ = farewell.set(last);
                break;
            }
        }
        match message {
            Some(Ok(Message::Text(text))) => handle_call(&shared, id, text.as_str()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    close.cancel();
    shared.ws().closed(id);
    let client = shared.clients().remove(&id);
    if client.is_some_and(|client| client.slow.load(Ordering::Relaxed)) {
        tracing::warn!(
            path = dialect.endpoint(),
            "Client {CLIENT_QUEUE} frames behind; disconnected as a slow consumer."
        );
        shared.report().slow_consumers.push(SlowConsumer {
            at_ms: marketprism_model::now_ms(),
            exchange: dialect.venue().exchange().as_str().to_owned(),
        });
    }
    shared.streams_changed();
    let _ = writer.await;
}

/// Answers a method frame. Subscription changes and their reply are made under the client
/// lock, so no data frame of a new stream can precede the reply confirming it.
fn handle_call(shared: &Shared, id: u64, text: &str) {
    let mut clients = shared.clients();
    let Some(client) = clients.get_mut(&id) else {
        return;
    };
    // A subscription beyond the venue's limits is refused as the venue refuses it.
    let admitted = shared.ws().admit_request(id, &client.streams, text);
    if let Err(refusal) = admitted {
        tracing::warn!(
            path = client.dialect.endpoint(),
            "Subscribe request beyond the venue's limits refused."
        );
        client.offer(Outbound {
            text: refusal,
            trade: None,
        });
        return;
    }
    if !matches!(client.dialect, Dialect::Binance { .. }) {
        crate::dialect::handle(shared, client, text);
        shared.ws().note_streams(id, client.streams.len());
        return;
    }
    let call: MethodCall = match serde_json::from_str(text) {
        Ok(call) => call,
        Err(error) => {
            client.offer(Outbound {
                text: error_reply(3, &format!("Invalid JSON: {error}"), &Value::Null),
                trade: None,
            });
            return;
        }
    };
    let names: Option<Vec<String>> = call
        .params
        .iter()
        .map(|param| param.as_str().map(str::to_owned))
        .collect();
    let reply = match (call.method.as_str(), names) {
        ("SUBSCRIBE", Some(names)) => match names.iter().find(|name| !shared.is_known_stream(name)) {
            Some(unknown) => error_reply(2, &format!("Invalid request: unknown stream {unknown}"), &call.id),
            None => {
                client.streams.extend(names);
                shared.streams_changed();
                result_reply(Value::Null, &call.id)
            }
        },
        ("UNSUBSCRIBE", Some(names)) => {
            for name in &names {
                client.streams.remove(name);
            }
            shared.streams_changed();
            result_reply(Value::Null, &call.id)
        }
        ("LIST_SUBSCRIPTIONS", _) => result_reply(Value::from(client.streams.iter().cloned().collect::<Vec<_>>()), &call.id),
        ("SUBSCRIBE" | "UNSUBSCRIBE", None) => error_reply(2, "Invalid request: params must be stream names", &call.id),
        (other, _) => error_reply(
            2,
            &format!("Invalid request: unknown variant `{other}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`"),
            &call.id,
        ),
    };
    shared.ws().note_streams(id, client.streams.len());
    client.offer(Outbound {
        text: reply,
        trade: None,
    });
}
