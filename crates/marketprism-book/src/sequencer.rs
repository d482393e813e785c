//! The per-instrument state machine that turns a venue's book messages into a book it can
//! vouch for: snapshot, bridged deltas, gap detection and resynchronization.

use std::collections::VecDeque;

use marketprism_model::Decimal;

use crate::rule::{Bridge, Continuity};
use crate::{Book, BookSide, BookUpdate, SyncRule, UpdateKind};

/// Deltas held while a REST snapshot is fetched, per instrument. At Binance's fastest depth
/// stream (100 ms) this is minutes of updates; older ones are dropped first.
pub const DEFAULT_BUFFER_LIMIT: usize = 4_096;

/// Why a book stopped being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesyncReason {
    /// A delta does not follow the last applied one: updates were lost or reordered.
    #[error(
        "update {first_id}..={last_id} (prev {prev_id:?}) does not follow update {last_applied}"
    )]
    Sequence {
        /// The id of the last update applied.
        last_applied: u64,
        /// The delta's first id.
        first_id: u64,
        /// The delta's last id.
        last_id: u64,
        /// The delta's previous id, if the venue sends one.
        prev_id: Option<u64>,
    },
    /// The REST snapshot predates the oldest buffered delta: the updates between are missing.
    #[error(
        "snapshot {snapshot_id} is older than the buffered stream, which starts at {first_id}"
    )]
    SnapshotBehind {
        /// The snapshot's id.
        snapshot_id: u64,
        /// The first id of the oldest buffered delta after it.
        first_id: u64,
    },
    /// The venue's checksum disagrees with the book.
    #[error("checksum mismatch after update {last_id}: venue {venue}, book {book}")]
    Checksum {
        /// The update after which the checksum was compared.
        last_id: u64,
        /// The venue's value.
        venue: i32,
        /// The value computed from the book.
        book: i32,
    },
    /// The best bid reached the best ask.
    #[error("crossed book after update {last_id}: best bid {bid} >= best ask {ask}")]
    Crossed {
        /// The update after which the book crossed.
        last_id: u64,
        /// Best bid price.
        bid: Decimal,
        /// Best ask price.
        ask: Decimal,
    },
}

/// The book can no longer be vouched for: the caller must obtain a fresh snapshot (fetch it
/// for venues that bootstrap from REST, resubscribe otherwise).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "book out of sync since {}: {reason}",
    .since_ms.map_or_else(|| "an unknown time".to_owned(), |ms| ms.to_string())
)]
pub struct Desync {
    /// What was detected.
    pub reason: DesyncReason,
    /// Venue time from which the book is unknown: that of the last update applied, or of the
    /// first update seen when the book was never valid; `None` when no message seen so far
    /// carried a venue time.
    pub since_ms: Option<i64>,
}

/// A window during which the book could not be vouched for, reported once it is valid again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// The first break detected.
    pub reason: DesyncReason,
    /// Venue time from which the book was unknown (`to_ms` when no venue time had been seen
    /// before the book became valid).
    pub from_ms: i64,
    /// Venue time of the update that made the book valid again.
    pub to_ms: i64,
}

/// Why an update changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The update was already applied, or the snapshot already contains it.
    AlreadyApplied,
    /// A delta arrived before the first snapshot of an in-stream-snapshot venue.
    BeforeSnapshot,
}

/// What one update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The book is valid and reflects the update.
    Applied,
    /// The book is valid again after an outage, which the caller records as a gap.
    Recovered(Outage),
    /// The delta is held until the REST snapshot arrives.
    Buffered,
    /// The update changed nothing.
    Skipped(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No valid book; deltas are buffered (REST venues) or dropped (in-stream venues).
    AwaitingSnapshot,
    /// A REST snapshot is applied; the next delta must bridge it.
    Bridging { snapshot_id: u64 },
    /// The book is valid as of `last_id`.
    Synced { last_id: u64 },
}

/// The last update reflected in a valid book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The venue's id of the update.
    pub update_id: u64,
    /// Its venue time, or the one it was stamped with (see [`Sequencer`]), Unix milliseconds.
    pub exchange_time_ms: i64,
    /// Its local receive time, Unix milliseconds.
    pub received_time_ms: i64,
}

