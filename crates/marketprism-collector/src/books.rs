//! The order books of one connection: sequencing through a [`BookTracker`], fresh snapshots
//! after every break (fetched over REST, or by resubscribing where the venue sends snapshots
//! in the stream), and the events to publish.
//!
//! A REST snapshot that does not bridge the stream is fetched again after a capped, jittered
//! delay growing per failed snapshot ([`Backoff`]), reset once the book syncs: a venue whose
//! snapshots keep predating the stream sees a few requests per break, not a storm.
//!
//! A book out of sync for longer than `unsynced_after` gets a `book_unsynced` gap (see
//! [`marketprism_model::GapReason::BookUnsynced`]): recorded open from when the book lost
//! sync to when the threshold was crossed, and closed when the book syncs again, together
//! with a closed gap from the loss to the sync.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use marketprism_book::{BookTracker, BookUpdate, Progress, PublishSettings, Tracked};
use marketprism_bus::Backoff;
use marketprism_model::{Event, Exchange, Gap, GapReason, GapState, GapStatus, MarketType, Symbol};
use marketprism_venues::{Channel, Subscription, VenueProtocol};

use crate::metrics::Metrics;
use crate::snapshots::{Snapshot, SnapshotFetcher};

/// What the connection must do for a book that fell out of sync.
pub(crate) enum Resync {
    /// Nothing: a REST snapshot has been requested.
    Requested,
    /// Send these frames: the venue answers a new subscription with a snapshot.
    Resubscribe(Vec<String>),
}

/// How books recover.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecoverySettings {
    /// First delay before another REST snapshot after one that did not bridge.
    pub(crate) retry_initial: Duration,
    /// Longest such delay.
    pub(crate) retry_max: Duration,
    /// A book out of sync this long gets a `book_unsynced` gap.
    pub(crate) unsynced_after: Duration,
}

/// A book that is not in sync.
struct Unsynced {
    /// Local time the book lost sync (or its session started), Unix ms.
    since_ms: i64,
    /// The `book_unsynced` gap recorded open, once the book stayed out of sync long enough.
    open: Option<Gap>,
}

/// Books of one connection.
pub(crate) struct Books {
    tracker: BookTracker,
    exchange: Exchange,
    market_type: MarketType,
    symbols: Vec<Symbol>,
    fetcher: Option<SnapshotFetcher>,
    /// Symbols with a REST snapshot requested and not yet applied.
    pending: HashSet<Symbol>,
    /// Books added to a subscribed session whose REST snapshot waits for their first
    /// streamed update: one fetched before the stream starts would not bridge it.
    awaiting_stream: HashSet<Symbol>,
    /// Delays between REST snapshots that do not bridge, per symbol.
    retries: HashMap<Symbol, Backoff>,
    /// Books out of sync, since when.
    unsynced: HashMap<Symbol, Unsynced>,
    recovery: RecoverySettings,
    metrics: Metrics,
}

impl Books {
    /// Books for the order-book subscriptions among `subscriptions`; `None` when there are
    /// none. `fetcher` starts the REST snapshot fetcher (for venues whose books start from
    /// one); it is called only when there are books.
    pub(crate) fn new(
        protocol: &dyn VenueProtocol,
        subscriptions: &[Subscription],
        settings: PublishSettings,
        recovery: RecoverySettings,
        fetcher: impl FnOnce() -> Option<SnapshotFetcher>,
        metrics: Metrics,
    ) -> Option<Self> {
        let symbols: Vec<Symbol> = subscriptions
            .iter()
            .filter(|subscription| subscription.channel == Channel::OrderBook)
            .map(|subscription| subscription.symbol.clone())
            .collect();
        if symbols.is_empty() {
            return None;
        }
        Some(Books {
            tracker: BookTracker::new(protocol.exchange(), protocol.sync_rule(), settings),
            exchange: protocol.exchange(),
            market_type: protocol.market_type(),
            symbols,
            fetcher: fetcher(),
            pending: HashSet::new(),
            awaiting_stream: HashSet::new(),
            retries: HashMap::new(),
            unsynced: HashMap::new(),
            recovery,
            metrics,
        })
    }

    /// Starts keeping `symbol`'s book, newly subscribed at `now_ms`: it is out of sync until
    /// its first snapshot. In a `subscribed` session, REST venues fetch it once the book's
    /// first update arrives; otherwise with every book when the session is subscribed.
    pub(crate) fn add_symbol(&mut self, symbol: Symbol, now_ms: i64, subscribed: bool) {
        if self.symbols.contains(&symbol) {
            return;
        }
        self.symbols.push(symbol.clone());
        self.lost_sync(&symbol, now_ms);
        if subscribed {
            self.awaiting_stream.insert(symbol);
        }
    }

