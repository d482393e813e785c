//! Collector configuration, one TOML file.
//!
//! ```toml
//! listen = "127.0.0.1:9101"
//!
//! [nats]
//! url = "nats://127.0.0.1:4222"
//!
//! [[venues]]
//! venue = "binance_spot"
//! symbols = ["BTC-USDT", "ethusdt"]
//! channels = ["trades", "orderbook"]
//!
//! [books]
//! depth = 50
//! interval = "100ms"
//! ```
//!
//! A feed may also choose its instruments from the venue's list, re-read at an interval;
//! an instrument matching any rule is recorded, from its listing to its delisting or expiry:
//!
//! ```toml
//! [[venues]]
//! venue = "binance_usdm"
//! channels = ["trades", "orderbook"]
//! discover = { interval = "5m", select = [{ quote = "USDT" }] }
//!
//! [[venues]]
//! venue = "deribit_options"
//! channels = ["trades"]
//! discover = { select = [{ base = "BTC", expires_within = "7d" }] }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use marketprism_book::PublishSettings;
use marketprism_model::{Listing, OptionKind, Symbol};
use marketprism_venues::{
    Channel, Poll, PollKind, Subscription, VenueError, VenueKind, VenueProtocol,
};
use serde::{Deserialize, Serialize};

/// The collector's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This collector's name among the collectors recording the same feeds, e.g.
    /// `collector-a`: its gaps carry it, and its feed state is kept under it. Name every
    /// collector when several record one feed; one alone may stay unnamed.
    #[serde(default)]
    pub name: Option<String>,
    /// The share of the configured symbols this collector records, when the feeds are split
    /// across collectors; absent: all of them.
    #[serde(default)]
    pub shard: Option<ShardConfig>,
    /// NATS and stream settings.
    #[serde(default)]
    pub nats: marketprism_bus::Config,
    /// Venue feeds to record.
    pub venues: Vec<VenueConfig>,
    /// Reconnect and watchdog settings, shared by every connection.
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// JetStream publishing.
    #[serde(default)]
    pub publish: PublishConfig,
    /// Order-book publication.
    #[serde(default)]
    pub books: BooksConfig,
    /// REST requests to venues (book snapshots, polls).
    #[serde(default)]
    pub rest: RestConfig,
    /// Address of `/health`, `/ready` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9101))
}

/// One of `count` shards of the configured instruments. Every instrument belongs to exactly
/// one shard, by a hash of its venue, market and symbol that never changes, so collectors
/// given the same venues and symbols with shards `0` to `count - 1` record each instrument
/// once between them, and two collectors given the same shard (and their own `name`s) both
/// record it: active-active per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// This collector's shard, from 0.
    pub index: u32,
    /// How many shards the instruments are split into.
    pub count: u32,
}

impl ShardConfig {
    /// True when `symbol` of `venue` belongs to this shard: the CRC-32 of
    /// `<exchange>.<market>.<symbol>`, modulo `count`, is `index`.
    pub fn holds(&self, venue: VenueKind, symbol: &Symbol) -> bool {
        let instrument = format!(
            "{}.{}.{symbol}",
            venue.exchange().as_str(),
            venue.market_type().as_str()
        );
        crc32fast::hash(instrument.as_bytes()) % self.count.max(1) == self.index
    }
}

/// One venue feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Which venue and market.
    pub venue: VenueKind,
    /// WebSocket endpoint (scheme, host, port); the venue's production endpoint by default.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// REST endpoint (scheme, host, port) for book snapshots of venues that need one; the
    /// venue's production endpoint by default.
    #[serde(default)]
    pub rest_endpoint: Option<String>,
    /// Instruments, normalized (`BTC-USDT`) or venue-native (`btcusdt`); may be empty when
    /// [`Self::discover`] selects them.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Instruments chosen from the venue's instrument list as it changes, besides
    /// [`Self::symbols`].
    #[serde(default)]
    pub discover: Option<DiscoverConfig>,
    /// Channels to subscribe for every symbol.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// REST series to poll for every symbol.
    #[serde(default)]
    pub polls: Vec<PollConfig>,
}

fn default_discover_interval() -> Duration {
    Duration::from_secs(300)
}