/// A message applied to a valid book, with the venue time it is published under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The message as the venue sent it.
    pub update: BookUpdate,
    /// Its venue time, or the one it was stamped with (see [`Sequencer`]), Unix milliseconds.
    pub exchange_time_ms: i64,
}

/// Keeps one instrument's book in sync with the venue.
///
/// A message without a venue time (a Binance spot REST snapshot, a Coinbase Exchange
/// snapshot) is stamped from the stream, never with its local receive time: it takes the
/// venue time of the first update with one applied on top of it, for a REST snapshot the
/// update that bridges it. A snapshot without an id either (Coinbase Exchange, see
/// [`SyncRule::snapshot_has_id`]) takes the id just before that update's, so that each
/// snapshot of a book has an id of its own, the same wherever the stream is replayed. Until then the book
/// is valid but has no [`Position`], so it is not published, and [`Sequencer::take_applied`]
/// holds the message back. The stamp is at least the time of every update the snapshot
/// contains, so the book's venue time never runs backwards, and it depends on the stream
/// alone, not on whether the snapshot came before or after the updates it contains.
#[derive(Debug, Clone)]
pub struct Sequencer {
    rule: SyncRule,
    book: Book,
    state: State,
    buffer: VecDeque<BookUpdate>,
    buffer_limit: usize,
    position: Option<Position>,
    /// The id and receive time of the last message the valid book reflects, while that
    /// message waits for a venue time (then `position` is `None`).
    unstamped_position: Option<(u64, i64)>,
    /// The desync not yet followed by a valid book.
    outage: Option<Desync>,
    /// Updates applied to a valid book since the last [`Sequencer::take_applied`], when
    /// recording is on.
    applied: Option<Vec<Applied>>,
    /// Recorded updates waiting for a venue time, in order (only when recording is on).
    unstamped: Vec<BookUpdate>,
}

impl Sequencer {
    /// A sequencer following `rule`, with an unbounded book.
    pub fn new(rule: SyncRule) -> Self {
        Sequencer::with_book(rule, Book::new())
    }

    /// A sequencer following `rule` that maintains `book` (e.g. one bounded in depth).
    pub fn with_book(rule: SyncRule, mut book: Book) -> Self {
        book.clear();
        Sequencer {
            rule,
            book,
            state: State::AwaitingSnapshot,
            buffer: VecDeque::new(),
            buffer_limit: DEFAULT_BUFFER_LIMIT,
            position: None,
            unstamped_position: None,
            outage: None,
            applied: None,
            unstamped: Vec::new(),
        }
    }

    /// Records every update applied to a valid book (snapshots included), for publication
    /// of the raw messages; collect them with [`Sequencer::take_applied`].
    pub fn record_applied(mut self) -> Self {
        self.applied = Some(Vec::new());
        self
    }

