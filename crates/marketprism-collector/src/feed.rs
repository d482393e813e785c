//! One configured feed (`[[venues]]` entry) at run time: its connections and pollers, and,
//! where it discovers instruments, the reading of the venue's instrument list.
//!
//! [`Feed::apply`] takes the instruments the feed is to record and brings the running
//! connections to them: a plan from [`sharding::rebalance`] that moves no instrument, new
//! instruments added to connections with room ([`Change::Add`]) or to new connections, gone
//! ones removed ([`Change::Remove`]), connections left empty closed, and one poller per
//! polled series of each instrument. A discovering feed ([`Feed::discover`]) re-reads the
//! list at its interval, publishes what changed on it ([`Event::Listing`]) and applies the
//! new selection; a list that cannot be read changes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use marketprism_model::{now_ms, Event, Listing, Symbol};
use marketprism_rest::RestClient;
use marketprism_venues::{Poll, Subscription, VenueError, VenueProtocol, WsLimits};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::books::RecoverySettings;
use crate::config::{ConnectionConfig, ShardConfig, VenueConfig};
use crate::connection::{Change, Connection, Gate};
use crate::discovery::{select, Catalog};
use crate::instruments::read_listings;
use crate::metrics::Metrics;
use crate::pollers::Poller;
use crate::publisher::Outgoing;
use crate::resume::FeedStore;
use crate::sharding;

/// What every connection and poller of a feed shares.
pub(crate) struct FeedParts {
    /// The feed's configuration.
    pub(crate) venue: VenueConfig,
    /// The collector's shard of the instruments, if it has one.
    pub(crate) shard: Option<ShardConfig>,
    /// The venue's REST client, its budget shared by the feed's snapshots, polls and lists.
    pub(crate) rest_client: RestClient,
    pub(crate) book_recovery: RecoverySettings,
    pub(crate) book_settings: marketprism_book::PublishSettings,
    pub(crate) connection: ConnectionConfig,
    /// The venue's connection gate, shared per endpoint.
    pub(crate) connect_gate: Gate,
    /// The venue's message gate, where it counts messages per IP.
    pub(crate) message_gate: Option<Gate>,
    pub(crate) sender: mpsc::Sender<Outgoing>,
    pub(crate) metrics: Metrics,
    /// Where connections keep where each instrument stood.
    pub(crate) store: FeedStore,
    /// Where connections and pollers run.
    pub(crate) tasks: TaskTracker,
    /// Stops every connection and poller of the collector.
    pub(crate) reading: CancellationToken,
}

