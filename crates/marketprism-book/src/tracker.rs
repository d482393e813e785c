//! Every book of one venue connection: sequencing, top-N publication and gap reporting.

use std::collections::HashMap;

use marketprism_model::{
    Exchange, Gap, GapReason, GapState, GapStatus, MarketType, OrderBook, OrderBookDelta, Symbol,
};

use crate::{
    Applied, Book, BookSide, BookUpdate, Desync, DesyncReason, Outage, Progress, Sequencer,
    SyncRule,
};

/// How books are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishSettings {
    /// Levels per side in each published book.
    pub depth: usize,
    /// One book per instrument per interval of this many milliseconds of venue time: the
    /// first update of each interval (intervals are aligned to the Unix epoch, so collectors
    /// recording the same feed publish the same books); 0 publishes after every update.
    pub min_interval_ms: i64,
    /// Levels kept per side in memory (at least `depth`); deeper levels are dropped, also from
    /// the published snapshots.
    pub max_levels: usize,
    /// Also publish every applied snapshot and delta, for full-depth reconstruction.
    pub deltas: bool,
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            depth: 50,
            min_interval_ms: 0,
            max_levels: 1_000,
            deltas: false,
        }
    }
}

/// What one update produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The sequencer's verdict. On `Err` the caller must obtain a fresh snapshot.
    pub progress: Result<Progress, Desync>,
    /// The book to publish, when it is valid and due.
    pub book: Option<OrderBook>,
    /// The gap to record, when the book became valid again after an outage.
    pub gap: Option<Gap>,
    /// The messages applied, in order, when deltas are published.
    pub deltas: Vec<OrderBookDelta>,
}

impl Tracked {
    /// The events to publish, in order: the gap, the applied messages, the top-N book.
    pub fn into_events(self) -> Vec<marketprism_model::Event> {
        use marketprism_model::Event;
        self.gap
            .map(Event::Gap)
            .into_iter()
            .chain(self.deltas.into_iter().map(Event::OrderBookDelta))
            .chain(self.book.map(Event::OrderBook))
            .collect()
    }
}

struct Instrument {
    sequencer: Sequencer,
    last_published_ms: Option<i64>,
}

/// The books of one venue connection, keyed by market and symbol.
pub struct BookTracker {
    exchange: Exchange,
    rule: SyncRule,
    settings: PublishSettings,
    books: HashMap<(MarketType, Symbol), Instrument>,
}

impl BookTracker {
    /// A tracker for `exchange` books chained by `rule`.
    pub fn new(exchange: Exchange, rule: SyncRule, settings: PublishSettings) -> Self {
        BookTracker {
            exchange,
            rule,
            settings,
            books: HashMap::new(),
        }
    }

    /// Applies one message to its instrument's book.
    pub fn apply(
        &mut self,
        market_type: MarketType,
        symbol: &Symbol,
        update: BookUpdate,
    ) -> Tracked {
        let received_time_ms = update.received_time_ms;
        let settings = self.settings;
        let instrument = self
            .books
            .entry((market_type, symbol.clone()))
            .or_insert_with(|| {
                let sequencer = Sequencer::with_book(
                    self.rule,
                    Book::with_max_depth(settings.max_levels.max(settings.depth)),
                );
                Instrument {
                    sequencer: if settings.deltas {
                        sequencer.record_applied()
                    } else {
                        sequencer
                    },
                    last_published_ms: None,
                }
            });
        let progress = instrument.sequencer.apply(update);
        let exchange = self.exchange;
        let deltas = instrument
            .sequencer
            .take_applied()
            .into_iter()
            .map(
                |Applied {
                     update,
                     exchange_time_ms,
                 }| OrderBookDelta {
                    exchange,
                    market_type,
                    symbol: symbol.clone(),
                    snapshot: update.kind == crate::UpdateKind::Snapshot,
                    first_update_id: update.first_id,
                    update_id: update.last_id,
                    exchange_time_ms,
                    received_time_ms: update.received_time_ms,
                    bids: update.bids,
                    asks: update.asks,
                },
            )
            .collect();
        let gap = match &progress {
            Ok(Progress::Recovered(outage)) => Some(gap(
                self.exchange,
                market_type,
                symbol,
                outage,
                received_time_ms,
            )),
            _ => None,
        };
        let book = match &progress {
            Ok(Progress::Applied | Progress::Recovered(_)) => publish(
                self.exchange,
                market_type,
                symbol,
                instrument,
                settings,
                gap.is_some(),
            ),
            _ => None,
        };
        Tracked {
            progress,
            book,
            gap,
            deltas,
        }
    }

