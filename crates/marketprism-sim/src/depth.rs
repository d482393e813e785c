//! Order books: a deterministic book per symbol, its `<symbol>@depth@100ms` diff stream, the
//! `GET /api/v3/depth` snapshot, and injectable faults.
//!
//! Every 100 ms each symbol's book changes a few levels on a fixed tick grid around its mid
//! price (bids strictly below, asks strictly above, so the true book never crosses); each
//! changed level consumes one update id, as on Binance, so an event covers `U..=u`. The last
//! [`HISTORY`] events per symbol are kept, each with what it replaced, so tests can ask for
//! the true book at any recent update id: the current book with the later events undone.
//! Each event also has a time in microseconds, strictly increasing per book, so a book can be
//! looked up by time too, as Coinbase names its book messages.
//! A symbol listed at run time gets its book then; a delisted one's book stops changing
//! and stays answerable for `/control/book` only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::dialect::Concerned;
use crate::server::{Outbound, Shared};

/// Interval of the diff-depth stream.
pub(crate) const UPDATE_INTERVAL: Duration = Duration::from_millis(100);

/// Book events kept per symbol for `/control/book` (a minute and a half of updates).
const HISTORY: usize = 1_000;

/// Default levels per side around the mid price.
pub const DEFAULT_LEVELS: u32 = 40;

/// First update id of every book.
const FIRST_UPDATE_ID: u64 = 5_000_000;

/// The wall-clock time, Unix microseconds: the precision of book event times.
pub(crate) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        })
}

/// A fault to inject into the next update (or snapshot) of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookFault {
    /// Apply the next update to the true book but never send it.
    Drop,
    /// Send the next update twice.
    Duplicate,
    /// Send the next two updates in swapped order.
    Reorder,
    /// Answer the next snapshot request with a state several updates old.
    StaleSnapshot,
    /// Send the next event with a wrong OKX checksum.
    CorruptChecksum,
}

/// One book state: price ticks to quantity units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Levels {
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
}

/// A symbol's book and the faults waiting for it.
pub(crate) struct SimBook {
    symbol: String,
    levels: Levels,
    mid_ticks: i64,
    last_update_id: u64,
    /// Events emitted so far: Bybit's contiguous `u`.
    events: u64,
    /// The latest events, oldest first, the first one standing for the state before them.
    history: VecDeque<State>,
    /// Levels per side.
    depth: i64,
    pending_faults: VecDeque<BookFault>,
    /// An event held back to be sent after the next one (reorder).
    held: Option<BookEvent>,
}

/// The book after one event, as the event and what it replaced.
#[derive(Debug, Clone)]
struct State {
    update_id: u64,
    event: u64,
    /// The event's time, Unix µs; 0 for the state before any event.
    time_us: i64,
    /// The levels the event changed, in order, each with its quantity before (0: absent).
    undo: Vec<Undo>,
}

/// One level an event changed and its quantity before, to take the change back.
#[derive(Debug, Clone, Copy)]
struct Undo {
    bid: bool,
    price: i64,
    before: u64,
}

impl Levels {
    /// Takes back the changes of `undo`, latest first.
    fn undo(&mut self, undo: &[Undo]) {
        for change in undo.iter().rev() {
            let side = if change.bid {
                &mut self.bids
            } else {
                &mut self.asks
            };
            if change.before == 0 {
                side.remove(&change.price);
            } else {
                side.insert(change.price, change.before);
            }
        }
    }
}

/// One changed level of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// Price in ticks of 0.01.
    pub(crate) price: i64,
    /// New quantity in units of 10^-8; 0 deletes.
    pub(crate) quantity: u64,
    /// Whether the level existed before (Deribit's `change` versus `new`).
    pub(crate) existed: bool,
}

