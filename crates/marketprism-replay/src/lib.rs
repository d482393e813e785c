//! Replays captured exchange frames through the same parsers and book sequencers the
//! collector uses, producing the normalized events the collector would have published.
//!
//! Records come from capture files (see `marketprism-capture`). Each record is routed by its
//! capture venue label (and, for Bybit and Coinbase, its endpoint) to a venue protocol; book messages go
//! through a [`BookTracker`] per connection (per venue for venues whose books start from a
//! REST snapshot, since the snapshot arrives on another connection). REST depth snapshots in
//! the capture bootstrap Binance books exactly as the collector's fetch would.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use marketprism_book::{BookTracker, DesyncReason, Progress, PublishSettings, Skip, Tracked};
use marketprism_capture::{CaptureRecord, RecordKind};
use marketprism_model::Event;
use marketprism_venues::concatenated;
use marketprism_venues::{Inbound, VenueError, VenueKind, VenueProtocol};
use serde::Serialize;

/// A record that could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The record belongs to a feed MarketPrism does not record (another venue, or a retired
    /// API version such as Bybit v2). Nothing is lost by skipping it.
    #[error("{venue} feed {url} is not one MarketPrism records")]
    UnsupportedFeed {
        /// Capture venue label.
        venue: String,
        /// Endpoint or request URL.
        url: String,
    },
    /// The venue parser rejected the payload.
    #[error("{venue} ({conn}): {source}")]
    Venue {
        /// Capture venue label.
        venue: String,
        /// Connection label.
        conn: String,
        /// The parser's error.
        source: VenueError,
    },
}

/// Counts of what replay did for one feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FeedStats {
    /// WebSocket frames read.
    pub frames: u64,
    /// REST responses read.
    pub rest_responses: u64,
    /// Trades produced.
    pub trades: u64,
    /// Funding-rate, open-interest, liquidation and volatility-index events produced.
    pub derivatives: u64,
    /// Book messages applied to a valid book (snapshots included).
    pub book_updates_applied: u64,
    /// Book messages already contained in the book (stale or duplicate).
    pub book_updates_skipped: u64,
    /// Book deltas held for a REST snapshot.
    pub book_updates_buffered: u64,
    /// Books published (top-N).
    pub books_published: u64,
    /// Sequence breaks detected (including snapshots older than the stream).
    pub sequence_breaks: u64,
    /// Checksum mismatches detected.
    pub checksum_mismatches: u64,
    /// Crossed books detected.
    pub crossed_books: u64,
    /// Books rebuilt after a break (each also yields a gap event).
    pub resyncs: u64,
    /// Frames that are replies or channels MarketPrism does not record.
    pub ignored: u64,
    /// Records of unsupported feeds.
    pub unsupported: u64,
    /// Records the parser rejected.
    pub parse_errors: u64,
}

impl std::ops::AddAssign<&FeedStats> for FeedStats {
    fn add_assign(&mut self, other: &FeedStats) {
        self.frames += other.frames;
        self.rest_responses += other.rest_responses;
        self.trades += other.trades;
        self.derivatives += other.derivatives;
        self.book_updates_applied += other.book_updates_applied;
        self.book_updates_skipped += other.book_updates_skipped;
        self.book_updates_buffered += other.book_updates_buffered;
        self.books_published += other.books_published;
        self.sequence_breaks += other.sequence_breaks;
        self.checksum_mismatches += other.checksum_mismatches;
        self.crossed_books += other.crossed_books;
        self.resyncs += other.resyncs;
        self.ignored += other.ignored;
        self.unsupported += other.unsupported;
        self.parse_errors += other.parse_errors;
    }
}

/// One parser plus the books of its connections.
struct Feed {
    protocol: Arc<dyn VenueProtocol>,
    trackers: HashMap<String, BookTracker>,
}

/// Replays the records of one capture session into normalized events. Books persist across
/// records, so use one replayer per capture file.
pub struct Replayer {
    settings: PublishSettings,
    feeds: HashMap<String, Feed>,
    stats: BTreeMap<String, FeedStats>,
}

impl Replayer {
    /// A replayer publishing books with `settings`.
    pub fn new(settings: PublishSettings) -> Self {
        Replayer {
            settings,
            feeds: HashMap::new(),
            stats: BTreeMap::new(),
        }
    }

    /// What replay did so far, per feed (`binance-spot`, `bybit/linear`, ...).
    pub fn stats(&self) -> &BTreeMap<String, FeedStats> {
        &self.stats
    }

    /// Replays one record, returning the events it produced.
    pub fn replay(&mut self, record: &CaptureRecord) -> Result<Vec<Event>, ReplayError> {
        let Some((feed_name, protocol)) = protocol_for(record) else {
            self.stats
                .entry(record.venue.clone())
                .or_default()
                .unsupported += 1;
            return Err(ReplayError::UnsupportedFeed {
                venue: record.venue.clone(),
                url: record.url.clone(),
            });
        };
        let feed = self.feeds.entry(feed_name.clone()).or_insert_with(|| Feed {
            protocol,
            trackers: HashMap::new(),
        });
        let stats = self.stats.entry(feed_name).or_default();
        let result = match record.kind {
            RecordKind::Ws => {
                stats.frames += 1;
                feed.replay_frame(record, self.settings, stats)
            }
            RecordKind::Rest => {
                stats.rest_responses += 1;
                feed.replay_rest(record, self.settings, stats)
            }
        };
        result.map_err(|source| {
            stats.parse_errors += 1;
            ReplayError::Venue {
                venue: record.venue.clone(),
                conn: record.conn.clone(),
                source,
            }
        })
    }
}