    /// Forgets `symbol`'s book: the venue refused it, so it will never sync, or the
    /// connection no longer carries it.
    pub(crate) fn drop_symbol(&mut self, symbol: &Symbol) {
        self.tracker.forget(self.market_type, symbol);
        self.awaiting_stream.remove(symbol);
        self.symbols.retain(|kept| kept != symbol);
        self.pending.remove(symbol);
        self.retries.remove(symbol);
        self.unsynced.remove(symbol);
    }

    /// A new session starts: every book must be rebuilt (the session's own gap covers the
    /// interruption).
    pub(crate) fn session_started(&mut self, now_ms: i64) {
        self.tracker.reset();
        self.awaiting_stream.clear();
        for symbol in self.symbols.clone() {
            self.lost_sync(&symbol, now_ms);
        }
    }

    /// Notes that `symbol`'s book is out of sync from `now_ms`, unless it already was.
    fn lost_sync(&mut self, symbol: &Symbol, now_ms: i64) {
        self.unsynced.entry(symbol.clone()).or_insert(Unsynced {
            since_ms: now_ms,
            open: None,
        });
    }

    /// The `book_unsynced` gaps of books out of sync for longer than the configured time at
    /// `now_ms`, recorded open; each book gets one until it syncs.
    pub(crate) fn check_unsynced(&mut self, now_ms: i64) -> Vec<Event> {
        let threshold_ms =
            i64::try_from(self.recovery.unsynced_after.as_millis()).unwrap_or(i64::MAX);
        let mut events = Vec::new();
        for (symbol, unsynced) in &mut self.unsynced {
            if unsynced.open.is_some() || now_ms - unsynced.since_ms < threshold_ms {
                continue;
            }
            tracing::warn!(%symbol, since_ms = unsynced.since_ms, "Order book still out of sync; recording a book_unsynced gap.");
            let gap = Gap {
                exchange: self.exchange,
                market_type: self.market_type,
                symbol: symbol.clone(),
                from_ms: unsynced.since_ms,
                to_ms: now_ms,
                reason: GapReason::BookUnsynced,
                received_time_ms: now_ms,
                missing_ids: None,
                state: GapState::of(GapStatus::Open),
                collector: None,
            };
            unsynced.open = Some(gap.clone());
            self.metrics.gaps.inc();
            events.push(Event::Gap(gap));
        }
        events
    }

    /// After `tracked` was applied at `now_ms`: when it synced `symbol`'s book, the snapshot
    /// backoff starts over, and an open `book_unsynced` gap is closed, followed by a closed
    /// gap from the loss of sync to now.
    ///
    /// Only a streamed update (`streamed`) proves a book in sync: a REST snapshot applied
    /// before the stream it must bridge has arrived can still turn out too old, and the
    /// book stays out of sync (its backoff and unsynced time running on) until an update
    /// follows it in sequence.
    fn note_progress(
        &mut self,
        symbol: &Symbol,
        tracked: &Tracked,
        now_ms: i64,
        streamed: bool,
    ) -> Vec<Event> {
        match &tracked.progress {
            Ok(Progress::Applied | Progress::Recovered(_)) if streamed => {}
            Err(_) => {
                self.lost_sync(symbol, now_ms);
                return Vec::new();
            }
            Ok(_) => return Vec::new(),
        }
        if self.unsynced.is_empty() {
            return Vec::new();
        }
        let Some(unsynced) = self.unsynced.remove(symbol) else {
            return Vec::new();
        };
        self.retries.remove(symbol);
        let Some(open) = unsynced.open else {
            return Vec::new();
        };
        tracing::info!(%symbol, since_ms = unsynced.since_ms, "Order book in sync again; closing its book_unsynced gap.");
        let closed = |to_ms| Gap {
            to_ms,
            received_time_ms: now_ms,
            state: GapState::of(GapStatus::Closed),
            ..open.clone()
        };
        let mut events = vec![Event::Gap(closed(open.to_ms))];
        if now_ms > open.to_ms {
            self.metrics.gaps.inc();
            events.push(Event::Gap(closed(now_ms)));
        }
        events
    }

    /// The session is subscribed: REST venues fetch a snapshot of every book now that the
    /// stream is being buffered.
    pub(crate) fn subscribed(&mut self) {
        for symbol in self.symbols.clone() {
            self.request_snapshot(symbol);
        }
    }

    fn request_snapshot(&mut self, symbol: Symbol) {
        if let Some(fetcher) = &self.fetcher {
            if self.pending.insert(symbol.clone()) {
                self.metrics.book_snapshots_requested.inc();
                fetcher.request(symbol);
            }
        }
    }