/// Why a selection cannot be applied; the running connections stay as they were.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// The venue does not offer a configured channel for an instrument.
    #[error(transparent)]
    Venue(#[from] VenueError),
    /// The instruments do not fit the venue's limits.
    #[error(transparent)]
    Plan(#[from] sharding::PlanError),
}

/// A running connection of the feed.
struct Running {
    symbols: BTreeSet<Symbol>,
    changes: mpsc::UnboundedSender<Change>,
    stop: CancellationToken,
}

/// A feed at run time.
pub(crate) struct Feed {
    parts: FeedParts,
    protocol: Arc<dyn VenueProtocol>,
    limits: WsLimits,
    /// The configured symbols, normalized.
    explicit: Vec<Symbol>,
    connections: Vec<Running>,
    /// One stop token per polled series.
    pollers: HashMap<(Symbol, usize), CancellationToken>,
    /// The venue's list as last read, for a feed that reads it.
    catalog: Option<Catalog>,
}

impl Feed {
    /// A feed with nothing running yet.
    pub(crate) fn new(parts: FeedParts) -> Result<Self, VenueError> {
        let explicit = parts.venue.normalized_symbols()?;
        let protocol = parts.venue.venue.protocol(&explicit);
        let limits = protocol.ws_limits();
        Ok(Feed {
            parts,
            protocol,
            limits,
            explicit,
            connections: Vec::new(),
            pollers: HashMap::new(),
            catalog: None,
        })
    }

    /// `binance.spot`, for logs.
    pub(crate) fn name(&self) -> String {
        format!(
            "{}.{}",
            self.protocol.exchange(),
            self.protocol.market_type()
        )
    }

    /// Reads the venue's instrument list and publishes what changed on it; false when it
    /// could not be read (logged), which leaves the catalog as it was.
    pub(crate) async fn read_list(&mut self) -> bool {
        let read = read_listings(
            self.protocol.as_ref(),
            self.parts.venue.rest_endpoint(),
            &self.parts.rest_client,
        )
        .await;
        let listings = match read {
            Ok(listings) => listings,
            Err(reason) => {
                tracing::warn!(feed = %self.name(), %reason, "The venue's instrument list could not be read; the instruments stay as they are.");
                return false;
            }
        };
        let changed = self
            .catalog
            .get_or_insert_with(Catalog::default)
            .update(listings, now_ms());
        if !changed.is_empty() {
            tracing::info!(feed = %self.name(), changed = changed.len(), "Instrument list changed.");
        }
        self.publish(changed).await;
        true
    }

    /// Publishes listings; nothing when the collector is stopping.
    async fn publish(&self, listings: Vec<Listing>) {
        for listing in listings {
            if self
                .parts
                .sender
                .send(Outgoing::Event(Event::Listing(listing)))
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// The instruments the feed records now. Configured symbols the list does not hold are
    /// left out, each logged and counted once.
    pub(crate) fn selection(&self, warned: &mut HashSet<Symbol>) -> BTreeSet<Symbol> {
        let rules = self
            .parts
            .venue
            .discover
            .as_ref()
            .map(|discover| discover.select.as_slice())
            .unwrap_or_default();
        let selected = select(
            self.parts.venue.venue,
            self.catalog.as_ref(),
            &self.explicit,
            |symbol| self.protocol.in_instrument_list(symbol),
            rules,
            self.parts.shard,
            now_ms(),
        );
        for symbol in &self.explicit {
            let in_shard = self
                .parts
                .shard
                .is_none_or(|shard| shard.holds(self.parts.venue.venue, symbol));
            if in_shard
                && self.protocol.in_instrument_list(symbol)
                && !selected.contains(symbol)
                && warned.insert(symbol.clone())
            {
                tracing::error!(feed = %self.name(), %symbol, "The venue does not list the symbol; it is left out until it does. Remove it from the configuration.");
                self.parts.metrics.symbols_refused.inc();
            }
        }
        selected
    }

    /// Brings connections and pollers to `selected`.
    pub(crate) fn apply(&mut self, selected: &BTreeSet<Symbol>) -> Result<(), ApplyError> {
        let symbols: Vec<Symbol> = selected.iter().cloned().collect();
        let subscriptions = self.parts.venue.subscriptions_of(&symbols);
        let instruments = sharding::instruments(self.protocol.as_ref(), &subscriptions)?;
        let current: Vec<Vec<Symbol>> = self
            .connections
            .iter()
            .map(|running| running.symbols.iter().cloned().collect())
            .collect();
        let consolidate = self.connections.is_empty();
        let plan = sharding::rebalance(&current, &instruments, &self.limits, consolidate)?;

        // Instruments never move, so a planned connection holding any instrument of a
        // running one is that connection.
        let mut planned: Vec<BTreeSet<Symbol>> = plan
            .into_iter()
            .map(|symbols| symbols.into_iter().collect())
            .collect();
        let mut kept = Vec::with_capacity(self.connections.len());
        for mut running in std::mem::take(&mut self.connections) {
            let Some(index) = planned
                .iter()
                .position(|symbols| !symbols.is_disjoint(&running.symbols))
            else {
                tracing::info!(feed = %self.name(), "Closing a connection left without instruments.");
                running.stop.cancel();
                self.parts.metrics.connections_planned.dec();
                continue;
            };
            let symbols = planned.swap_remove(index);
            let removed: Vec<Symbol> = running.symbols.difference(&symbols).cloned().collect();
            let added: Vec<Symbol> = symbols.difference(&running.symbols).cloned().collect();
            // A send fails only when the connection already stopped, with the collector.
            if !removed.is_empty() {
                let _ = running.changes.send(Change::Remove(removed));
            }
            if !added.is_empty() {
                let _ = running
                    .changes
                    .send(Change::Add(self.parts.venue.subscriptions_of(&added)));
            }
            running.symbols = symbols;
            kept.push(running);
        }
        self.connections = kept;
        for symbols in planned {
            self.open(symbols, &subscriptions);
        }
        self.apply_polls(&symbols);
        Ok(())
    }

    /// Opens a connection carrying `symbols`, with their subscriptions among `subscriptions`.
    fn open(&mut self, symbols: BTreeSet<Symbol>, subscriptions: &[Subscription]) {
        let parts = &self.parts;
        let connection = Connection {
            // A protocol of its own: some keep state per connection (Coinbase Advanced
            // Trade numbers every message of a connection).
            protocol: parts
                .venue
                .venue
                .protocol(&symbols.iter().cloned().collect::<Vec<_>>()),
            endpoint: parts.venue.endpoint().to_owned(),
            rest_endpoint: parts.venue.rest_endpoint().to_owned(),
            rest_client: parts.rest_client.clone(),
            subscriptions: subscriptions
                .iter()
                .filter(|subscription| symbols.contains(&subscription.symbol))
                .cloned()
                .collect(),
            book_settings: parts.book_settings,
            book_recovery: parts.book_recovery,
            settings: parts.connection.clone(),
            limits: self.limits,
            connect_gate: parts.connect_gate.clone(),
            message_gate: parts.message_gate.clone(),
            sender: parts.sender.clone(),
            metrics: parts.metrics.clone(),
            store: parts.store.clone(),
        };
        let (changes, receiver) = mpsc::unbounded_channel();
        let stop = parts.reading.child_token();
        parts.tasks.spawn(connection.run(receiver, stop.clone()));
        parts.metrics.connections_planned.inc();
        self.connections.push(Running {
            symbols,
            changes,
            stop,
        });
    }

    /// Runs one poller per polled series of `symbols`, and stops those of other instruments.
    fn apply_polls(&mut self, symbols: &[Symbol]) {
        let wanted: HashSet<(Symbol, usize)> = symbols
            .iter()
            .flat_map(|symbol| {
                (0..self.parts.venue.polls.len()).map(move |index| (symbol.clone(), index))
            })
            .collect();
        self.pollers.retain(|series, stop| {
            let keep = wanted.contains(series);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for (symbol, index) in wanted {
            if self.pollers.contains_key(&(symbol.clone(), index)) {
                continue;
            }
            let config = &self.parts.venue.polls[index];
            let poller = Poller {
                protocol: self.protocol.clone(),
                rest_endpoint: self.parts.venue.rest_endpoint().to_owned(),
                poll: Poll {
                    kind: config.data,
                    symbol: symbol.clone(),
                    period: config.period.clone(),
                },
                every: config.interval,
                sender: self.parts.sender.clone(),
                metrics: self.parts.metrics.clone(),
            };
            let stop = self.parts.reading.child_token();
            self.parts
                .tasks
                .spawn(poller.run(self.parts.rest_client.clone(), stop.clone()));
            self.pollers.insert((symbol, index), stop);
        }
    }

    /// Re-reads the list every `interval` and applies the selection, until the collector
    /// stops (also while a read waits for the venue's budget).
    pub(crate) async fn discover(mut self, interval: Duration, mut warned: HashSet<Symbol>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let reading = self.parts.reading.clone();
        loop {
            tokio::select! {
                () = reading.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let read = tokio::select! {
                () = reading.cancelled() => return,
                read = self.read_list() => read,
            };
            if !read {
                continue;
            }
            let selected = self.selection(&mut warned);
            if let Err(error) = self.apply(&selected) {
                tracing::error!(feed = %self.name(), %error, "The selected instruments cannot be recorded; the connections stay as they are.");
            }
        }
    }

    /// How often a discovering feed re-reads the venue's list; `None` for a feed of
    /// configured symbols only.
    pub(crate) fn discover_interval(&self) -> Option<Duration> {
        self.parts
            .venue
            .discover
            .as_ref()
            .map(|discover| discover.interval)
    }

    /// How many connections the feed runs.
    pub(crate) fn connection_count(&self) -> usize {
        self.connections.len()
    }
}