/// Instruments chosen from the venue's instrument list: the list is read at start and every
/// `interval`; instruments that join it and match a rule are subscribed, those that leave it
/// (or expire) are unsubscribed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverConfig {
    /// How often the list is read, e.g. `5m`. Each read costs the venue's instrument-list
    /// request weight.
    #[serde(default = "default_discover_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// An instrument of the feed's market matching any rule is recorded.
    pub select: Vec<SelectRule>,
}

/// Which listed instruments to record: every field given must match (an empty rule matches
/// every instrument of the feed's market). Assets compare without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectRule {
    /// Base asset, e.g. `BTC`.
    #[serde(default)]
    pub base: Option<String>,
    /// Quote asset, e.g. `USDT`.
    #[serde(default)]
    pub quote: Option<String>,
    /// Settlement asset of derivatives, e.g. `USDC`.
    #[serde(default)]
    pub settle: Option<String>,
    /// Only futures and options expiring within this long, e.g. `7d`; as time passes, later
    /// expiries come within it, so the selection rolls.
    #[serde(default, with = "humantime_serde")]
    pub expires_within: Option<Duration>,
    /// Only calls or only puts.
    #[serde(default)]
    pub option_kind: Option<OptionKind>,
}

impl SelectRule {
    /// Whether `listing` matches at `now_ms`.
    pub fn matches(&self, listing: &Listing, now_ms: i64) -> bool {
        let same = |wanted: &Option<String>, asset: Option<&str>| {
            wanted
                .as_ref()
                .is_none_or(|wanted| asset.is_some_and(|asset| wanted.eq_ignore_ascii_case(asset)))
        };
        let expires_in_time = self.expires_within.is_none_or(|within| {
            let within_ms = i64::try_from(within.as_millis()).unwrap_or(i64::MAX);
            listing
                .expiry_ms
                .is_some_and(|expiry_ms| expiry_ms.saturating_sub(now_ms) <= within_ms)
        });
        same(&self.base, Some(&listing.base))
            && same(&self.quote, Some(&listing.quote))
            && same(&self.settle, listing.settle.as_deref())
            && expires_in_time
            && self
                .option_kind
                .is_none_or(|kind| listing.option_kind == Some(kind))
    }
}

fn default_period() -> String {
    "5m".into()
}

/// One REST series polled for every symbol of the venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// What to poll.
    pub data: PollKind,
    /// How often, e.g. `60s`; a request never starts before the previous one finished.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Statistics period of long/short ratios (`5m`, `15m`, `30m`, `1h`, `4h`, `1d`).
    #[serde(default = "default_period")]
    pub period: String,
}

impl VenueConfig {
    /// The endpoint to connect to.
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or(self.venue.default_endpoint())
    }

    /// The REST endpoint for book snapshots and polls.
    pub fn rest_endpoint(&self) -> &str {
        self.rest_endpoint
            .as_deref()
            .unwrap_or(self.venue.default_rest_endpoint())
    }

    /// The venue's protocol for the configured symbols.
    pub fn protocol(&self) -> Result<Arc<dyn VenueProtocol>, VenueError> {
        Ok(self.venue.protocol(&self.normalized_symbols()?))
    }

    /// Checks that the venue offers every configured channel and polled series, for the
    /// configured symbols, or an instrument of the market when they are to be discovered.
    fn check_offered(&self) -> Result<(), VenueError> {
        let protocol = self.protocol()?;
        let mut symbols = self.normalized_symbols()?;
        if symbols.is_empty() {
            symbols.push(self.venue.parse_symbol(self.venue.example_symbol())?);
        }
        protocol.subscribe_requests(&self.subscriptions_of(&symbols))?;
        for (poll, _) in self.polls_of(&symbols) {
            protocol.poll_url(self.rest_endpoint(), &poll, 0)?;
        }
        Ok(())
    }

    /// Every (poll, symbol) series of the configured symbols.
    pub fn polls(&self) -> Result<Vec<(Poll, Duration)>, VenueError> {
        Ok(self.polls_of(&self.normalized_symbols()?))
    }

    /// Every (poll, symbol) series of `symbols`.
    pub fn polls_of(&self, symbols: &[Symbol]) -> Vec<(Poll, Duration)> {
        self.polls
            .iter()
            .flat_map(|config| {
                symbols.iter().map(move |symbol| {
                    (
                        Poll {
                            kind: config.data,
                            symbol: symbol.clone(),
                            period: config.period.clone(),
                        },
                        config.interval,
                    )
                })
            })
            .collect()
    }

    /// The configured symbols, normalized.
    pub fn normalized_symbols(&self) -> Result<Vec<Symbol>, VenueError> {
        self.symbols
            .iter()
            .map(|text| self.venue.parse_symbol(text))
            .collect()
    }

    /// Every (channel, symbol) pair of the configured symbols.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, VenueError> {
        Ok(self.subscriptions_of(&self.normalized_symbols()?))
    }

    /// Every (channel, symbol) pair of `symbols`.
    pub fn subscriptions_of(&self, symbols: &[Symbol]) -> Vec<Subscription> {
        self.channels
            .iter()
            .flat_map(|&channel| {
                symbols.iter().map(move |symbol| Subscription {
                    channel,
                    symbol: symbol.clone(),
                })
            })
            .collect()
    }
}