    /// Forgets every book, e.g. when the connection is replaced: each needs a new snapshot.
    pub fn reset(&mut self) {
        for instrument in self.books.values_mut() {
            instrument.sequencer.reset();
            instrument.last_published_ms = None;
        }
    }

    /// Forgets one instrument's book, which the connection no longer carries.
    pub fn forget(&mut self, market_type: MarketType, symbol: &Symbol) {
        self.books.remove(&(market_type, symbol.clone()));
    }

    /// The instruments whose books wait for a snapshot.
    pub fn awaiting_snapshot(&self) -> impl Iterator<Item = (MarketType, &Symbol)> {
        self.books
            .iter()
            .filter(|(_, instrument)| instrument.sequencer.needs_snapshot())
            .map(|((market_type, symbol), _)| (*market_type, symbol))
    }

    /// Levels held across every book (both sides), for memory accounting.
    pub fn levels_held(&self) -> usize {
        self.books
            .values()
            .filter_map(|instrument| instrument.sequencer.book())
            .map(|book| book.depth(BookSide::Bid) + book.depth(BookSide::Ask))
            .sum()
    }
}

/// The gap covering an outage.
fn gap(
    exchange: Exchange,
    market_type: MarketType,
    symbol: &Symbol,
    outage: &Outage,
    received_time_ms: i64,
) -> Gap {
    let reason = match outage.reason {
        DesyncReason::Sequence { .. } | DesyncReason::SnapshotBehind { .. } => {
            GapReason::SequenceBreak
        }
        DesyncReason::Checksum { .. } => GapReason::ChecksumMismatch,
        DesyncReason::Crossed { .. } => GapReason::CrossedBook,
    };
    Gap {
        exchange,
        market_type,
        symbol: symbol.clone(),
        from_ms: outage.from_ms,
        to_ms: outage.to_ms,
        reason,
        received_time_ms,
        missing_ids: None,
        // The book is whole again: the snapshot that ended the outage closes the gap.
        state: GapState::of(GapStatus::Closed),
        collector: None,
    }
}

/// The top-N book when it is due under the cadence (always right after a recovery).
fn publish(
    exchange: Exchange,
    market_type: MarketType,
    symbol: &Symbol,
    instrument: &mut Instrument,
    settings: PublishSettings,
    recovered: bool,
) -> Option<OrderBook> {
    let book = instrument.sequencer.book()?;
    let position = instrument.sequencer.position()?;
    // A venue's times need not agree across its REST answers and its stream: a step back in
    // time never withholds a book.
    let due = recovered
        || settings.min_interval_ms <= 0
        || instrument.last_published_ms.is_none_or(|last| {
            let now = position.exchange_time_ms;
            now < last
                || now.div_euclid(settings.min_interval_ms)
                    != last.div_euclid(settings.min_interval_ms)
        });
    if !due {
        return None;
    }
    instrument.last_published_ms = Some(position.exchange_time_ms);
    Some(OrderBook {
        exchange,
        market_type,
        symbol: symbol.clone(),
        update_id: position.update_id,
        exchange_time_ms: position.exchange_time_ms,
        received_time_ms: position.received_time_ms,
        bids: book.top(BookSide::Bid, settings.depth),
        asks: book.top(BookSide::Ask, settings.depth),
    })
}
