//! One venue connection: connect, subscribe, read, reconnect.
//!
//! Each [`Session`] connects to the venue, sends its subscribe requests and waits for every
//! reply, then reads frames until the socket fails, the venue closes it, the no-data
//! watchdog fires or shutdown is requested. Between sessions it waits a jittered, capped,
//! growing delay. When a session is confirmed after an interruption, a `gap` event per
//! subscribed symbol covers the window in which data may have been missed. Where each symbol
//! stood is saved to the feed-state bucket ([`crate::resume`]), so that the first session of
//! the next process covers the restart the same way. At shutdown a session closes its socket
//! and still reads what the socket delivers, up to `drain_timeout`.
//!
//! The instruments a connection carries change while it runs ([`Change`]): added ones are
//! subscribed and removed ones unsubscribed on the open socket, or by the next session when
//! none is open, and neither interrupts the others. An instrument added while the connection
//! is down is not owed a gap for that outage: it was not carried before.
//!
//! What a session sends keeps within the venue's [`WsLimits`]: every socket waits for the
//! venue's connection [`Gate`] (shared by the venue's connections) before it is opened, and
//! subscribe requests, book resubscriptions and, where the venue counts them, keepalives
//! queue for the message gate (the session's own, or the venue's where it counts per IP),
//! which lets them out at the venue's pace while the session keeps reading.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use marketprism_book::PublishSettings;
use marketprism_bus::Backoff;
use marketprism_model::{now_ms, Event, Gap, GapReason, GapState, Symbol};
use marketprism_venues::{
    refused_symbols, Channel, CountedMessages, Inbound, Subscription, VenueError, VenueProtocol,
    WsLimits,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant, Interval};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::books::{Books, RecoverySettings, Resync};
use crate::continuity::TradeContinuity;
use crate::metrics::Metrics;
use crate::publisher::Outgoing;
use crate::resume::{FeedStore, Remembered};
use crate::sharding::{message_pacer, Pacer};
use crate::snapshots::{FetchSettings, Snapshot, SnapshotFetcher};
use crate::ConnectionConfig;

/// A [`Pacer`] shared by whoever sends through it: the connections of a venue opening
/// sockets, or sending frames where the venue counts them per IP.
#[derive(Debug, Clone)]
pub(crate) struct Gate(Arc<Mutex<Pacer>>);

impl Gate {
    /// A gate admitting what `pacer` admits.
    pub(crate) fn new(pacer: Pacer) -> Self {
        Gate(Arc::new(Mutex::new(pacer)))
    }

    /// Takes a place now; otherwise says when the next one frees.
    fn try_take(&self) -> Result<(), Instant> {
        self.0
            .lock()
            // The pacer holds a few times, consistent after any panic.
            .unwrap_or_else(PoisonError::into_inner)
            .try_take(Instant::now())
    }

    /// Waits for a place and takes it.
    async fn take(&self) {
        while let Err(free_at) = self.try_take() {
            tokio::time::sleep_until(free_at).await;
        }
    }
}

/// A change to the instruments a running connection carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Subscribe to these, of instruments the connection does not carry yet.
    Add(Vec<Subscription>),
    /// Unsubscribe from every subscription of these instruments and forget them.
    Remove(Vec<Symbol>),
}

/// A frame waiting for the message gate.
struct Queued {
    text: String,
    /// A subscribe request: its reply is awaited from when it is sent.
    subscribe: bool,
    /// The replies confirming a subscribe request.
    acks: Vec<u64>,
}

/// Why a session ended.
enum SessionEnd {
    /// Shutdown was requested; the socket was closed politely.
    Shutdown,
    /// The session was lost and must be replaced.
    Lost { reason: GapReason, detail: String },
    /// The venue refused `symbols` (`reason`): the next session subscribes without them.
    Refused {
        symbols: Vec<Symbol>,
        reason: String,
    },
}

