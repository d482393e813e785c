//! Order books: a deterministic book per symbol, its `<symbol>@depth@100ms` diff stream, the
//! `GET /api/v3/depth` snapshot, and injectable faults.
//!
//! Every 100 ms each symbol's book changes a few levels on a fixed tick grid around its mid
//! price (bids strictly below, asks strictly above, so the true book never crosses); each
//! changed level consumes one update id, as on Binance, so an event covers `U..=u`. The last
//! [`HISTORY`] states per symbol are kept so tests can ask for the true book at any recent
//! update id.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::generator::now_ms;
use crate::server::{Outbound, Shared};

/// Interval of the diff-depth stream.
pub(crate) const UPDATE_INTERVAL: Duration = Duration::from_millis(100);

/// Book states kept per symbol for `/control/book` (a minute and a half of updates).
const HISTORY: usize = 1_000;

/// Levels per side around the mid price.
const LEVELS: i64 = 40;

/// First update id of every book.
const FIRST_UPDATE_ID: u64 = 5_000_000;

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
    history: VecDeque<(u64, Levels)>,
    pending_faults: VecDeque<BookFault>,
    /// An update held back to be sent after the next one (reorder).
    held: Option<String>,
}

/// The books of every symbol plus the generator's randomness.
pub(crate) struct Books {
    books: HashMap<String, SimBook>,
    rng: ChaCha8Rng,
}

/// `GET /api/v3/depth` answer.
#[derive(Debug, Serialize)]
pub(crate) struct DepthSnapshot {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

/// The true top of a book at one update id, for tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrueBook {
    /// The update id the state follows.
    pub update_id: u64,
    /// Bids `[price, quantity]`, best first, as the wire writes them.
    pub bids: Vec<[String; 2]>,
    /// Asks, best first.
    pub asks: Vec<[String; 2]>,
}

/// A price in ticks of 0.01, written with Binance's eight decimals.
fn price_text(ticks: i64) -> String {
    format!("{}.{:02}000000", ticks / 100, ticks % 100)
}