/// One book event, rendered per venue dialect when sent.
#[derive(Debug, Clone)]
pub(crate) struct BookEvent {
    /// Symbol, Binance form.
    pub(crate) symbol: String,
    /// First update id (Binance `U`).
    pub(crate) first_id: u64,
    /// Last update id (Binance `u`, OKX `seqId`, Deribit `change_id`).
    pub(crate) last_id: u64,
    /// The previous event's last id (`pu`, `prevSeqId`, `prev_change_id`).
    pub(crate) prev_id: u64,
    /// The event's number (Bybit `u`).
    pub(crate) event: u64,
    /// Event time, Unix µs, strictly increasing per book (Coinbase's names of book
    /// messages).
    pub(crate) time_us: i64,
    /// Changed bids.
    pub(crate) bids: Vec<Change>,
    /// Changed asks.
    pub(crate) asks: Vec<Change>,
    /// OKX checksum of the true book after the event.
    pub(crate) checksum: i32,
}

impl BookEvent {
    /// Event time, Unix ms.
    pub(crate) fn time_ms(&self) -> i64 {
        self.time_us / 1_000
    }
}

/// A whole book, for snapshots sent on subscription.
#[derive(Debug, Clone)]
pub(crate) struct BookSnapshot {
    /// Last update id.
    pub(crate) last_id: u64,
    /// Events so far (Bybit `u`).
    pub(crate) event: u64,
    /// Bids `(ticks, units)`, best first.
    pub(crate) bids: Vec<(i64, u64)>,
    /// Asks, best first.
    pub(crate) asks: Vec<(i64, u64)>,
    /// OKX checksum.
    pub(crate) checksum: i32,
}

/// The books of every symbol plus the generator's randomness.
pub(crate) struct Books {
    /// The books of the trading symbols, advanced in symbol order.
    books: BTreeMap<String, SimBook>,
    /// The books of delisted symbols, which no longer change.
    delisted: HashMap<String, SimBook>,
    rng: ChaCha8Rng,
    /// Levels per side.
    depth: i64,
}

/// `GET /api/v3/depth` answer.
#[derive(Debug, Serialize)]
pub(crate) struct DepthSnapshot {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

/// What `GET /control/book` looks a book up by (its `by` parameter), as the venues name
/// book messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookKey {
    /// The last update id of an event (Binance `u`, OKX `seqId`, Deribit `change_id`).
    #[default]
    UpdateId,
    /// The event's number (Bybit's `u`).
    Event,
    /// A past time, Unix µs: the book as it stood then, after the latest event at or before
    /// it (Coinbase, which names book messages by time).
    Time,
}

impl BookKey {
    /// The `by` parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            BookKey::UpdateId => "update_id",
            BookKey::Event => "event",
            BookKey::Time => "time",
        }
    }
}

/// The true top of a book at one update id, for tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrueBook {
    /// The update id, event number or time the state was looked up by.
    pub update_id: u64,
    /// Bids `[price, quantity]`, best first, as the wire writes them.
    pub bids: Vec<[String; 2]>,
    /// Asks, best first.
    pub asks: Vec<[String; 2]>,
}

/// A price in ticks of 0.01, written with Binance's eight decimals.
pub(crate) fn price_text(ticks: i64) -> String {
    format!("{}.{:02}000000", ticks / 100, ticks % 100)
}

/// A quantity in units of 10^-8.
pub(crate) fn quantity_text(units: u64) -> String {
    format!("{}.{:08}", units / 100_000_000, units % 100_000_000)
}

fn side(levels: &BTreeMap<i64, u64>, best_first_desc: bool, limit: usize) -> Vec<[String; 2]> {
    let text = |(price, quantity): (&i64, &u64)| [price_text(*price), quantity_text(*quantity)];
    if best_first_desc {
        levels.iter().rev().take(limit).map(text).collect()
    } else {
        levels.iter().take(limit).map(text).collect()
    }
}