fn default_backoff_initial() -> Duration {
    Duration::from_millis(250)
}

fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}

fn default_watchdog() -> Duration {
    Duration::from_secs(30)
}

fn default_subscribe_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Reconnect and liveness settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// First reconnect delay, e.g. `250ms`; doubles per failed attempt.
    #[serde(default = "default_backoff_initial", with = "humantime_serde")]
    pub backoff_initial: Duration,
    /// Longest reconnect delay, e.g. `30s`.
    #[serde(default = "default_backoff_max", with = "humantime_serde")]
    pub backoff_max: Duration,
    /// A connection silent for this long (no frame, not even a ping) is replaced, e.g. `30s`.
    #[serde(default = "default_watchdog", with = "humantime_serde")]
    pub watchdog: Duration,
    /// How long to wait for connect plus subscription replies, e.g. `10s`; also bounds each
    /// REST request once sent (not its wait for the venue's budget).
    #[serde(default = "default_subscribe_timeout", with = "humantime_serde")]
    pub subscribe_timeout: Duration,
    /// How often each feed saves where it is (last event time, trade counters, book update
    /// id) to the feed-state bucket, e.g. `1s`. After a SIGKILL, the restart gap starts at
    /// most this much before the last event really seen.
    #[serde(default = "default_persist_interval", with = "humantime_serde")]
    pub persist_interval: Duration,
    /// At shutdown, how long a connection keeps reading what its socket still delivers after
    /// closing it, e.g. `2s`.
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            backoff_initial: default_backoff_initial(),
            backoff_max: default_backoff_max(),
            watchdog: default_watchdog(),
            subscribe_timeout: default_subscribe_timeout(),
            persist_interval: default_persist_interval(),
            drain_timeout: default_drain_timeout(),
        }
    }
}

fn default_persist_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_max_outstanding_acks() -> usize {
    4096
}

fn default_queue_capacity() -> usize {
    16_384
}

fn default_max_events_per_message() -> usize {
    256
}

fn default_window() -> Duration {
    Duration::from_millis(10)
}

fn default_linger() -> Duration {
    Duration::from_millis(5)
}

/// Well below NATS' default `max_payload` of 1 MiB.
fn default_max_message_bytes() -> usize {
    128 * 1024
}

/// Three of the client's 5-second ack timeouts: a NATS restart stays within it.
fn default_ack_deadline() -> Duration {
    Duration::from_secs(15)
}

fn default_book_depth() -> usize {
    PublishSettings::default().depth
}

fn default_max_levels() -> usize {
    PublishSettings::default().max_levels
}

