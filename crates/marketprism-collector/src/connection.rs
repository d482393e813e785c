//! One venue connection: connect, subscribe, read, reconnect.
//!
//! Each session connects to the venue, sends its subscribe requests and waits for every
//! reply, then reads frames until the socket fails, the venue closes it, the no-data
//! watchdog fires or shutdown is requested. Between sessions it waits a jittered, capped,
//! growing delay. When a session is confirmed after an interruption, a `gap` event per
//! subscribed symbol covers the window in which data may have been missed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use marketprism_book::PublishSettings;
use marketprism_bus::Backoff;
use marketprism_model::{now_ms, Event, Gap, GapReason, Symbol};
use marketprism_venues::{Inbound, Subscription, VenueProtocol};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant, Interval};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::books::{Books, Resync};
use crate::metrics::Metrics;
use crate::publisher::Outgoing;
use crate::snapshots::{FetchSettings, Snapshot, SnapshotFetcher};
use crate::ConnectionConfig;

/// Why a session ended.
enum SessionEnd {
    /// Shutdown was requested; the socket was closed politely.
    Shutdown,
    /// The session was lost and must be replaced.
    Lost { reason: GapReason, detail: String },
}

/// An interruption not yet covered by a gap event.
struct Interruption {
    reason: GapReason,
    at_ms: i64,
}

