//! The order books of one connection: sequencing through a [`BookTracker`], fresh snapshots
//! after every break (fetched over REST, or by resubscribing where the venue sends snapshots
//! in the stream), and the events to publish.

use std::collections::HashSet;

use marketprism_book::{BookTracker, BookUpdate, PublishSettings, Tracked};
use marketprism_model::{Event, MarketType, Symbol};
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

/// Books of one connection.
pub(crate) struct Books {
    tracker: BookTracker,
    market_type: MarketType,
    symbols: Vec<Symbol>,
    fetcher: Option<SnapshotFetcher>,
    /// Symbols with a REST snapshot requested and not yet applied.
    pending: HashSet<Symbol>,
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
            market_type: protocol.market_type(),
            symbols,
            fetcher: fetcher(),
            pending: HashSet::new(),
            metrics,
        })
    }

    /// A new session starts: every book must be rebuilt (the session's own gap covers the
    /// interruption).
    pub(crate) fn session_started(&mut self) {
        self.tracker.reset();
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

    /// Applies a streamed book message; returns the events to publish and, after a break,
    /// what the connection must do to obtain a fresh snapshot.
    pub(crate) fn apply(
        &mut self,
        protocol: &dyn VenueProtocol,
        market_type: MarketType,
        symbol: &Symbol,
        update: BookUpdate,
    ) -> (Vec<Event>, Option<Resync>) {
        let tracked = self.tracker.apply(market_type, symbol, update);
        let resync = tracked.progress.as_ref().err().map(|desync| {
            self.metrics.book_desyncs.inc();
            tracing::warn!(%symbol, %desync, "Order book out of sync; rebuilding from a snapshot.");
            if self.fetcher.is_some() {
                self.request_snapshot(symbol.clone());
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
        (self.events(tracked), resync)
    }

    /// The next REST snapshot; never resolves for venues without REST snapshots.
    pub(crate) async fn next_snapshot(&mut self) -> Option<Snapshot> {
        match &mut self.fetcher {
            Some(fetcher) => fetcher.next().await,
            None => std::future::pending().await,
        }
    }

    /// Applies a fetched REST snapshot.
    pub(crate) fn apply_snapshot(&mut self, snapshot: Snapshot) -> Vec<Event> {
        self.pending.remove(&snapshot.symbol);
        let tracked = self
            .tracker
            .apply(self.market_type, &snapshot.symbol, snapshot.update);
        if let Err(desync) = &tracked.progress {
            // The snapshot predates the buffered stream, or the book it built is wrong.
            self.metrics.book_desyncs.inc();
            tracing::warn!(symbol = %snapshot.symbol, %desync, "Snapshot does not bridge the stream; fetching another.");
            self.request_snapshot(snapshot.symbol.clone());
        }
        self.events(tracked)
    }

    fn events(&self, tracked: Tracked) -> Vec<Event> {
        if tracked.gap.is_some() {
            self.metrics.gaps.inc();
        }
        tracked.into_events()
    }
}