    /// Requests another snapshot of `symbol` after the next delay of its backoff.
    fn retry_snapshot(&mut self, symbol: Symbol) {
        let Some(fetcher) = &self.fetcher else {
            return;
        };
        if !self.pending.insert(symbol.clone()) {
            return;
        }
        let recovery = self.recovery;
        let delay = self
            .retries
            .entry(symbol.clone())
            .or_insert_with(|| Backoff::new(recovery.retry_initial, recovery.retry_max))
            .next_delay();
        self.metrics.book_snapshots_requested.inc();
        self.metrics.book_snapshot_retries.inc();
        tracing::warn!(%symbol, ?delay, "Snapshot does not bridge the stream; fetching another after a delay.");
        fetcher.request_after(symbol, delay);
    }

    /// Applies a streamed book message; returns the events to publish and, after a break,
    /// what the connection must do to obtain a fresh snapshot.
    pub(crate) fn apply(
        &mut self,
        protocol: &dyn VenueProtocol,
        market_type: MarketType,
        symbol: &Symbol,
        update: BookUpdate,
    ) -> (Vec<Event>, Option<Resync>) {
        let now_ms = update.received_time_ms;
        if self.awaiting_stream.remove(symbol) {
            self.request_snapshot(symbol.clone());
        }
        // A book not yet in sync that fails now failed to bridge its latest snapshot: the
        // next one waits for the backoff. A synced book that breaks is rebuilt at once.
        let was_unsynced = self.unsynced.contains_key(symbol);
        let tracked = self.tracker.apply(market_type, symbol, update);
        let recovery_events = self.note_progress(symbol, &tracked, now_ms, true);
        let resync = tracked.progress.as_ref().err().map(|desync| {
            self.metrics.book_desyncs.inc();
            tracing::warn!(%symbol, %desync, "Order book out of sync; rebuilding from a snapshot.");
            if self.fetcher.is_some() {
                if was_unsynced {
                    self.retry_snapshot(symbol.clone());
                } else {
                    self.request_snapshot(symbol.clone());
                }
                Resync::Requested
            } else {
                self.metrics.book_snapshots_requested.inc();
                let subscription = Subscription {
                    channel: Channel::OrderBook,
                    symbol: symbol.clone(),
                };
                match protocol.resubscribe_frames(&subscription) {
                    Ok(frames) => Resync::Resubscribe(frames),
                    Err(error) => {
                        tracing::error!(%symbol, %error, "Cannot resubscribe the order book.");
                        Resync::Requested
                    }
                }
            }
        });
        (self.events(tracked, recovery_events), resync)
    }

    /// The next REST snapshot; never resolves for venues without REST snapshots.
    pub(crate) async fn next_snapshot(&mut self) -> Option<Snapshot> {
        match &mut self.fetcher {
            Some(fetcher) => fetcher.next().await,
            None => std::future::pending().await,
        }
    }

    /// Applies a fetched REST snapshot; one of a book no longer kept is dropped.
    pub(crate) fn apply_snapshot(&mut self, snapshot: Snapshot) -> Vec<Event> {
        self.pending.remove(&snapshot.symbol);
        if !self.symbols.contains(&snapshot.symbol) {
            return Vec::new();
        }
        let now_ms = snapshot.update.received_time_ms;
        let tracked = self
            .tracker
            .apply(self.market_type, &snapshot.symbol, snapshot.update);
        let recovery_events = self.note_progress(&snapshot.symbol, &tracked, now_ms, false);
        if let Err(desync) = &tracked.progress {
            // The snapshot predates the buffered stream, or the book it built is wrong.
            self.metrics.book_desyncs.inc();
            tracing::debug!(symbol = %snapshot.symbol, %desync, "Snapshot rejected.");
            self.retry_snapshot(snapshot.symbol.clone());
        }
        self.events(tracked, recovery_events)
    }

    /// The events of `tracked`, then those of the book's recovery (the closed
    /// `book_unsynced` gaps after the tracker's own gap).
    fn events(&self, tracked: Tracked, recovery_events: Vec<Event>) -> Vec<Event> {
        if tracked.gap.is_some() {
            self.metrics.gaps.inc();
        }
        let mut events = tracked.into_events();
        if !recovery_events.is_empty() {
            // Gaps precede the data that follows them.
            let data = events.split_off(
                events
                    .iter()
                    .take_while(|event| matches!(event, Event::Gap(_)))
                    .count(),
            );
            events.extend(recovery_events);
            events.extend(data);
        }
        events
    }
}