/// A quantity in units of 10^-8.
fn quantity_text(units: u64) -> String {
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
    /// A book per symbol, filled deterministically from `seed`.
    pub(crate) fn new(symbols: &[String], seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0b00_c0de);
        let books = symbols
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let symbol = name.to_ascii_uppercase();
                let mid_ticks = 100_000 * (index as i64 + 1);
                let mut levels = Levels::default();
                for offset in 1..=LEVELS {
                    levels
                        .bids
                        .insert(mid_ticks - offset, rng.random_range(1..=10_000_000_000));
                    levels
                        .asks
                        .insert(mid_ticks + offset, rng.random_range(1..=10_000_000_000));
                }
                let mut history = VecDeque::with_capacity(HISTORY);
                history.push_back((FIRST_UPDATE_ID, levels.clone()));
                let book = SimBook {
                    symbol: symbol.clone(),
                    levels,
                    mid_ticks,
                    last_update_id: FIRST_UPDATE_ID,
                    history,
                    pending_faults: VecDeque::new(),
                    held: None,
                };
                (symbol, book)
            })
            .collect();
        Books { books, rng }
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
        let (last_update_id, levels) = if stale {
            // Far enough back that the buffered stream cannot bridge it.
            let index = book.history.len().saturating_sub(20);
            let (id, levels) = &book.history[index];
            (*id, levels)
        } else {
            (book.last_update_id, &book.levels)
        };
        Some(DepthSnapshot {
            last_update_id,
            bids: side(&levels.bids, true, limit),
            asks: side(&levels.asks, false, limit),
        })
    }

    /// The true book of `symbol` right after `update_id`, if still in the history.
    pub(crate) fn true_book(&self, symbol: &str, update_id: u64, limit: usize) -> Option<TrueBook> {
        let book = self.books.get(&symbol.to_ascii_uppercase())?;
        // Each event covers U..=u; the state after u is the one recorded under u.
        let (id, levels) = book.history.iter().rev().find(|(id, _)| *id <= update_id)?;
        (*id == update_id).then(|| TrueBook {
            update_id,
            bids: side(&levels.bids, true, limit),
            asks: side(&levels.asks, false, limit),
        })
    }

    /// Advances every book by one event; returns the frames to send per symbol (already
    /// shaped by any queued fault).
    fn tick(&mut self, now: i64) -> Vec<(String, Vec<String>)> {
        let rng = &mut self.rng;
        let mut symbols: Vec<&String> = self.books.keys().collect();
        symbols.sort();
        let symbols: Vec<String> = symbols.into_iter().cloned().collect();
        symbols
            .into_iter()
            .filter_map(|symbol| {
                let book = self.books.get_mut(&symbol)?;
                let data = book.advance(rng, now);
                Some((symbol, book.shape(data)))
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
    /// Changes a few levels; returns the event's `data` JSON.
    fn advance(&mut self, rng: &mut ChaCha8Rng, now: i64) -> String {
        let changes = rng.random_range(1..=4);
        let first_id = self.last_update_id + 1;
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        for _ in 0..changes {
            let offset = rng.random_range(1..=LEVELS);
            let quantity = if rng.random_bool(0.25) {
                0
            } else {
                rng.random_range(1..=10_000_000_000)
            };
            let (levels, changed, price) = if rng.random_bool(0.5) {
                (&mut self.levels.bids, &mut bids, self.mid_ticks - offset)
            } else {
                (&mut self.levels.asks, &mut asks, self.mid_ticks + offset)
            };
            if quantity == 0 {
                levels.remove(&price);
            } else {
                levels.insert(price, quantity);
            }
            changed.push(format!(
                r#"["{}","{}"]"#,
                price_text(price),
                quantity_text(quantity)
            ));
        }
        self.last_update_id += changes;
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history
            .push_back((self.last_update_id, self.levels.clone()));
        format!(
            r#"{{"e":"depthUpdate","E":{now},"s":"{symbol}","U":{first_id},"u":{last_id},"b":[{bids}],"a":[{asks}]}}"#,
            symbol = self.symbol,
            last_id = self.last_update_id,
            bids = bids.join(","),
            asks = asks.join(","),
        )
    }

    /// The frames to send for a fresh event, after the queued stream fault, if any.
    fn shape(&mut self, data: String) -> Vec<String> {
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
            Some(BookFault::StaleSnapshot) | None => vec![data],
        }
    }
}

/// Advances the books every [`UPDATE_INTERVAL`] once a client has subscribed, sending each
/// event to the clients subscribed to that symbol's depth stream.
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
        let events = shared.books().tick(now_ms());
        let clients = shared.clients();
        for (symbol, frames) in events {
            let lower = symbol.to_ascii_lowercase();
            for client in clients.values() {
                let Some(stream) = ["depth@100ms", "depth"]
                    .into_iter()
                    .map(|suffix| format!("{lower}@{suffix}"))
                    .find(|stream| client.streams.contains(stream))
                else {
                    continue;
                };
                for data in &frames {
                    let text = if client.combined {
                        format!(r#"{{"stream":"{stream}","data":{data}}}"#)
                    } else {
                        data.clone()
                    };
                    client.offer(Outbound {
                        text,
                        trade_index: None,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_chain_and_the_history_answers_for_every_id() {
        let symbols = vec!["BTCUSDT".to_owned()];
        let mut books = Books::new(&symbols, 3);
        let start = books.snapshot("btcusdt", 1000).expect("known symbol");
        assert_eq!(start.last_update_id, FIRST_UPDATE_ID);
        assert_eq!(start.bids.len(), LEVELS as usize);
        let mut previous = FIRST_UPDATE_ID;
        for _ in 0..50 {
            let events = books.tick(0);
            let frame: serde_json::Value =
                serde_json::from_str(&events[0].1[0]).expect("valid JSON");
            assert_eq!(frame["U"], previous + 1, "U follows the previous u");
            previous = frame["u"].as_u64().expect("u");
            let truth = books.true_book("BTCUSDT", previous, 5).expect("recent id");
            let best_bid = &truth.bids[0][0];
            let best_ask = &truth.asks[0][0];
            assert!(best_bid.parse::<f64>().ok() < best_ask.parse::<f64>().ok());
        }
        assert_eq!(
            books.snapshot("BTCUSDT", 10).map(|s| s.last_update_id),
            Some(previous)
        );
        assert!(books.true_book("BTCUSDT", previous + 1, 5).is_none());
    }

    #[test]
    fn faults_shape_the_stream_and_the_snapshot() {
        let symbols = vec!["BTCUSDT".to_owned()];
        let mut books = Books::new(&symbols, 3);
        assert_eq!(books.inject(None, BookFault::Drop), 1);
        assert!(books.tick(0)[0].1.is_empty(), "dropped");
        books.inject(Some("btcusdt"), BookFault::Duplicate);
        let duplicated = books.tick(0);
        assert_eq!(duplicated[0].1.len(), 2);
        assert_eq!(duplicated[0].1[0], duplicated[0].1[1]);
        books.inject(None, BookFault::Reorder);
        assert!(books.tick(0)[0].1.is_empty(), "held back");
        let swapped = books.tick(0);
        let first: serde_json::Value = serde_json::from_str(&swapped[0].1[0]).expect("json");
        let second: serde_json::Value = serde_json::from_str(&swapped[0].1[1]).expect("json");
        assert!(
            first["U"].as_u64() > second["u"].as_u64(),
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