/// What a connection keeps from one session to the next.
struct FeedState {
    /// What the connection subscribes to.
    subscriptions: Vec<Subscription>,
    /// The instruments it carries: a market-wide channel (OKX `liquidation-orders`) also
    /// reports other instruments, whose events are dropped.
    symbols: HashSet<Symbol>,
    /// Changes to the instruments carried, applied as they come.
    changes: mpsc::UnboundedReceiver<Change>,
    /// Symbols the venue refused to subscribe: left out of every later session.
    refused: HashSet<Symbol>,
    /// The connection's order books, if it subscribes to any.
    books: Option<Books>,
    /// The delay before the next session; reset once a session is subscribed.
    backoff: Backoff,
    /// The venue time of the last event seen per symbol: where a gap starts.
    last_seen: HashMap<Symbol, i64>,
    /// The interruption the next subscribed session must report as gaps.
    interruption: Option<Interruption>,
    /// The last trade counter per trade stream, kept across sessions so that the trades a
    /// reconnect missed are named by id.
    continuity: TradeContinuity,
    /// The update id of the last book published per symbol.
    book_update_ids: HashMap<Symbol, u64>,
    /// Symbols whose state changed since it was last saved.
    unsaved: HashSet<Symbol>,
    /// When the state is saved next.
    next_save: Instant,
    /// A save running in the background.
    saving: Option<tokio::task::JoinHandle<usize>>,
}

impl FeedState {
    /// Notes a delivered event: where the symbol's gap would start, its book update id.
    fn note(&mut self, event: &Event) {
        let symbol = event.symbol();
        if let Some(time_ms) = event.exchange_time_ms() {
            self.last_seen.insert(symbol.clone(), time_ms);
        }
        if let Event::OrderBook(book) = event {
            self.book_update_ids.insert(symbol.clone(), book.update_id);
        }
        if !self.unsaved.contains(symbol) {
            self.unsaved.insert(symbol.clone());
        }
    }

    /// What is to be saved of the symbols changed since the last save.
    fn take_unsaved(&mut self) -> Vec<(Symbol, Remembered)> {
        self.unsaved
            .drain()
            .filter_map(|symbol| {
                let last_seen_ms = *self.last_seen.get(&symbol)?;
                let remembered = Remembered {
                    last_seen_ms,
                    trades: self.continuity.streams(&symbol),
                    book_update_id: self.book_update_ids.get(&symbol).copied(),
                };
                Some((symbol, remembered))
            })
            .collect()
    }
}

impl FeedState {
    /// The subscriptions of symbols the venue has not refused.
    fn active_subscriptions(&self) -> Vec<Subscription> {
        self.subscriptions
            .iter()
            .filter(|subscription| !self.refused.contains(&subscription.symbol))
            .cloned()
            .collect()
    }
}

/// An interruption not yet covered by a gap event.
struct Interruption {
    reason: GapReason,
    at_ms: i64,
    /// Instruments added since: they lost nothing to it.
    exempt: HashSet<Symbol>,
}

impl Interruption {
    fn new(reason: GapReason) -> Self {
        Interruption {
            reason,
            at_ms: now_ms(),
            exempt: HashSet::new(),
        }
    }
}

/// A venue connection and everything it needs to run.
pub(crate) struct Connection {
    pub(crate) protocol: Arc<dyn VenueProtocol>,
    pub(crate) endpoint: String,
    /// REST endpoint for book snapshots, for venues that need them.
    pub(crate) rest_endpoint: String,
    /// The venue's REST client, its budget shared with the venue's other connections and
    /// pollers.
    pub(crate) rest_client: marketprism_rest::RestClient,
    /// What the connection subscribes to when it starts.
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) book_settings: PublishSettings,
    pub(crate) book_recovery: RecoverySettings,
    pub(crate) settings: ConnectionConfig,
    /// The venue's WebSocket limits.
    pub(crate) limits: WsLimits,
    /// Admits each new socket, shared by the venue's connections from this process.
    pub(crate) connect_gate: Gate,
    /// Where the venue counts messages per IP, the gate shared by its connections; each
    /// session has a gate of its own otherwise.
    pub(crate) message_gate: Option<Gate>,
    pub(crate) sender: mpsc::Sender<Outgoing>,
    /// Where the connection saves and finds where each symbol stood.
    pub(crate) store: FeedStore,
    pub(crate) metrics: Metrics,
}

impl Connection {
    fn feed(&self) -> String {
        format!(
            "{}.{}",
            self.protocol.exchange(),
            self.protocol.market_type()
        )
    }