/// Order-book publication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooksConfig {
    /// Levels per side in each published book.
    #[serde(default = "default_book_depth")]
    pub depth: usize,
    /// One book per instrument per interval of venue time, e.g. `100ms`: the first update of
    /// each interval, aligned to the Unix epoch so that collectors of one feed publish the
    /// same books; `0s` publishes after every update.
    #[serde(default, with = "humantime_serde")]
    pub interval: Duration,
    /// Levels kept in memory per side and instrument; deeper levels are dropped, and a
    /// snapshot published as an `orderbook_delta` carries the levels kept.
    #[serde(default = "default_max_levels")]
    pub max_levels: usize,
    /// Also publish every sequenced snapshot and delta as `orderbook_delta` events, for
    /// full-depth reconstruction.
    #[serde(default)]
    pub deltas: bool,
    /// First delay before fetching another REST snapshot after one that did not bridge the
    /// stream, e.g. `500ms`; doubles (with jitter) per snapshot that fails to bridge.
    #[serde(default = "default_snapshot_retry_initial", with = "humantime_serde")]
    pub snapshot_retry_initial: Duration,
    /// Longest delay between REST snapshots of a book that does not sync, e.g. `30s`.
    #[serde(default = "default_snapshot_retry_max", with = "humantime_serde")]
    pub snapshot_retry_max: Duration,
    /// A book out of sync for this long gets a `book_unsynced` gap, recorded open and
    /// closed when the book syncs, e.g. `30s`.
    #[serde(default = "default_unsynced_gap_after", with = "humantime_serde")]
    pub unsynced_gap_after: Duration,
}

fn default_snapshot_retry_initial() -> Duration {
    Duration::from_millis(500)
}

fn default_snapshot_retry_max() -> Duration {
    Duration::from_secs(30)
}

fn default_unsynced_gap_after() -> Duration {
    Duration::from_secs(30)
}

/// REST requests to venues. Every request to a venue endpoint (book snapshots, polls) spends
/// one budget built from the venue's published limits (see `marketprism-rest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    /// The share (0 to 1) of each venue limit this collector spends per window, leaving the
    /// rest to other processes on the same IP (a backfill); e.g. `0.5`.
    #[serde(default = "default_budget_share")]
    pub budget_share: f64,
}

fn default_budget_share() -> f64 {
    0.5
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            budget_share: default_budget_share(),
        }
    }
}

impl Default for BooksConfig {
    fn default() -> Self {
        BooksConfig {
            depth: default_book_depth(),
            interval: Duration::ZERO,
            max_levels: default_max_levels(),
            deltas: false,
            snapshot_retry_initial: default_snapshot_retry_initial(),
            snapshot_retry_max: default_snapshot_retry_max(),
            unsynced_gap_after: default_unsynced_gap_after(),
        }
    }
}

impl BooksConfig {
    /// The book tracker's settings.
    pub fn publish_settings(&self) -> PublishSettings {
        PublishSettings {
            depth: self.depth,
            min_interval_ms: i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX),
            max_levels: self.max_levels,
            deltas: self.deltas,
        }
    }
}

/// JetStream publishing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Most publishes awaiting their JetStream ack at once.
    #[serde(default = "default_max_outstanding_acks")]
    pub max_outstanding_acks: usize,
    /// Events buffered between the connections and the publisher.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Most events one message carries: events of one subject queued together are
    /// published together (see `window`); `1` publishes every event alone, as one message
    /// with its own `Nats-Msg-Id`.
    #[serde(default = "default_max_events_per_message")]
    pub max_events_per_message: usize,
    /// A message takes no further events once its body is this large, bytes. Keep it well
    /// below the NATS server's `max_payload` (1 MiB by default).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Events of one subject whose venue times fall in one window of this length (aligned to
    /// the Unix epoch) share a message, e.g. `10ms`. The cut depends only on the venue's data,
    /// so collectors recording the same feed make the same messages and the stream keeps one
    /// copy of each.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// How long a message stays open after its window ended, on the local clock, for events
    /// of the window still on their way, e.g. `5ms`. A quiet feed's event waits at most a
    /// window and this long; collectors that receive a window's events within this of each
    /// other make identical messages.
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    /// Readiness: the collector is not ready while a publish has waited longer than this for
    /// its ack (or NATS has been disconnected that long), e.g. `15s`.
    #[serde(default = "default_ack_deadline", with = "humantime_serde")]
    pub ack_deadline: Duration,
    /// Readiness: the collector is not ready while this many publishes, or more, await their
    /// ack; absent: `max_outstanding_acks`, a full window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outstanding_acks_bound: Option<usize>,
    /// How long JetStream has to acknowledge a message, counted from when it is sent, e.g.
    /// `5s`. A message not acknowledged in time starts an outage: everything unacknowledged
    /// goes to the spool (or stays in memory without one) and is republished together.
    #[serde(default = "default_ack_timeout", with = "humantime_serde")]
    pub ack_timeout: Duration,
    /// At shutdown, how long the publisher keeps waiting for acks once the connections have
    /// stopped, e.g. `10s`; what is still unacknowledged then stays in the spool for the next
    /// start (and is lost without a spool).
    #[serde(default = "default_flush_timeout", with = "humantime_serde")]
    pub flush_timeout: Duration,
    /// The on-disk spool that holds what JetStream does not acknowledge; absent, an outage
    /// holds at most `max_outstanding_acks` messages in memory and then stops the
    /// connections' reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool: Option<SpoolConfig>,
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_flush_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_spool_max_bytes() -> u64 {
    1 << 30
}