impl Books {
    /// A book of `levels` per side for each symbol, filled deterministically from `seed`.
    pub(crate) fn new(symbols: &[String], seed: u64, levels: u32) -> Self {
        let mut books = Books {
            books: BTreeMap::new(),
            delisted: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x0b00_c0de),
            depth: i64::from(levels.max(1)),
        };
        for (ordinal, symbol) in symbols.iter().enumerate() {
            books.list(symbol, ordinal);
        }
        books
    }

    /// Opens the book of `symbol`, the `ordinal`-th listed (which fixes its price level).
    pub(crate) fn list(&mut self, symbol: &str, ordinal: usize) {
        let symbol = symbol.to_ascii_uppercase();
        let mid_ticks = 100_000 * (ordinal as i64 + 1);
        let mut levels = Levels::default();
        for offset in 1..=self.depth {
            levels.bids.insert(
                mid_ticks - offset,
                self.rng.random_range(1..=10_000_000_000),
            );
            levels.asks.insert(
                mid_ticks + offset,
                self.rng.random_range(1..=10_000_000_000),
            );
        }
        let mut history = VecDeque::with_capacity(HISTORY);
        history.push_back(State {
            update_id: FIRST_UPDATE_ID,
            event: 0,
            time_us: 0,
            undo: Vec::new(),
        });
        let book = SimBook {
            symbol: symbol.clone(),
            levels,
            mid_ticks,
            last_update_id: FIRST_UPDATE_ID,
            events: 0,
            history,
            depth: self.depth,
            pending_faults: VecDeque::new(),
            held: None,
        };
        self.books.insert(symbol, book);
    }

    /// Closes the book of `symbol`: it no longer changes, and only `/control/book` answers
    /// for it.
    pub(crate) fn delist(&mut self, symbol: &str) {
        let symbol = symbol.to_ascii_uppercase();
        if let Some(book) = self.books.remove(&symbol) {
            self.delisted.insert(symbol, book);
        }
    }

    /// Queues a fault for `symbol`, or for every symbol when `None`.
    pub(crate) fn inject(&mut self, symbol: Option<&str>, fault: BookFault) -> usize {
        let mut injected = 0;
        for book in self.books.values_mut() {
            if symbol.is_none_or(|symbol| symbol.eq_ignore_ascii_case(&book.symbol)) {
                book.pending_faults.push_back(fault);
                injected += 1;
            }
        }
        injected
    }

    /// The snapshot a depth request receives (honouring a queued stale-snapshot fault).
    pub(crate) fn snapshot(&mut self, symbol: &str, limit: usize) -> Option<DepthSnapshot> {
        let book = self.books.get_mut(&symbol.to_ascii_uppercase())?;
        let stale = take_fault(&mut book.pending_faults, BookFault::StaleSnapshot);
        let index = if stale {
            // Far enough back that the buffered stream cannot bridge it.
            book.history.len().saturating_sub(20)
        } else {
            book.history.len().saturating_sub(1)
        };
        let (last_update_id, levels) = book.state(index)?;
        Some(DepthSnapshot {
            last_update_id,
            bids: side(&levels.bids, true, limit),
            asks: side(&levels.asks, false, limit),
        })
    }

    /// The true book of `symbol` at `id`, looked up by `key`, if still in the history; a
    /// time not before `now_us`, which later events may yet precede, has none.
    pub(crate) fn true_book(
        &self,
        symbol: &str,
        key: BookKey,
        id: u64,
        limit: usize,
        now_us: i64,
    ) -> Option<TrueBook> {
        let symbol = symbol.to_ascii_uppercase();
        let book = self
            .books
            .get(&symbol)
            .or_else(|| self.delisted.get(&symbol))?;
        let index = match key {
            BookKey::UpdateId => book
                .history
                .iter()
                .position(|state| state.update_id == id)?,
            BookKey::Event => book.history.iter().position(|state| state.event == id)?,
            BookKey::Time => {
                let time_us = i64::try_from(id).ok().filter(|time| *time < now_us)?;
                book.history
                    .iter()
                    .rposition(|state| state.time_us <= time_us)?
            }
        };
        let (_, levels) = book.state(index)?;
        Some(TrueBook {
            update_id: id,
            bids: side(&levels.bids, true, limit),
            asks: side(&levels.asks, false, limit),
        })
    }

    /// The last update id of `symbol`'s book, if it trades.
    pub(crate) fn last_update_id(&self, symbol: &str) -> Option<u64> {
        self.books
            .get(&symbol.to_ascii_uppercase())
            .map(|book| book.last_update_id)
    }

    /// Whether `symbol` (Binance form) has a book that trades.
    pub(crate) fn knows(&self, symbol: &str) -> bool {
        self.books.contains_key(&symbol.to_ascii_uppercase())
    }

    /// The current book of `symbol`, for a subscription snapshot.
    pub(crate) fn current(&self, symbol: &str) -> Option<BookSnapshot> {
        let book = self.books.get(&symbol.to_ascii_uppercase())?;
        Some(BookSnapshot {
            last_id: book.last_update_id,
            event: book.events,
            bids: book
                .levels
                .bids
                .iter()
                .rev()
                .map(|(p, q)| (*p, *q))
                .collect(),
            asks: book.levels.asks.iter().map(|(p, q)| (*p, *q)).collect(),
            checksum: okx_checksum(&book.levels),
        })
    }

    /// Advances every trading book by one event at `now_us` (or just after the book's last
    /// event); returns the events to send per symbol (already shaped by any queued fault).
    pub(crate) fn tick(&mut self, now_us: i64) -> BTreeMap<String, Vec<BookEvent>> {
        let rng = &mut self.rng;
        self.books
            .iter_mut()
            .map(|(symbol, book)| {
                let data = book.advance(rng, now_us);
                (symbol.clone(), book.shape(data))
            })
            .collect()
    }
}