/// The feed name and parser for a record, if MarketPrism records its feed. No symbols are
/// configured: a replay records every instrument the capture holds.
fn protocol_for(record: &CaptureRecord) -> Option<(String, Arc<dyn VenueProtocol>)> {
    let (feed_name, venue) = match record.venue.as_str() {
        "binance-spot" => (record.venue.clone(), VenueKind::BinanceSpot),
        "binance-usdm" => (record.venue.clone(), VenueKind::BinanceUsdm),
        "okx" => (record.venue.clone(), VenueKind::OkxSpot),
        "deribit" => (record.venue.clone(), VenueKind::DeribitPerpetual),
        "bybit" if record.url.contains("/v5/public/spot") => {
            ("bybit/spot".into(), VenueKind::BybitSpot)
        }
        "bybit" if record.url.contains("/v5/public/linear") => {
            ("bybit/linear".into(), VenueKind::BybitLinear)
        }
        // Bybit REST (instrument lists) carries nothing to replay but is a supported feed.
        "bybit" if record.kind == RecordKind::Rest && record.url.contains("/v5/") => {
            ("bybit/linear".into(), VenueKind::BybitLinear)
        }
        // Advanced Trade: its WebSocket and its REST products list (`/api/v3/brokerage/`).
        "coinbase"
            if record.url.contains("advanced-trade-ws") || record.url.contains("/api/v3/") =>
        {
            ("coinbase/advanced".into(), VenueKind::CoinbaseSpot)
        }
        // Coinbase Exchange (Coinbase Pro before 2022): `ws-feed.*` and its REST `/products`.
        "coinbase" if record.url.contains("ws-feed.") || record.url.ends_with("/products") => {
            ("coinbase/exchange".into(), VenueKind::CoinbaseExchange)
        }
        _ => return None,
    };
    Some((feed_name, venue.protocol(&[])))
}

impl Feed {
    fn tracker(&mut self, conn: &str, settings: PublishSettings) -> &mut BookTracker {
        let rule = self.protocol.sync_rule();
        // REST-bootstrapped books get their snapshot over another connection: one tracker.
        let key = if rule.snapshot_in_stream() { conn } else { "" };
        let exchange = self.protocol.exchange();
        self.trackers
            .entry(key.to_owned())
            .or_insert_with(|| BookTracker::new(exchange, rule, settings))
    }

    fn replay_frame(
        &mut self,
        record: &CaptureRecord,
        settings: PublishSettings,
        stats: &mut FeedStats,
    ) -> Result<Vec<Event>, VenueError> {
        match self
            .protocol
            .parse(&record.payload, record.received_time_ms())?
        {
            Inbound::Events(events) => {
                let trades = events
                    .iter()
                    .filter(|event| matches!(event, Event::Trade(_)))
                    .count() as u64;
                stats.trades += trades;
                stats.derivatives += events.len() as u64 - trades;
                Ok(events)
            }
            Inbound::Book(message) => {
                let tracked = self.tracker(&record.conn, settings).apply(
                    message.market_type,
                    &message.symbol,
                    message.update,
                );
                Ok(book_events(tracked, stats))
            }
            Inbound::SubscribeAck { .. } | Inbound::Rejected { .. } | Inbound::Ignored => {
                stats.ignored += 1;
                Ok(Vec::new())
            }
        }
    }

    /// REST depth snapshots bootstrap books; other responses (instrument lists) are ignored.
    fn replay_rest(
        &mut self,
        record: &CaptureRecord,
        settings: PublishSettings,
        stats: &mut FeedStats,
    ) -> Result<Vec<Event>, VenueError> {
        let Some(symbol) = snapshot_symbol(&record.url) else {
            stats.ignored += 1;
            return Ok(Vec::new());
        };
        let symbol = concatenated::from_native(&symbol)?;
        let market_type = self.protocol.market_type();
        let update = self
            .protocol
            .parse_book_snapshot(&record.payload, record.received_time_ms())?;
        let tracked = self
            .tracker(&record.conn, settings)
            .apply(market_type, &symbol, update);
        Ok(book_events(tracked, stats))
    }
}

/// The `symbol` query parameter of a Binance depth-snapshot URL.
fn snapshot_symbol(request_url: &str) -> Option<String> {
    let parsed = url::Url::parse(request_url).ok()?;
    if !parsed.path().ends_with("/depth") {
        return None;
    }
    parsed
        .query_pairs()
        .find(|(key, _)| key == "symbol")
        .map(|(_, value)| value.into_owned())
}

/// Counts what one book message did and returns the events it produced.
fn book_events(tracked: Tracked, stats: &mut FeedStats) -> Vec<Event> {
    stats.books_published += u64::from(tracked.book.is_some());
    match &tracked.progress {
        Ok(Progress::Applied) => stats.book_updates_applied += 1,
        Ok(Progress::Recovered(_)) => {
            stats.book_updates_applied += 1;
            stats.resyncs += 1;
        }
        Ok(Progress::Buffered) => stats.book_updates_buffered += 1,
        Ok(Progress::Skipped(Skip::AlreadyApplied | Skip::BeforeSnapshot)) => {
            stats.book_updates_skipped += 1
        }
        Err(desync) => match desync.reason {
            DesyncReason::Sequence { .. } | DesyncReason::SnapshotBehind { .. } => {
                stats.sequence_breaks += 1
            }
            DesyncReason::Checksum { .. } => stats.checksum_mismatches += 1,
            DesyncReason::Crossed { .. } => stats.crossed_books += 1,
        },
    }
    tracked.into_events()
}