fn default_spool_sync_interval() -> Duration {
    Duration::from_secs(1)
}

/// The publisher's on-disk spool (`[publish.spool]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Directory of the spool's segment files, created if missing; one collector per
    /// directory. What it holds at start is republished.
    pub path: PathBuf,
    /// Most bytes of segment files, e.g. `1073741824` (1 GiB).
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
    /// What happens to events that arrive while the spool is full.
    #[serde(default)]
    pub when_full: WhenFull,
    /// How often what was spooled is made durable with `fdatasync`, e.g. `1s`; the page cache
    /// keeps it across a crash of the process in between, not across one of the machine.
    #[serde(default = "default_spool_sync_interval", with = "humantime_serde")]
    pub sync_interval: Duration,
}

/// What the collector does with events that arrive while its spool is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Drop them, and publish a `spool_overflow` gap per instrument covering what was
    /// dropped once there is room again: the connections keep reading.
    #[default]
    Drop,
    /// Stop taking events while less than `publish.max_message_bytes` is free: the
    /// connections back up until the venue drops them, and their reconnect gaps cover the
    /// loss. A message that still does not fit is dropped as with `drop`.
    Block,
}

impl PublishConfig {
    /// The number of publishes awaiting their ack at which the collector is not ready.
    pub fn outstanding_acks_bound(&self) -> usize {
        self.outstanding_acks_bound
            .unwrap_or(self.max_outstanding_acks)
    }
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            max_outstanding_acks: default_max_outstanding_acks(),
            queue_capacity: default_queue_capacity(),
            max_events_per_message: default_max_events_per_message(),
            max_message_bytes: default_max_message_bytes(),
            window: default_window(),
            linger: default_linger(),
            ack_deadline: default_ack_deadline(),
            outstanding_acks_bound: None,
            ack_timeout: default_ack_timeout(),
            flush_timeout: default_flush_timeout(),
            spool: None,
        }
    }
}

impl Config {
    /// This collector's share of the configuration: each venue keeps the symbols of its
    /// [`shard`](Self::shard), and venues left without symbols are dropped. Without a shard,
    /// the configuration as it is. Fails when a symbol does not resolve, or the shard holds
    /// none of the configured symbols.
    pub fn for_shard(&self) -> Result<Config, String> {
        let Some(shard) = self.shard else {
            return Ok(self.clone());
        };
        let mut venues = Vec::new();
        for venue in &self.venues {
            let mut symbols = Vec::new();
            for text in &venue.symbols {
                let symbol = venue
                    .venue
                    .parse_symbol(text)
                    .map_err(|error| error.to_string())?;
                if shard.holds(venue.venue, &symbol) {
                    symbols.push(text.clone());
                }
            }
            // A discovering feed's instruments are split as they are discovered.
            if !symbols.is_empty() || venue.discover.is_some() {
                venues.push(VenueConfig {
                    symbols,
                    ..venue.clone()
                });
            }
        }
        if venues.is_empty() {
            return Err(format!(
                "shard {} of {} holds none of the configured symbols",
                shard.index, shard.count
            ));
        }
        Ok(Config {
            venues,
            ..self.clone()
        })
    }