fn take_fault(faults: &mut VecDeque<BookFault>, wanted: BookFault) -> bool {
    match faults.iter().position(|fault| *fault == wanted) {
        Some(index) => {
            faults.remove(index);
            true
        }
        None => false,
    }
}

impl SimBook {
    /// The update id and levels of the book after `history[index]`: the current levels with
    /// every later event taken back.
    fn state(&self, index: usize) -> Option<(u64, Levels)> {
        let update_id = self.history.get(index)?.update_id;
        let mut levels = self.levels.clone();
        for later in self.history.iter().skip(index + 1).rev() {
            levels.undo(&later.undo);
        }
        Some((update_id, levels))
    }

    /// Changes a few levels at `now_us`, or a microsecond after the previous event if that
    /// is later; returns the event.
    fn advance(&mut self, rng: &mut ChaCha8Rng, now_us: i64) -> BookEvent {
        let changes = rng.random_range(1..=4);
        let prev_id = self.last_update_id;
        let previous_time = self.history.back().map_or(0, |state| state.time_us);
        let time_us = now_us.max(previous_time.saturating_add(1));
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        let mut undo = Vec::with_capacity(changes as usize);
        for _ in 0..changes {
            let offset = rng.random_range(1..=self.depth);
            let quantity = if rng.random_bool(0.25) {
                0
            } else {
                rng.random_range(1..=10_000_000_000)
            };
            let bid = rng.random_bool(0.5);
            let (levels, changed, price) = if bid {
                (&mut self.levels.bids, &mut bids, self.mid_ticks - offset)
            } else {
                (&mut self.levels.asks, &mut asks, self.mid_ticks + offset)
            };
            let before = if quantity == 0 {
                levels.remove(&price)
            } else {
                levels.insert(price, quantity)
            };
            undo.push(Undo {
                bid,
                price,
                before: before.unwrap_or(0),
            });
            changed.push(Change {
                price,
                quantity,
                existed: before.is_some(),
            });
        }
        self.last_update_id += changes;
        self.events += 1;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(State {
            update_id: self.last_update_id,
            event: self.events,
            time_us,
            undo,
        });
        BookEvent {
            symbol: self.symbol.clone(),
            first_id: prev_id + 1,
            last_id: self.last_update_id,
            prev_id,
            event: self.events,
            time_us,
            bids,
            asks,
            checksum: okx_checksum(&self.levels),
        }
    }

    /// The events to send for a fresh event, after the queued stream fault, if any.
    fn shape(&mut self, data: BookEvent) -> Vec<BookEvent> {
        if let Some(held) = self.held.take() {
            // Reorder: the newer event goes first, the held one after it.
            return vec![data, held];
        }
        let fault = self
            .pending_faults
            .iter()
            .position(|fault| *fault != BookFault::StaleSnapshot)
            .and_then(|index| self.pending_faults.remove(index));
        match fault {
            Some(BookFault::Drop) => Vec::new(),
            Some(BookFault::Duplicate) => vec![data.clone(), data],
            Some(BookFault::Reorder) => {
                self.held = Some(data);
                Vec::new()
            }
            Some(BookFault::CorruptChecksum) => vec![BookEvent {
                checksum: data.checksum.wrapping_add(1),
                ..data
            }],
            Some(BookFault::StaleSnapshot) | None => vec![data],
        }
    }
}