    fn books(&self, shutdown: &CancellationToken) -> Option<Books> {
        let fetcher = || {
            if self.protocol.sync_rule().snapshot_in_stream() {
                return None;
            }
            let settings = FetchSettings {
                protocol: self.protocol.clone(),
                rest_endpoint: self.rest_endpoint.clone(),
                depth: self.book_settings.max_levels,
                backoff_initial: self.settings.backoff_initial,
                backoff_max: self.settings.backoff_max,
                client: self.rest_client.clone(),
            };
            Some(SnapshotFetcher::spawn(settings, shutdown.child_token()))
        };
        Books::new(
            self.protocol.as_ref(),
            &self.subscriptions,
            self.book_settings,
            self.book_recovery,
            fetcher,
            self.metrics.clone(),
        )
    }

    /// Runs sessions until shutdown, applying `changes` to the instruments carried.
    pub(crate) async fn run(
        self,
        changes: mpsc::UnboundedReceiver<Change>,
        shutdown: CancellationToken,
    ) {
        let mut state = FeedState {
            symbols: self
                .subscriptions
                .iter()
                .map(|subscription| subscription.symbol.clone())
                .collect(),
            subscriptions: self.subscriptions.clone(),
            changes,
            refused: HashSet::new(),
            books: self.books(&shutdown),
            backoff: Backoff::new(self.settings.backoff_initial, self.settings.backoff_max),
            last_seen: HashMap::new(),
            interruption: None,
            continuity: TradeContinuity::default(),
            book_update_ids: HashMap::new(),
            unsaved: HashSet::new(),
            next_save: Instant::now() + self.settings.persist_interval,
            saving: None,
        };
        self.restore(&mut state).await;
        loop {
            // Every attempt counts against the venue's connections per IP.
            tokio::select! {
                _ = shutdown.cancelled() => return self.save_now(&mut state).await,
                () = self.connect_gate.take() => {}
            }
            let end = match Session::open(&self, &mut state).await {
                Ok(session) => session.run(&shutdown).await,
                Err(end) => end,
            };
            match end {
                SessionEnd::Shutdown => return self.save_now(&mut state).await,
                SessionEnd::Lost { reason, detail } => {
                    tracing::warn!(feed = %self.feed(), reason = reason.as_str(), %detail, "Connection lost; reconnecting.");
                    self.metrics.reconnects.inc();
                    state
                        .interruption
                        .get_or_insert_with(|| Interruption::new(reason));
                }
                SessionEnd::Refused { symbols, reason } => {
                    if !self.leave_out(&mut state, symbols, &reason) {
                        tracing::error!(feed = %self.feed(), "The venue refused every symbol of the connection; it stops.");
                        return self.save_now(&mut state).await;
                    }
                }
            }
            let delay = state.backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => return self.save_now(&mut state).await,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Leaves `symbols`, which the venue refused, out of the connection's later sessions,
    /// so that its other symbols keep recording; false when none is left.
    fn leave_out(&self, state: &mut FeedState, symbols: Vec<Symbol>, reason: &str) -> bool {
        for symbol in symbols {
            tracing::error!(feed = %self.feed(), %symbol, %reason, "The venue refused the symbol; the connection goes on without it. Remove it from the configuration.");
            self.metrics.symbols_refused.inc();
            if let Some(books) = state.books.as_mut() {
                books.drop_symbol(&symbol);
            }
            state.refused.insert(symbol);
        }
        // Symbols whose requests the venue accepted may have sent data already: the
        // resubscription interrupts them.
        if !state.last_seen.is_empty() {
            state
                .interruption
                .get_or_insert_with(|| Interruption::new(GapReason::Disconnect));
        }
        state.backoff.reset();
        !state.active_subscriptions().is_empty()
    }

    /// Applies `change` to `state`, and returns the frames the open session (if any) must
    /// send: subscribe requests of what was added, with the replies they await, and
    /// unsubscribe frames of what was removed. A session not yet open subscribes to what
    /// `state` holds.
    fn apply_change(
        &self,
        state: &mut FeedState,
        change: Change,
        subscribed: bool,
    ) -> Result<Vec<Queued>, VenueError> {
        let now = now_ms();
        match change {
            Change::Add(subscriptions) => {
                let added: Vec<Subscription> = subscriptions
                    .into_iter()
                    .filter(|subscription| !state.subscriptions.contains(subscription))
                    .collect();
                for subscription in &added {
                    let symbol = &subscription.symbol;
                    state.refused.remove(symbol);
                    if let Some(interruption) = state.interruption.as_mut() {
                        interruption.exempt.insert(symbol.clone());
                    }
                    if subscription.channel == Channel::OrderBook {
                        if let Some(books) = state.books.as_mut() {
                            books.add_symbol(symbol.clone(), now, subscribed);
                        }
                    }
                    state.symbols.insert(symbol.clone());
                }
                state.subscriptions.extend(added.iter().cloned());
                tracing::info!(feed = %self.feed(), subscriptions = added.len(), "Instruments added to the connection.");
                Ok(self
                    .protocol
                    .subscribe_requests(&added)?
                    .into_iter()
                    .map(|request| Queued {
                        text: request.frame,
                        subscribe: true,
                        acks: request.acks,
                    })
                    .collect())
            }
            Change::Remove(symbols) => {
                let symbols: HashSet<Symbol> = symbols.into_iter().collect();
                let (removed, kept): (Vec<Subscription>, Vec<Subscription>) = state
                    .subscriptions
                    .drain(..)
                    .partition(|subscription| symbols.contains(&subscription.symbol));
                state.subscriptions = kept;
                for symbol in &symbols {
                    state.symbols.remove(symbol);
                    state.last_seen.remove(symbol);
                    state.book_update_ids.remove(symbol);
                    state.unsaved.remove(symbol);
                    state.continuity.forget(symbol);
                    if let Some(books) = state.books.as_mut() {
                        books.drop_symbol(symbol);
                    }
                }
                tracing::info!(feed = %self.feed(), instruments = symbols.len(), "Instruments removed from the connection.");
                // A stream the remaining instruments share (a market-wide channel) stays.
                let mut still_needed: HashSet<String> = HashSet::new();
                for subscription in &state.subscriptions {
                    still_needed.extend(self.protocol.streams(subscription)?);
                }
                let mut ending = Vec::new();
                for subscription in removed {
                    let streams = self.protocol.streams(&subscription)?;
                    if streams.iter().all(|stream| !still_needed.contains(stream)) {
                        ending.push(subscription);
                    }
                }
                if ending.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(self
                    .protocol
                    .unsubscribe_frames(&ending)?
                    .into_iter()
                    .map(|text| Queued {
                        text,
                        subscribe: false,
                        acks: Vec::new(),
                    })
                    .collect())
            }
        }
    }

    /// Continues from where the previous process left the connection's symbols: their last
    /// events and trade counters, and a `restart` interruption the first session reports.
    async fn restore(&self, state: &mut FeedState) {
        let remembered = self.store.load(&state.symbols).await;
        if remembered.is_empty() {
            return;
        }
        tracing::info!(feed = %self.feed(), symbols = remembered.len(), "Continuing from the saved feed state.");
        for (symbol, remembered) in remembered {
            state
                .last_seen
                .insert(symbol.clone(), remembered.last_seen_ms);
            if let Some(update_id) = remembered.book_update_id {
                state.book_update_ids.insert(symbol.clone(), update_id);
            }
            state.continuity.restore(symbol, remembered.trades);
        }
        state.interruption = Some(Interruption::new(GapReason::Restart));
    }

    /// Saves the changed symbols in the background, unless the previous save still runs;
    /// reading never waits for NATS.
    fn save_in_background(&self, state: &mut FeedState) {
        state.next_save = Instant::now() + self.settings.persist_interval;
        if state
            .saving
            .as_ref()
            .is_some_and(|saving| !saving.is_finished())
        {
            return;
        }
        let changed = state.take_unsaved();
        if changed.is_empty() {
            return;
        }
        let store = self.store.clone();
        let sender = self.sender.clone();
        state.saving = Some(tokio::spawn(async move {
            store.save_once_stored(&sender, changed).await
        }));
    }

    /// Saves every change, after any save still running: the last thing a connection does.
    async fn save_now(&self, state: &mut FeedState) {
        if let Some(saving) = state.saving.take() {
            let _ = saving.await;
        }
        let changed = state.take_unsaved();
        let symbols = changed.len();
        let failed = self.store.save_once_stored(&self.sender, changed).await;
        tracing::info!(feed = %self.feed(), symbols, failed, "Feed state saved.");
    }

    /// One gap per subscribed symbol, from the last event seen for it (or the moment of the
    /// interruption) to the confirmation of the new subscription.
    async fn emit_gaps(
        &self,
        interruption: &Interruption,
        state: &FeedState,
        confirmed_ms: i64,
    ) -> Result<(), SessionEnd> {
        let last_seen = &state.last_seen;
        let mut symbols: Vec<&Symbol> = state
            .subscriptions
            .iter()
            .map(|subscription| &subscription.symbol)
            .filter(|symbol| {
                !state.refused.contains(*symbol) && !interruption.exempt.contains(*symbol)
            })
            .collect();
        symbols.sort();
        symbols.dedup();
        for symbol in symbols {
            // A restart covers only the symbols the previous process had seen.
            if interruption.reason == GapReason::Restart && !last_seen.contains_key(symbol) {
                continue;
            }
            let from_ms = last_seen.get(symbol).copied().unwrap_or(interruption.at_ms);
            let gap = Gap {
                exchange: self.protocol.exchange(),
                market_type: self.protocol.market_type(),
                symbol: symbol.clone(),
                from_ms,
                to_ms: confirmed_ms,
                reason: interruption.reason,
                received_time_ms: confirmed_ms,
                missing_ids: None,
                state: GapState::default(),
                collector: None,
            };
            self.record_gap(gap).await?;
        }
        Ok(())
    }

    /// Logs, counts and publishes a gap.
    async fn record_gap(&self, gap: Gap) -> Result<(), SessionEnd> {
        tracing::info!(
            feed = %self.feed(),
            symbol = %gap.symbol,
            reason = gap.reason.as_str(),
            from_ms = gap.from_ms,
            to_ms = gap.to_ms,
            missing_ids = ?gap.missing_ids,
            "Gap recorded."
        );
        self.metrics.gaps.inc();
        self.sender
            .send(Outgoing::Event(Event::Gap(gap)))
            .await
            .map_err(|_| SessionEnd::Shutdown)
    }
}

/// The socket of a session.
type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One session of a connection: from connecting to the venue until the socket is lost or
/// shutdown is requested.
struct Session<'a> {
    connection: &'a Connection,
    state: &'a mut FeedState,
    socket: Socket,
    /// Subscribe requests whose reply has not come yet.
    awaiting: Vec<u64>,
    /// Frames waiting for the message gate, oldest first.
    outbox: VecDeque<Queued>,
    /// Admits the frames the venue counts.
    gate: Gate,
    /// When the gate frees its next place, once it refused one.
    send_at: Instant,
    /// Whether every subscribe request was confirmed.
    subscribed: bool,
    /// When the subscription must be confirmed.
    subscribe_deadline: Instant,
    /// When the last frame arrived, for the no-data watchdog.
    last_frame_at: Instant,
    /// Events parsed before every subscription was confirmed: they wait for the
    /// interruption's gaps, so that a gap always precedes the data after it.
    held: Vec<Event>,
    keepalive: Option<(Interval, &'static str)>,
    /// When to look for books out of sync too long.
    unsynced_check: Interval,
}

impl<'a> Session<'a> {
    /// Connects to the venue and sends the subscribe requests.
    async fn open(
        connection: &'a Connection,
        state: &'a mut FeedState,
    ) -> Result<Session<'a>, SessionEnd> {
        let lost = |detail| SessionEnd::Lost {
            reason: GapReason::Disconnect,
            detail,
        };
        if let Some(books) = state.books.as_mut() {
            books.session_started(now_ms());
        }
        let url = connection.protocol.connect_url(&connection.endpoint);
        let subscribe_deadline = Instant::now() + connection.settings.subscribe_timeout;
        let socket = match timeout_at(
            subscribe_deadline,
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        {
            Ok(Ok((socket, _response))) => socket,
            Ok(Err(error)) => return Err(lost(format!("connecting to {url}: {error}"))),
            Err(_) => return Err(lost(format!("connecting to {url}: timed out"))),
        };
        // Changes that came while no session was open: this one subscribes to the result.
        while let Ok(change) = state.changes.try_recv() {
            connection
                .apply_change(state, change, false)
                .map_err(|error| lost(error.to_string()))?;
        }
        let requests = connection
            .protocol
            .subscribe_requests(&state.active_subscriptions())
            .map_err(|error| lost(error.to_string()))?;
        let awaiting = requests
            .iter()
            .flat_map(|request| request.acks.iter().copied())
            .collect();
        let outbox = requests
            .into_iter()
            .map(|request| Queued {
                text: request.frame,
                subscribe: true,
                acks: Vec::new(),
            })
            .collect();
        // A new socket starts a new count, unless the venue counts per IP.
        let gate = connection
            .message_gate
            .clone()
            .unwrap_or_else(|| Gate::new(message_pacer(&connection.limits)));
        let keepalive = connection.protocol.keepalive().map(|keepalive| {
            let mut interval = tokio::time::interval(keepalive.every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (interval, keepalive.frame)
        });
        // A quarter of the threshold, so that a gap is recorded soon after it is crossed.
        let check_every = (connection.book_recovery.unsynced_after / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let mut unsynced_check = tokio::time::interval(check_every);
        unsynced_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut session = Session {
            connection,
            unsynced_check,
            state,
            socket,
            awaiting,
            outbox,
            gate,
            send_at: Instant::now(),
            subscribed: false,
            subscribe_deadline,
            last_frame_at: Instant::now(),
            held: Vec::new(),
            keepalive,
        };
        session.flush().await?;
        Ok(session)
    }

    /// Sends queued frames while the message gate admits them; the rest wait for
    /// [`Self::send_at`]. A subscribe request's reply is awaited from when it is sent.
    async fn flush(&mut self) -> Result<(), SessionEnd> {
        while !self.outbox.is_empty() {
            if let Err(free_at) = self.gate.try_take() {
                self.send_at = free_at;
                return Ok(());
            }
            let Some(frame) = self.outbox.pop_front() else {
                break;
            };
            if let Err(error) = self.socket.send(Message::text(frame.text)).await {
                return Err(self.lost(GapReason::Disconnect, format!("sending: {error}")));
            }
            if frame.subscribe {
                self.subscribe_deadline =
                    Instant::now() + self.connection.settings.subscribe_timeout;
            }
        }
        Ok(())
    }

    /// Queues `frames` for the message gate and sends what it admits now.
    async fn send_paced(&mut self, frames: Vec<String>) -> Result<(), SessionEnd> {
        self.outbox.extend(frames.into_iter().map(|text| Queued {
            text,
            subscribe: false,
            acks: Vec::new(),
        }));
        self.flush().await
    }

    /// Applies a change to the instruments carried and queues what it must send; the
    /// replies of added subscriptions are awaited like the first ones.
    async fn change(&mut self, change: Change) -> Result<(), SessionEnd> {
        let frames = self
            .connection
            .apply_change(self.state, change, self.subscribed)
            .map_err(|error| self.lost(GapReason::Disconnect, error.to_string()))?;
        for frame in &frames {
            self.awaiting.extend(frame.acks.iter().copied());
        }
        self.outbox.extend(frames);
        self.flush().await
    }

    /// Reads frames until the session ends, and says why it did.
    async fn run(mut self, shutdown: &CancellationToken) -> SessionEnd {
        loop {
            if let Err(end) = self.step(shutdown).await {
                return end;
            }
        }
    }

    /// Waits for the next thing to do (a frame, a REST snapshot, a keepalive, shutdown) and
    /// does it.
    async fn step(&mut self, shutdown: &CancellationToken) -> Result<(), SessionEnd> {
        let frame_deadline = if self.subscribed {
            self.last_frame_at + self.connection.settings.watchdog
        } else {
            self.subscribe_deadline
        };
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => {
                self.drain().await;
                self.mark_down();
                return Err(SessionEnd::Shutdown);
            }
            Some(snapshot) = next_snapshot(&mut self.state.books) => {
                let events = self
                    .state
                    .books
                    .as_mut()
                    .map(|books| books.apply_snapshot(snapshot))
                    .unwrap_or_default();
                return self.deliver(events).await;
            }
            _ = self.unsynced_check.tick(), if self.state.books.is_some() => {
                let events = self
                    .state
                    .books
                    .as_mut()
                    .map(|books| books.check_unsynced(now_ms()))
                    .unwrap_or_default();
                return self.deliver(events).await;
            }
            () = tokio::time::sleep_until(self.send_at), if !self.outbox.is_empty() => {
                return self.flush().await;
            }
            Some(change) = self.state.changes.recv() => return self.change(change).await,
            frame = tick(&mut self.keepalive) => {
                // A keepalive the venue does not count needs no place at the gate.
                if self.connection.limits.counted == CountedMessages::EveryFrame {
                    return self.send_paced(vec![frame.to_owned()]).await;
                }
                return match self.socket.send(Message::text(frame)).await {
                    Ok(()) => Ok(()),
                    Err(error) => Err(self.lost(GapReason::Disconnect, format!("sending keepalive: {error}"))),
                };
            }
            frame = timeout_at(frame_deadline, self.socket.next()) => frame,
        };
        self.last_frame_at = Instant::now();
        let message = match frame {
            Err(_) if self.subscribed => {
                let detail = format!("no data for {:?}", self.connection.settings.watchdog);
                return Err(self.lost(GapReason::Stale, detail));
            }
            Err(_) => {
                return Err(self.lost(
                    GapReason::Disconnect,
                    "subscription not confirmed in time".into(),
                ))
            }
            Ok(None) => return Err(self.lost(GapReason::Disconnect, "stream ended".into())),
            Ok(Some(Err(error))) => return Err(self.lost(GapReason::Disconnect, error.to_string())),
            Ok(Some(Ok(message))) => message,
        };
        let received_time_ms = now_ms();
        match message {
            Message::Text(text) => self.on_text(text.as_str(), received_time_ms).await,
            Message::Ping(_) => {
                // tungstenite queues the pong; flushing sends it now rather than on the next
                // write, which a read-only feed may never make.
                let _ = self.socket.flush().await;
                Ok(())
            }
            Message::Close(frame) => {
                Err(self.lost(GapReason::Disconnect, format!("closed by venue: {frame:?}")))
            }
            Message::Binary(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
        }
    }

    /// Handles a text frame: events, a book message, a subscription reply, or a frame that
    /// does not parse (dead-lettered).
    async fn on_text(&mut self, text: &str, received_time_ms: i64) -> Result<(), SessionEnd> {
        let connection = self.connection;
        connection.metrics.frames_received.inc();
        match connection.protocol.parse(text, received_time_ms) {
            Ok(Inbound::Events(events)) => self.deliver(events).await,
            Ok(Inbound::Book(message)) => {
                let Some(books) = self.state.books.as_mut() else {
                    connection.metrics.frames_ignored.inc();
                    return Ok(());
                };
                let (events, resync) = books.apply(
                    connection.protocol.as_ref(),
                    message.market_type,
                    &message.symbol,
                    message.update,
                );
                self.deliver(events).await?;
                match resync {
                    Some(Resync::Resubscribe(frames)) => self.send_paced(frames).await,
                    _ => Ok(()),
                }
            }
            Ok(Inbound::SubscribeAck { request_id }) => {
                self.on_subscribe_ack(request_id, received_time_ms).await
            }
            // A refusal naming symbols leaves them out, so the others keep recording. Any
            // other refusal is a configuration problem the venue will not change its mind
            // about quickly; back off and retry so it is visible.
            Ok(Inbound::Rejected { request_id, reason }) => {
                let refused = refused_symbols(
                    connection.protocol.as_ref(),
                    &reason,
                    self.state
                        .symbols
                        .iter()
                        .filter(|symbol| !self.state.refused.contains(*symbol)),
                );
                if refused.is_empty() {
                    return Err(self.lost(
                        GapReason::Disconnect,
                        format!("request {request_id:?} refused: {reason}"),
                    ));
                }
                self.mark_down();
                Err(SessionEnd::Refused {
                    symbols: refused,
                    reason,
                })
            }
            Ok(Inbound::Ignored) => {
                connection.metrics.frames_ignored.inc();
                Ok(())
            }
            Err(error) => {
                connection.metrics.parse_errors.inc();
                tracing::warn!(feed = %connection.feed(), %error, "Unparseable frame kept on the dead-letter stream.");
                let dead_letter = Outgoing::DeadLetter {
                    feed: connection.feed(),
                    frame: text.to_owned(),
                    reason: error.to_string(),
                };
                connection
                    .sender
                    .send(dead_letter)
                    .await
                    .map_err(|_| SessionEnd::Shutdown)
            }
        }
    }

    /// Notes a confirmed request; once every one is confirmed the session is subscribed: the
    /// interruption's gaps are published, then the events held until now.
    async fn on_subscribe_ack(
        &mut self,
        request_id: u64,
        received_time_ms: i64,
    ) -> Result<(), SessionEnd> {
        self.awaiting.retain(|&id| id != request_id);
        if !self.awaiting.is_empty() || self.subscribed {
            return Ok(());
        }
        let connection = self.connection;
        self.subscribed = true;
        self.state.backoff.reset();
        if let Some(books) = self.state.books.as_mut() {
            books.subscribed();
        }
        connection.metrics.connections_up.inc();
        tracing::info!(feed = %connection.feed(), subscriptions = self.state.subscriptions.len(), "Subscribed.");
        if let Some(interruption) = self.state.interruption.take() {
            connection
                .emit_gaps(&interruption, self.state, received_time_ms)
                .await?;
        }
        // Data that arrived before the last confirmation follows the gaps.
        let early = std::mem::take(&mut self.held);
        self.deliver(early).await
    }

    /// Publishes events once the session is subscribed (noting the venue time of the last
    /// event per symbol, where a later gap starts); holds them until then.
    async fn deliver(&mut self, events: Vec<Event>) -> Result<(), SessionEnd> {
        if !self.subscribed {
            self.held.extend(events);
            return Ok(());
        }
        let connection = self.connection;
        for event in events {
            if !self.state.symbols.contains(event.symbol()) {
                connection.metrics.events_unsubscribed.inc();
                continue;
            }
            self.state.note(&event);
            if let Event::Trade(trade) = &event {
                if let Some(gap) = self.state.continuity.observe(trade) {
                    connection.record_gap(gap).await?;
                }
            }
            connection
                .sender
                .send(Outgoing::Event(event))
                .await
                .map_err(|_| SessionEnd::Shutdown)?;
        }
        if Instant::now() >= self.state.next_save {
            connection.save_in_background(self.state);
        }
        Ok(())
    }

    /// Closes the socket, then reads what it still delivers (frames the venue sent before it
    /// saw the close) until it ends or `drain_timeout` passes.
    async fn drain(&mut self) {
        let _ = self.socket.close(None).await;
        let deadline = Instant::now() + self.connection.settings.drain_timeout;
        while let Ok(Some(Ok(message))) = timeout_at(deadline, self.socket.next()).await {
            if let Message::Text(text) = message {
                if self.on_text(text.as_str(), now_ms()).await.is_err() {
                    break;
                }
            }
        }
    }

    /// The session is lost: the connection no longer counts as up.
    fn lost(&self, reason: GapReason, detail: String) -> SessionEnd {
        self.mark_down();
        SessionEnd::Lost { reason, detail }
    }

    fn mark_down(&self) {
        if self.subscribed {
            self.connection.metrics.connections_up.dec();
        }
    }
}

/// The next REST snapshot of the connection's books, if it has any.
async fn next_snapshot(books: &mut Option<Books>) -> Option<Snapshot> {
    match books {
        Some(books) => books.next_snapshot().await,
        None => std::future::pending().await,
    }
}

/// The keepalive frame when it is due; never, for venues without one.
async fn tick(keepalive: &mut Option<(Interval, &'static str)>) -> &'static str {
    match keepalive {
        Some((interval, frame)) => {
            interval.tick().await;
            frame
        }
        None => std::future::pending().await,
    }
}