    /// Checks what serde cannot: symbols resolve, lists are non-empty, limits are sane.
    pub fn validate(&self) -> Result<(), String> {
        if self.venues.is_empty() {
            return Err("at least one [[venues]] entry is required".into());
        }
        if let Some(shard) = self.shard {
            if shard.count == 0 || shard.index >= shard.count {
                return Err(format!(
                    "shard: index {} must be below count {}, and count at least 1",
                    shard.index, shard.count
                ));
            }
        }
        if let Some(name) = &self.name {
            let allowed =
                |character: char| character.is_ascii_alphanumeric() || "-_".contains(character);
            if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
                return Err(format!(
                    "name {name:?}: use 1 to 64 letters, digits, '-' or '_'"
                ));
            }
        }
        for (index, venue) in self.venues.iter().enumerate() {
            let selects = venue
                .discover
                .as_ref()
                .is_some_and(|discover| !discover.select.is_empty());
            if (venue.symbols.is_empty() && !selects)
                || (venue.channels.is_empty() && venue.polls.is_empty())
            {
                return Err(format!(
                    "venues[{index}]: symbols (or discover.select), and channels or polls, \
                     must not be empty"
                ));
            }
            if let Some(discover) = &venue.discover {
                if discover.interval < Duration::from_secs(1) {
                    return Err(format!(
                        "venues[{index}]: discover.interval must be at least 1s"
                    ));
                }
                if venue
                    .venue
                    .protocol(&[])
                    .instruments_urls(venue.rest_endpoint())
                    .is_empty()
                {
                    return Err(format!(
                        "venues[{index}]: {:?} has no instrument list to discover from",
                        venue.venue
                    ));
                }
            }
            if venue.polls.iter().any(|poll| poll.interval.is_zero()) {
                return Err(format!("venues[{index}]: a poll interval must be positive"));
            }
            venue
                .check_offered()
                .map_err(|error| format!("venues[{index}]: {error}"))?;
            marketprism_bus::check_endpoint(
                &format!("venues[{index}].endpoint"),
                venue.endpoint(),
                &["ws", "wss"],
            )?;
            marketprism_bus::check_endpoint(
                &format!("venues[{index}].rest_endpoint"),
                venue.rest_endpoint(),
                &["http", "https"],
            )?;
        }
        self.nats.validate()?;
        let publish = &self.publish;
        if [
            publish.max_outstanding_acks,
            publish.queue_capacity,
            publish.max_events_per_message,
            publish.max_message_bytes,
        ]
        .contains(&0)
        {
            return Err("publish.max_outstanding_acks, publish.queue_capacity, \
                 publish.max_events_per_message and publish.max_message_bytes must be at least 1"
                .into());
        }
        if publish.window < Duration::from_millis(1) {
            return Err("publish.window must be at least 1ms: venues stamp milliseconds".into());
        }
        if publish.ack_deadline.is_zero()
            || publish.ack_timeout.is_zero()
            || publish.outstanding_acks_bound() == 0
        {
            return Err("publish.ack_deadline, publish.ack_timeout and \
                 publish.outstanding_acks_bound must be positive"
                .into());
        }
        if let Some(spool) = &publish.spool {
            if spool.max_bytes < 2 * publish.max_message_bytes as u64 {
                return Err(
                    "publish.spool.max_bytes must hold at least two messages of \
                     publish.max_message_bytes"
                        .into(),
                );
            }
            if spool.sync_interval.is_zero() {
                return Err("publish.spool.sync_interval must be positive".into());
            }
        }
        if self.books.depth == 0 || self.books.max_levels < self.books.depth {
            return Err("books.depth must be at least 1 and at most books.max_levels".into());
        }
        if self.connection.backoff_initial > self.connection.backoff_max {
            return Err("connection.backoff_initial must not exceed connection.backoff_max".into());
        }
        if self.books.snapshot_retry_initial.is_zero()
            || self.books.snapshot_retry_initial > self.books.snapshot_retry_max
        {
            return Err(
                "books.snapshot_retry_initial must be positive and at most books.snapshot_retry_max"
                    .into(),
            );
        }
        if self.books.unsynced_gap_after.is_zero() {
            return Err("books.unsynced_gap_after must be positive".into());
        }
        if !(self.rest.budget_share > 0.0 && self.rest.budget_share <= 1.0) {
            return Err("rest.budget_share must be above 0 and at most 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sharded(shard: &str, symbols: &[&str]) -> Config {
        let symbols: Vec<String> = symbols.iter().map(|symbol| format!("{symbol:?}")).collect();
        let config: Config = toml::from_str(&format!(
            r#"
            shard = {shard}
            [[venues]]
            venue = "binance_spot"
            symbols = [{spot}]
            channels = ["trades"]
            [[venues]]
            venue = "okx_swap"
            symbols = [{swap}]
            channels = ["trades"]
            "#,
            spot = symbols.join(", "),
            swap = symbols
                .iter()
                .map(|symbol| symbol.replace("USDT", "USDT-SWAP"))
                .collect::<Vec<_>>()
                .join(", "),
        ))
        .expect("valid config");
        config.validate().expect("consistent");
        config
    }

    /// Every (venue, symbol) the configuration's shard records.
    fn recorded(config: &Config) -> Vec<(VenueKind, String)> {
        match config.for_shard() {
            Ok(config) => config
                .venues
                .iter()
                .flat_map(|venue| {
                    venue
                        .symbols
                        .iter()
                        .map(|symbol| (venue.venue, symbol.clone()))
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    #[test]
    fn shards_split_the_instruments_each_into_exactly_one() {
        let symbols: Vec<String> = (0..40).map(|index| format!("C{index}-USDT")).collect();
        let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
        let mut all: Vec<(VenueKind, String)> = Vec::new();
        for index in 0..3 {
            let shard = recorded(&sharded(
                &format!("{{ index = {index}, count = 3 }}"),
                &symbols,
            ));
            assert!(shard.len() > 5, "shard {index} holds {}", shard.len());
            // The same shard, configured again (a second collector of it), holds the same.
            assert_eq!(
                shard,
                recorded(&sharded(
                    &format!("{{ index = {index}, count = 3 }}"),
                    &symbols
                ))
            );
            all.extend(shard);
        }
        let whole = sharded("{ index = 0, count = 1 }", &symbols);
        let mut expected = recorded(&whole);
        assert_eq!(expected.len(), 80);
        let key = |(venue, symbol): &(VenueKind, String)| format!("{venue:?} {symbol}");
        expected.sort_by_key(key);
        all.sort_by_key(key);
        assert_eq!(all, expected);
    }

    #[test]
    fn a_shard_must_exist_and_hold_something() {
        for shard in ["{ index = 2, count = 2 }", "{ index = 0, count = 0 }"] {
            let config: Config = toml::from_str(&format!(
                r#"
                shard = {shard}
                [[venues]]
                venue = "binance_spot"
                symbols = ["BTC-USDT"]
                channels = ["trades"]
                "#
            ))
            .expect("parses");
            let error = config.validate().expect_err("no such shard");
            assert!(error.contains("shard"), "{error}");
        }
        let one = sharded("{ index = 0, count = 2 }", &["BTC-USDT"]);
        let other = sharded("{ index = 1, count = 2 }", &["BTC-USDT"]);
        let empty = [one.for_shard(), other.for_shard()]
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>();
        assert!(
            empty.len() < 2 && empty.iter().all(|error| error.contains("holds none")),
            "{empty:?}"
        );
    }

    #[test]
    fn a_collector_name_is_a_plain_word() {
        for (name, valid) in [
            ("collector-a", true),
            ("", false),
            ("a b", false),
            ("a.b", false),
        ] {
            let config: Config = toml::from_str(&format!(
                r#"
                name = "{name}"
                [[venues]]
                venue = "binance_spot"
                symbols = ["BTC-USDT"]
                channels = ["trades"]
                "#
            ))
            .expect("parses");
            assert_eq!(config.validate().is_ok(), valid, "{name:?}");
        }
    }

    #[test]
    fn parses_and_validates() {
        let config: Config = toml::from_str(
            r#"
            [[venues]]
            venue = "binance_spot"
            endpoint = "ws://127.0.0.1:1"
            symbols = ["BTC-USDT", "ethusdt"]
            channels = ["trades", "aggregate_trades"]
            "#,
        )
        .expect("valid config");
        config.validate().expect("consistent");
        let subscriptions = config.venues[0].subscriptions().expect("symbols resolve");
        assert_eq!(subscriptions.len(), 4);
        assert_eq!(subscriptions[1].symbol.as_str(), "ETH-USDT");
    }

    #[test]
    fn reports_typos_and_unknown_symbols() {
        let typo = toml::from_str::<Config>(
            "[[venues]]\nvenue = \"binance_spot\"\nsymbol = []\nchannels = []\n",
        )
        .expect_err("unknown key");
        assert!(typo.to_string().contains("symbol"), "{typo}");

        let config: Config = toml::from_str(
            "[[venues]]\nvenue = \"binance_spot\"\nsymbols = [\"NOTAPAIR\"]\nchannels = [\"trades\"]\n",
        )
        .expect("syntactically valid");
        let error = config.validate().expect_err("unknown symbol");
        assert!(error.contains("NOTAPAIR"), "{error}");
    }

    #[test]
    fn reports_channels_and_polls_a_venue_does_not_offer() {
        let spot_funding: Config = toml::from_str(
            "[[venues]]\nvenue = \"binance_spot\"\nsymbols = [\"BTC-USDT\"]\nchannels = [\"funding_rate\"]\n",
        )
        .expect("syntactically valid");
        let error = spot_funding.validate().expect_err("spot has no funding");
        assert!(error.contains("funding_rate"), "{error}");

        let okx_poll: Config = toml::from_str(
            "[[venues]]\nvenue = \"okx_swap\"\nsymbols = [\"BTC-USDT\"]\n\
             [[venues.polls]]\ndata = \"open_interest\"\ninterval = \"1m\"\n",
        )
        .expect("syntactically valid");
        let error = okx_poll.validate().expect_err("OKX streams open interest");
        assert!(error.contains("open_interest"), "{error}");

        let polls_only: Config = toml::from_str(
            "[[venues]]\nvenue = \"bybit_linear\"\nsymbols = [\"BTC-USDT\"]\n\
             [[venues.polls]]\ndata = \"long_short_all_accounts\"\ninterval = \"5m\"\n",
        )
        .expect("syntactically valid");
        polls_only.validate().expect("a venue may only poll");
        assert_eq!(polls_only.venues[0].polls().expect("series").len(), 1);
    }

    #[test]
    fn accepts_every_okx_and_deribit_market_with_ids_of_that_market() {
        let config: Config = toml::from_str(
            r#"
            [[venues]]
            venue = "okx_futures"
            symbols = ["BTC-USD-250328", "eth-usdt-250328"]
            channels = ["trades", "orderbook", "open_interest"]
            [[venues]]
            venue = "okx_options"
            symbols = ["BTC-USD-250328-60000-C"]
            channels = ["trades", "orderbook"]
            [[venues]]
            venue = "deribit_options"
            symbols = ["BTC-27DEC24-100000-C", "BTC"]
            channels = ["trades", "orderbook"]
            "#,
        )
        .expect("syntactically valid");
        config.validate().expect("valid");
        assert_eq!(
            config.venues[0]
                .normalized_symbols()
                .expect("symbols")
                .iter()
                .map(Symbol::as_str)
                .collect::<Vec<_>>(),
            ["BTC-USD-250328", "ETH-USDT-250328"]
        );
        for (venue, symbol, channel) in [
            ("okx_futures", "BTC-USD", "trades"),
            ("okx_options", "BTC-USD-250328", "trades"),
            ("okx_futures", "BTC-USD-250328", "funding_rate"),
        ] {
            let config: Config = toml::from_str(&format!(
                "[[venues]]\nvenue = \"{venue}\"\nsymbols = [\"{symbol}\"]\nchannels = [\"{channel}\"]\n"
            ))
            .expect("syntactically valid");
            let error = config.validate().expect_err("not offered");
            assert!(
                error.starts_with("venues[0]"),
                "{venue} {symbol} {channel}: {error}"
            );
        }
    }
}