    /// The updates applied since the last call, in order. Empty unless
    /// [`Sequencer::record_applied`] was set, and after a desync (a message is only reported
    /// once the book it built is known to be valid, and once it has a venue time).
    pub fn take_applied(&mut self) -> Vec<Applied> {
        self.applied
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The rule this sequencer follows.
    pub fn rule(&self) -> SyncRule {
        self.rule
    }

    /// The book, only while it is valid.
    pub fn book(&self) -> Option<&Book> {
        match self.state {
            State::AwaitingSnapshot => None,
            State::Bridging { .. } | State::Synced { .. } => Some(&self.book),
        }
    }

    /// The last update reflected in the valid book; `None` while that update waits for a
    /// venue time (see [`Sequencer`]).
    pub fn position(&self) -> Option<Position> {
        self.book().and(self.position)
    }

    /// True while a snapshot is needed (initially, and after every desync).
    pub fn needs_snapshot(&self) -> bool {
        self.state == State::AwaitingSnapshot
    }

    /// Number of deltas waiting for a REST snapshot.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Forgets the book and everything buffered, e.g. when the connection is replaced (the
    /// connection's own gap covers that window).
    pub fn reset(&mut self) {
        self.book.clear();
        self.buffer.clear();
        self.state = State::AwaitingSnapshot;
        self.outage = None;
        self.forget_position();
    }

    /// Applies one message. On `Err` the book is invalid until a new snapshot arrives; the
    /// error says why and since when.
    pub fn apply(&mut self, update: BookUpdate) -> Result<Progress, Desync> {
        let first_seen_ms = self
            .buffer
            .front()
            .map_or(update.exchange_time_ms, |buffered| {
                buffered.exchange_time_ms
            });
        let progress = match update.kind {
            UpdateKind::Snapshot => self.apply_snapshot(update),
            UpdateKind::Delta => self.apply_delta(update),
        };
        let progress = match progress {
            Ok(progress) => progress,
            Err(reason) => return Err(self.desync(reason, first_seen_ms)),
        };
        // An outage ends with the first position: the book is valid and has a venue time.
        if let Some(position) = self.position() {
            if let Some(outage) = self.outage.take() {
                return Ok(Progress::Recovered(Outage {
                    reason: outage.reason,
                    from_ms: outage.since_ms.unwrap_or(position.exchange_time_ms),
                    to_ms: position.exchange_time_ms,
                }));
            }
        }
        Ok(progress)
    }

    fn apply_snapshot(&mut self, snapshot: BookUpdate) -> Result<Progress, DesyncReason> {
        self.book.apply_snapshot(&snapshot.bids, &snapshot.asks);
        self.verify(&snapshot)?;
        let snapshot_id = snapshot.last_id;
        // Nothing built before the snapshot and still waiting for a venue time was published.
        self.forget_unstamped();
        let snapshot = self.as_kept(snapshot);
        self.mark_applied(snapshot);
        if self.rule.snapshot_in_stream() {
            self.buffer.clear();
            self.state = State::Synced {
                last_id: snapshot_id,
            };
        } else {
            self.state = State::Bridging { snapshot_id };
            while let Some(delta) = self.buffer.pop_front() {
                self.apply_delta(delta)?;
            }
        }
        Ok(Progress::Applied)
    }

    fn apply_delta(&mut self, delta: BookUpdate) -> Result<Progress, DesyncReason> {
        match self.state {
            State::AwaitingSnapshot if self.rule.snapshot_in_stream() => {
                Ok(Progress::Skipped(Skip::BeforeSnapshot))
            }
            State::AwaitingSnapshot => {
                if self.buffer.len() >= self.buffer_limit {
                    self.buffer.pop_front();
                }
                self.buffer.push_back(delta);
                Ok(Progress::Buffered)
            }
            State::Bridging { snapshot_id } => match self.rule.bridge(snapshot_id, &delta) {
                Bridge::Stale => Ok(Progress::Skipped(Skip::AlreadyApplied)),
                Bridge::Bridges => self.apply_levels(delta),
                Bridge::SnapshotBehind => {
                    let reason = DesyncReason::SnapshotBehind {
                        snapshot_id,
                        first_id: delta.first_id,
                    };
                    // The delta is newer than the snapshot: keep it for the next one.
                    self.buffer.push_front(delta);
                    Err(reason)
                }
            },
            State::Synced { last_id } => match self.rule.continuity(last_id, &delta) {
                Continuity::Next => self.apply_levels(delta),
                Continuity::AlreadyApplied => Ok(Progress::Skipped(Skip::AlreadyApplied)),
                Continuity::Break => {
                    let reason = DesyncReason::Sequence {
                        last_applied: last_id,
                        first_id: delta.first_id,
                        last_id: delta.last_id,
                        prev_id: delta.prev_id,
                    };
                    if !self.rule.snapshot_in_stream() {
                        // Everything from this delta on is valid input for the next snapshot.
                        self.buffer.push_front(delta);
                    }
                    Err(reason)
                }
            },
        }
    }

    fn apply_levels(&mut self, delta: BookUpdate) -> Result<Progress, DesyncReason> {
        self.book.apply_levels(BookSide::Bid, &delta.bids);
        self.book.apply_levels(BookSide::Ask, &delta.asks);
        self.verify(&delta)?;
        self.state = State::Synced {
            last_id: delta.last_id,
        };
        self.mark_applied(delta);
        Ok(Progress::Applied)
    }

    /// A snapshot as the book keeps it: a side deeper than the book's bound is recorded with
    /// the levels the book kept, not with levels it dropped. A whole Coinbase Advanced Trade
    /// book (tens of thousands of levels, over 1 MB as JSON) would otherwise be published as
    /// one event larger than a NATS message may be.
    fn as_kept(&self, mut snapshot: BookUpdate) -> BookUpdate {
        let Some(max_depth) = self.book.max_depth() else {
            return snapshot;
        };
        if snapshot.bids.len() > max_depth {
            snapshot.bids = self.book.top(BookSide::Bid, max_depth);
        }
        if snapshot.asks.len() > max_depth {
            snapshot.asks = self.book.top(BookSide::Ask, max_depth);
        }
        snapshot
    }

    /// Makes `update` the book's position and records it; one without a venue time waits for
    /// a stamp, one with a venue time first stamps everything waiting with it.
    fn mark_applied(&mut self, update: BookUpdate) {
        let Some(exchange_time_ms) = update.exchange_time_ms else {
            self.position = None;
            self.unstamped_position = Some((update.last_id, update.received_time_ms));
            if self.applied.is_some() {
                self.unstamped.push(update);
            }
            return;
        };
        self.stamp(exchange_time_ms, update.first_id);
        self.position = Some(Position {
            update_id: update.last_id,
            exchange_time_ms,
            received_time_ms: update.received_time_ms,
        });
        if let Some(applied) = &mut self.applied {
            applied.push(Applied {
                update,
                exchange_time_ms,
            });
        }
    }

    /// Gives the updates waiting for a venue time `exchange_time_ms`, that of the update
    /// `first_id` applied on top of them, which makes the last of them the book's position.
    /// Under a rule whose snapshots carry no id, a waiting snapshot also takes the id just
    /// before `first_id`.
    fn stamp(&mut self, exchange_time_ms: i64, first_id: u64) {
        let Some((update_id, received_time_ms)) = self.unstamped_position.take() else {
            return;
        };
        self.position = Some(Position {
            update_id,
            exchange_time_ms,
            received_time_ms,
        });
        let snapshot_id = (!self.rule.snapshot_has_id()).then(|| first_id.saturating_sub(1));
        if let Some(applied) = &mut self.applied {
            applied.extend(self.unstamped.drain(..).map(|mut update| {
                if let Some(id) = snapshot_id.filter(|_| update.kind == UpdateKind::Snapshot) {
                    update.first_id = id;
                    update.last_id = id;
                }
                Applied {
                    update,
                    exchange_time_ms,
                }
            }));
        }
    }

    /// Forgets the position and every update not yet reported.
    fn forget_position(&mut self) {
        self.position = None;
        self.forget_unstamped();
        if let Some(applied) = &mut self.applied {
            applied.clear();
        }
    }

    /// Forgets the updates waiting for a venue time.
    fn forget_unstamped(&mut self) {
        self.unstamped_position = None;
        self.unstamped.clear();
    }

    /// Checks the venue's checksum, when sent, and that the book is not crossed.
    fn verify(&self, update: &BookUpdate) -> Result<(), DesyncReason> {
        if let Some((venue, book)) = update.checksum.zip(self.rule.checksum(&self.book)) {
            if book != venue {
                return Err(DesyncReason::Checksum {
                    last_id: update.last_id,
                    venue,
                    book,
                });
            }
        }
        if let (Some(bid), Some(ask)) = (self.book.best_bid(), self.book.best_ask()) {
            if bid.price >= ask.price {
                return Err(DesyncReason::Crossed {
                    last_id: update.last_id,
                    bid: bid.price,
                    ask: ask.price,
                });
            }
        }
        Ok(())
    }

    /// Invalidates the book and remembers the start of the outage.
    fn desync(&mut self, reason: DesyncReason, first_seen_ms: Option<i64>) -> Desync {
        self.book.clear();
        self.state = State::AwaitingSnapshot;
        let since_ms = match (&self.outage, self.position) {
            (Some(outage), _) => outage.since_ms,
            (None, Some(position)) => Some(position.exchange_time_ms),
            (None, None) => first_seen_ms,
        };
        self.forget_position();
        let desync = Desync { reason, since_ms };
        if self.outage.is_none() {
            self.outage = Some(desync.clone());
        }
        desync
    }
}