/// A venue connection and everything it needs to run.
pub(crate) struct Connection {
    pub(crate) protocol: Arc<dyn VenueProtocol>,
    pub(crate) endpoint: String,
    /// REST endpoint for book snapshots, for venues that need them.
    pub(crate) rest_endpoint: String,
    /// The collector's REST client.
    pub(crate) rest_client: reqwest::Client,
    pub(crate) subscriptions: Vec<Subscription>,
    /// The subscribed symbols: a market-wide channel (OKX `liquidation-orders`) also
    /// reports other instruments, whose events are dropped.
    pub(crate) symbols: HashSet<Symbol>,
    pub(crate) book_settings: PublishSettings,
    pub(crate) settings: ConnectionConfig,
    pub(crate) sender: mpsc::Sender<Outgoing>,
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
            fetcher,
            self.metrics.clone(),
        )
    }

    /// Runs sessions until shutdown.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut books = self.books(&shutdown);
        let mut backoff = Backoff::new(self.settings.backoff_initial, self.settings.backoff_max);
        // The venue time of the last event seen per symbol: where a gap starts.
        let mut last_seen: HashMap<Symbol, i64> = HashMap::new();
        let mut interruption: Option<Interruption> = None;
        loop {
            match self
                .session(
                    &mut last_seen,
                    &mut interruption,
                    &mut books,
                    &mut backoff,
                    &shutdown,
                )
                .await
            {
                SessionEnd::Shutdown => return,
                SessionEnd::Lost { reason, detail } => {
                    tracing::warn!(feed = %self.feed(), reason = reason.as_str(), %detail, "Connection lost; reconnecting.");
                    self.metrics.reconnects.inc();
                    interruption.get_or_insert(Interruption {
                        reason,
                        at_ms: now_ms(),
                    });
                }
            }
            let delay = backoff.next_delay();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn session(
        &self,
        last_seen: &mut HashMap<Symbol, i64>,
        interruption: &mut Option<Interruption>,
        books: &mut Option<Books>,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let lost = |reason, detail: String| SessionEnd::Lost { reason, detail };
        if let Some(books) = books.as_mut() {
            books.session_started();
        }
        let url = self.protocol.connect_url(&self.endpoint);
        let deadline = Instant::now() + self.settings.subscribe_timeout;
        let mut socket =
            match tokio::time::timeout_at(deadline, tokio_tungstenite::connect_async(url.as_str()))
                .await
            {
                Ok(Ok((socket, _response))) => socket,
                Ok(Err(error)) => {
                    return lost(
                        GapReason::Disconnect,
                        format!("connecting to {url}: {error}"),
                    )
                }
                Err(_) => {
                    return lost(
                        GapReason::Disconnect,
                        format!("connecting to {url}: timed out"),
                    )
                }
            };
        let requests = match self.protocol.subscribe_requests(&self.subscriptions) {
            Ok(requests) => requests,
            Err(error) => return lost(GapReason::Disconnect, error.to_string()),
        };
        let mut awaiting: Vec<u64> = requests
            .iter()
            .flat_map(|request| request.acks.iter().copied())
            .collect();
        for request in requests {
            if let Err(error) = socket.send(Message::text(request.frame)).await {
                return lost(
                    GapReason::Disconnect,
                    format!("sending subscribe request: {error}"),
                );
            }
        }

        let mut subscribed = false;
        let mut keepalive = self.protocol.keepalive().map(|keepalive| {
            let mut interval = tokio::time::interval(keepalive.every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (interval, keepalive.frame)
        });
        let mut last_frame_at = Instant::now();
        // Events parsed before every subscription is confirmed wait for the interruption's
        // gaps, so that a gap always precedes the data after it.
        let mut held: Vec<Event> = Vec::new();
        loop {
            let frame_deadline = if subscribed {
                last_frame_at + self.settings.watchdog
            } else {
                deadline
            };
            let frame = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    let _ = socket.close(None).await;
                    self.mark_down(subscribed);
                    return SessionEnd::Shutdown;
                }
                Some(snapshot) = next_snapshot(books) => {
                    let events = books.as_mut().map(|books| books.apply_snapshot(snapshot)).unwrap_or_default();
                    if self.deliver(events, subscribed, &mut held, last_seen).await.is_err() {
                        return SessionEnd::Shutdown;
                    }
                    continue;
                }
                frame = tick(&mut keepalive) => {
                    if let Err(error) = socket.send(Message::text(frame)).await {
                        self.mark_down(subscribed);
                        return lost(GapReason::Disconnect, format!("sending keepalive: {error}"));
                    }
                    continue;
                }
                frame = timeout_at(frame_deadline, socket.next()) => frame,
            };
            last_frame_at = Instant::now();
            let message = match frame {
                Err(_) if subscribed => {
                    self.mark_down(subscribed);
                    return lost(
                        GapReason::Stale,
                        format!("no data for {:?}", self.settings.watchdog),
                    );
                }
                Err(_) => {
                    return lost(
                        GapReason::Disconnect,
                        "subscription not confirmed in time".into(),
                    )
                }
                Ok(None) => {
                    self.mark_down(subscribed);
                    return lost(GapReason::Disconnect, "stream ended".into());
                }
                Ok(Some(Err(error))) => {
                    self.mark_down(subscribed);
                    return lost(GapReason::Disconnect, error.to_string());
                }
                Ok(Some(Ok(message))) => message,
            };
            let received_time_ms = now_ms();
            let text = match message {
                Message::Text(text) => text,
                Message::Ping(_) => {
                    // tungstenite queues the pong; flushing sends it now rather than on the
                    // next write, which a read-only feed may never make.
                    let _ = socket.flush().await;
                    continue;
                }
                Message::Close(frame) => {
                    self.mark_down(subscribed);
                    return lost(GapReason::Disconnect, format!("closed by venue: {frame:?}"));
                }
                Message::Binary(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            self.metrics.frames_received.inc();
            match self.protocol.parse(text.as_str(), received_time_ms) {
                Ok(Inbound::Events(events)) => {
                    if self
                        .deliver(events, subscribed, &mut held, last_seen)
                        .await
                        .is_err()
                    {
                        return SessionEnd::Shutdown;
                    }
                }
                Ok(Inbound::Book(message)) => {
                    let Some(books) = books.as_mut() else {
                        self.metrics.frames_ignored.inc();
                        continue;
                    };
                    let (events, resync) = books.apply(
                        self.protocol.as_ref(),
                        message.market_type,
                        &message.symbol,
                        message.update,
                    );
                    if self
                        .deliver(events, subscribed, &mut held, last_seen)
                        .await
                        .is_err()
                    {
                        return SessionEnd::Shutdown;
                    }
                    if let Some(Resync::Resubscribe(frames)) = resync {
                        for frame in frames {
                            if let Err(error) = socket.send(Message::text(frame)).await {
                                self.mark_down(subscribed);
                                return lost(
                                    GapReason::Disconnect,
                                    format!("resubscribing a book: {error}"),
                                );
                            }
                        }
                    }
                }
                Ok(Inbound::SubscribeAck { request_id }) => {
                    awaiting.retain(|&id| id != request_id);
                    if awaiting.is_empty() && !subscribed {
                        subscribed = true;
                        backoff.reset();
                        if let Some(books) = books.as_mut() {
                            books.subscribed();
                        }
                        self.metrics.connections_up.inc();
                        tracing::info!(feed = %self.feed(), streams = self.subscriptions.len(), "Subscribed.");
                        if let Some(interruption) = interruption.take() {
                            if self
                                .emit_gaps(&interruption, last_seen, received_time_ms)
                                .await
                                .is_err()
                            {
                                return SessionEnd::Shutdown;
                            }
                        }
                        // Data that arrived before the last confirmation follows the gaps.
                        let early = std::mem::take(&mut held);
                        if self
                            .deliver(early, subscribed, &mut held, last_seen)
                            .await
                            .is_err()
                        {
                            return SessionEnd::Shutdown;
                        }
                    }
                }
                Ok(Inbound::Rejected { request_id, reason }) => {
                    // A refused subscription is a configuration problem the venue will not
                    // change its mind about quickly; back off and retry so it is visible.
                    self.mark_down(subscribed);
                    return lost(
                        GapReason::Disconnect,
                        format!("request {request_id:?} refused: {reason}"),
                    );
                }
                Ok(Inbound::Ignored) => {
                    self.metrics.frames_ignored.inc();
                }
                Err(error) => {
                    self.metrics.parse_errors.inc();
                    tracing::warn!(feed = %self.feed(), %error, "Unparseable frame kept on the dead-letter stream.");
                    let dead_letter = Outgoing::DeadLetter {
                        feed: self.feed(),
                        frame: text.as_str().to_owned(),
                        reason: error.to_string(),
                    };
                    if self.sender.send(dead_letter).await.is_err() {
                        return SessionEnd::Shutdown;
                    }
                }
            }
        }
    }

    /// Publishes events once the session is subscribed (noting the venue time of the last
    /// event per symbol, where a later gap starts); holds them until then.
    async fn deliver(
        &self,
        events: Vec<Event>,
        subscribed: bool,
        held: &mut Vec<Event>,
        last_seen: &mut HashMap<Symbol, i64>,
    ) -> Result<(), mpsc::error::SendError<Outgoing>> {
        if !subscribed {
            held.extend(events);
            return Ok(());
        }
        for event in events {
            if !self.symbols.contains(event.symbol()) {
                self.metrics.events_unsubscribed.inc();
                continue;
            }
            if let Some(time_ms) = event.exchange_time_ms() {
                last_seen.insert(event.symbol().clone(), time_ms);
            }
            self.sender.send(Outgoing::Event(event)).await?;
        }
        Ok(())
    }

    fn mark_down(&self, subscribed: bool) {
        if subscribed {
            self.metrics.connections_up.dec();
        }
    }

    /// One gap per subscribed symbol, from the last event seen for it (or the moment of the
    /// interruption) to the confirmation of the new subscription.
    async fn emit_gaps(
        &self,
        interruption: &Interruption,
        last_seen: &HashMap<Symbol, i64>,
        confirmed_ms: i64,
    ) -> Result<(), mpsc::error::SendError<Outgoing>> {
        let mut symbols: Vec<&Symbol> = self
            .subscriptions
            .iter()
            .map(|subscription| &subscription.symbol)
            .collect();
        symbols.sort();
        symbols.dedup();
        for symbol in symbols {
            let from_ms = last_seen.get(symbol).copied().unwrap_or(interruption.at_ms);
            let gap = Gap {
                exchange: self.protocol.exchange(),
                market_type: self.protocol.market_type(),
                symbol: symbol.clone(),
                from_ms,
                to_ms: confirmed_ms,
                reason: interruption.reason,
                received_time_ms: confirmed_ms,
            };
            tracing::info!(feed = %self.feed(), %symbol, from_ms, to_ms = confirmed_ms, "Gap recorded.");
            self.metrics.gaps.inc();
            self.sender.send(Outgoing::Event(Event::Gap(gap))).await?;
        }
        Ok(())
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