/// Advances the books every [`UPDATE_INTERVAL`] once a client has subscribed, sending each
/// event, in its venue's framing, to the clients subscribed to that symbol's book.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    while !shared.has_subscribers() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.subscribed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    let mut interval = tokio::time::interval(UPDATE_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        // Clients before books: subscription handlers take the locks in the same order, so
        // a new subscriber's snapshot and the events after it are queued in order.
        let clients = shared.clients();
        let events = shared.books().tick(now_us());
        for client in clients.values() {
            let concerned = Concerned::of(client);
            for (symbol, events) in concerned.select(&events) {
                if events.is_empty() {
                    crate::dialect::lose_event(client, symbol);
                }
                for event in events {
                    if let Some(text) = crate::dialect::render_event(client, event) {
                        client.offer(Outbound { text, trade: None });
                    }
                }
            }
        }
    }
}

/// The OKX checksum of a book: CRC32 of the best 25 bids and asks interleaved as
/// `bidPx:bidSz:askPx:askSz:...`, written exactly as the frames write them.
fn okx_checksum(levels: &Levels) -> i32 {
    let mut bids = levels.bids.iter().rev();
    let mut asks = levels.asks.iter();
    let mut parts = Vec::new();
    for _ in 0..25 {
        if let Some((price, quantity)) = bids.next() {
            parts.push(format!(
                "{}:{}",
                price_text(*price),
                quantity_text(*quantity)
            ));
        }
        if let Some((price, quantity)) = asks.next() {
            parts.push(format!(
                "{}:{}",
                price_text(*price),
                quantity_text(*quantity)
            ));
        }
    }
    i32::from_ne_bytes(crc32fast::hash(parts.join(":").as_bytes()).to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time after every event of the tests, Unix µs.
    const NOW: i64 = 1_000_000;

    #[test]
    fn event_times_increase_per_book_and_name_the_book_as_it_stood() {
        let mut books = Books::new(&["BTCUSDT".to_owned()], 3, 4);
        let at = |books: &Books, time: u64| {
            books
                .true_book("BTCUSDT", BookKey::Time, time, 10, NOW)
                .map(|truth| (truth.bids, truth.asks))
        };
        let by_id = |books: &Books, id: u64| {
            books
                .true_book("BTCUSDT", BookKey::UpdateId, id, 10, NOW)
                .map(|truth| (truth.bids, truth.asks))
        };
        let first = books.tick(100)["BTCUSDT"][0].clone();
        // A tick in the same microsecond is placed just after the event before it.
        let second = books.tick(100)["BTCUSDT"][0].clone();
        let third = books.tick(250)["BTCUSDT"][0].clone();
        assert_eq!(
            [first.time_us, second.time_us, third.time_us],
            [100, 101, 250]
        );
        assert_eq!(first.time_ms(), 0);
        assert_eq!(at(&books, 99), by_id(&books, FIRST_UPDATE_ID));
        assert_eq!(at(&books, 100), by_id(&books, first.last_id));
        assert_eq!(at(&books, 101), by_id(&books, second.last_id));
        assert_eq!(at(&books, 249), by_id(&books, second.last_id));
        assert_eq!(at(&books, 900_000), by_id(&books, third.last_id));
        // A time not yet past has no book: a later event may still come before it.
        assert_eq!(at(&books, NOW as u64), None);
        assert_eq!(
            serde_json::to_value(BookKey::Time).ok(),
            Some(BookKey::Time.as_str().into())
        );
    }

    #[test]
    fn events_chain_and_the_history_answers_for_every_id() {
        let symbols = vec!["BTCUSDT".to_owned()];
        let mut books = Books::new(&symbols, 3, DEFAULT_LEVELS);
        let start = books.snapshot("btcusdt", 1000).expect("known symbol");
        assert_eq!(start.last_update_id, FIRST_UPDATE_ID);
        assert_eq!(start.bids.len(), DEFAULT_LEVELS as usize);
        let mut previous = FIRST_UPDATE_ID;
        for event_number in 1..=50 {
            let events = books.tick(0);
            let event = &events["BTCUSDT"][0];
            assert_eq!(event.first_id, previous + 1, "U follows the previous u");
            assert_eq!((event.prev_id, event.event), (previous, event_number));
            previous = event.last_id;
            let truth = books
                .true_book("BTCUSDT", BookKey::UpdateId, previous, 5, NOW)
                .expect("recent id");
            assert_eq!(
                books.true_book("BTCUSDT", BookKey::Event, event_number, 5, NOW),
                Some(TrueBook {
                    update_id: event_number,
                    ..truth.clone()
                })
            );
            let best_bid = &truth.bids[0][0];
            let best_ask = &truth.asks[0][0];
            assert!(best_bid.parse::<f64>().ok() < best_ask.parse::<f64>().ok());
        }
        assert_eq!(
            books.snapshot("BTCUSDT", 10).map(|s| s.last_update_id),
            Some(previous)
        );
        assert!(books
            .true_book("BTCUSDT", BookKey::UpdateId, previous + 1, 5, NOW)
            .is_none());
    }

    #[test]
    fn the_history_gives_back_every_state_and_a_delisted_book_stops() {
        let mut books = Books::new(&["BTCUSDT".to_owned()], 5, 4);
        let mut seen = Vec::new();
        for _ in 0..100 {
            let id = books.tick(0)["BTCUSDT"][0].last_id;
            seen.push((id, books.snapshot("BTCUSDT", 100).expect("trading")));
        }
        for (id, snapshot) in seen {
            let truth = books
                .true_book("BTCUSDT", BookKey::UpdateId, id, 100, NOW)
                .expect("kept");
            assert_eq!((truth.bids, truth.asks), (snapshot.bids, snapshot.asks));
        }
        books.list("ETHUSDT", 1);
        books.delist("BTCUSDT");
        assert!(!books.knows("BTCUSDT") && books.knows("ETHUSDT"));
        assert_eq!(books.tick(0).keys().collect::<Vec<_>>(), ["ETHUSDT"]);
        assert!(books.snapshot("BTCUSDT", 5).is_none());
        assert!(books
            .true_book("BTCUSDT", BookKey::UpdateId, FIRST_UPDATE_ID, 5, NOW)
            .is_some());
    }

    #[test]
    fn faults_shape_the_stream_and_the_snapshot() {
        let symbols = vec!["BTCUSDT".to_owned()];
        let mut books = Books::new(&symbols, 3, DEFAULT_LEVELS);
        assert_eq!(books.inject(None, BookFault::Drop), 1);
        assert!(books.tick(0)["BTCUSDT"].is_empty(), "dropped");
        books.inject(Some("btcusdt"), BookFault::Duplicate);
        let duplicated = books.tick(0);
        assert_eq!(duplicated["BTCUSDT"].len(), 2);
        assert_eq!(
            duplicated["BTCUSDT"][0].last_id,
            duplicated["BTCUSDT"][1].last_id
        );
        books.inject(None, BookFault::Reorder);
        assert!(books.tick(0)["BTCUSDT"].is_empty(), "held back");
        let swapped = books.tick(0);
        assert!(
            swapped["BTCUSDT"][0].first_id > swapped["BTCUSDT"][1].last_id,
            "newer event first"
        );
        for _ in 0..30 {
            books.tick(0);
        }
        let current = books
            .snapshot("BTCUSDT", 5)
            .expect("snapshot")
            .last_update_id;
        books.inject(None, BookFault::StaleSnapshot);
        let stale = books
            .snapshot("BTCUSDT", 5)
            .expect("snapshot")
            .last_update_id;
        assert!(stale < current);
        assert_eq!(
            books.snapshot("BTCUSDT", 5).map(|s| s.last_update_id),
            Some(current)
        );
    }
}
