//! Coinbase's two feeds against the simulator. On both, every trade the simulator delivered
//! is published once, as it was written (price, size, the taker's side from Coinbase's maker
//! side), and every published book equals the simulator's book at the time the book is named
//! by, its ids increasing across reconnects.
//!
//! * Advanced Trade: a message lost anywhere on the connection resynchronizes every book of
//!   the connection, each with one sequence-break gap, and books published after a reconnect
//!   (whose numbering starts again) are stored.
//! * Exchange: a book update Coinbase could not deliver closes the connection instead, so
//!   the loss is a disconnect gap of every instrument of the connection and no sequence
//!   break; the books are rebuilt from the snapshots of the next connection.

use std::collections::HashMap;
use std::time::Duration;

use marketprism_collector::VenueConfig;
use marketprism_model::{Event, GapReason, Side};
use marketprism_sim::{BookFault, BookKey, TrueBook};
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, finished_report, levels, sim_config, sim_symbol, start, Run};

/// The book depth the collector publishes.
const DEPTH: usize = 10;

/// The gaps of `reason` among `events`, per symbol.
fn gaps(events: &[Event], reason: GapReason) -> HashMap<String, usize> {
    let mut gaps = HashMap::new();
    for event in events {
        if let Event::Gap(gap) = event {
            if gap.reason == reason {
                *gaps.entry(gap.symbol.to_string()).or_default() += 1;
            }
        }
    }
    gaps
}

/// The published books per symbol.
fn books_per_symbol(events: &[Event]) -> HashMap<String, usize> {
    let mut books = HashMap::new();
    for event in events {
        if let Event::OrderBook(book) = event {
            *books.entry(book.symbol.to_string()).or_default() += 1;
        }
    }
    books
}

/// A run whose collector records trades and books of BTC-USDT and ETH-USDT on `venue` at
/// `path`, the simulator making eight seconds of trades.
async fn run_on(venue: VenueKind, path: &str) -> Run {
    const RATE: u32 = 40;
    let mut sim = sim_config(RATE);
    sim.count = Some(u64::from(RATE) * 8);
    let mut run = start(sim, "5s").await;
    run.config.venues[0] = VenueConfig {
        channels: vec![Channel::Trades, Channel::OrderBook],
        ..run.sim_venue(venue, path, &["BTC-USDT", "ETH-USDT"])
    };
    run.config.books.depth = DEPTH;
    run
}

/// Waits (up to fifteen seconds) until `condition` holds over the stream's events; returns
/// them.
async fn wait_for(run: &Run, condition: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let stream = &run.config.nats.stream.name;
    let mut events = Vec::new();
    for _ in 0..150 {
        events = all_events(&run.context, stream).await;
        if condition(&events) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events
}

/// Whether each of `before`'s symbols has published more than five books since.
fn books_after(events: &[Event], before: &HashMap<String, usize>) -> bool {
    let books = books_per_symbol(events);
    before
        .iter()
        .all(|(symbol, count)| books.get(symbol).is_some_and(|now| *now > count + 5))
}

/// Queues a book fault of `symbol` (Binance form) in the simulator.
async fn inject(run: &Run, kind: BookFault, symbol: &str) {
    reqwest::Client::new()
        .post(format!("http://{}/control/book-fault", run.sim_address))
        .json(&serde_json::json!({ "kind": kind, "symbol": symbol }))
        .send()
        .await
        .expect("fault injected");
}

/// Drops every connection of the simulator.
async fn disconnect(run: &Run) {
    reqwest::Client::new()
        .post(format!("http://{}/control/disconnect", run.sim_address))
        .send()
        .await
        .expect("disconnect");
}

/// Once the simulator is done: every trade it wrote as Coinbase is published once, as
/// written; returns the events then.
async fn trades_are_published_as_delivered(run: &Run) -> Vec<Event> {
    let report = finished_report(&run.sim_address).await;
    let delivered: Vec<_> = report
        .trades
        .iter()
        .filter(|trade| trade.venues.contains("coinbase/spot"))
        .collect();
    assert!(
        delivered.len() > 100,
        "{} trades delivered",
        delivered.len()
    );
    let published_trades = |events: &[Event]| -> HashMap<String, marketprism_model::Trade> {
        events
            .iter()
            .filter_map(|event| match event {
                Event::Trade(trade) => Some((
                    format!("{}:{}", sim_symbol(trade.symbol.as_str()), trade.trade_id),
                    trade.clone(),
                )),
                _ => None,
            })
            .collect()
    };
    let events = wait_for(run, |events| {
        published_trades(events).len() >= delivered.len()
    })
    .await;
    let published = published_trades(&events);
    for sent in &delivered {
        let key = format!("{}:{}", sent.symbol, sent.trade_id);
        let trade = published
            .get(&key)
            .unwrap_or_else(|| panic!("trade {key} delivered but not published"));
        assert_eq!(trade.price.to_string(), sent.price, "{key}");
        assert_eq!(trade.quantity.to_string(), sent.quantity, "{key}");
        let taker = if sent.buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        };
        assert_eq!(trade.side, taker, "{key}");
        assert_eq!(trade.exchange_time_ms, sent.trade_time_ms, "{key}");
        assert_eq!(trade.sequence, Some(sent.trade_id), "{key}");
    }
    assert_eq!(published.len(), delivered.len(), "nothing else published");
    events
}

/// Every published book equals the simulator's book at the time it is named by (its
/// update id, in units of `id_per_us` a microsecond), and a book's ids increase; no gap but
/// of the `allowed` reasons.
async fn books_are_true(run: &Run, events: &[Event], id_per_us: u64, allowed: &[GapReason]) {
    let client = reqwest::Client::new();
    let mut last_ids: HashMap<String, u64> = HashMap::new();
    let mut checked = 0;
    for event in events {
        let book = match event {
            Event::Gap(gap) => {
                assert!(allowed.contains(&gap.reason), "unexpected gap {gap:?}");
                continue;
            }
            Event::OrderBook(book) => book,
            _ => continue,
        };
        let last = last_ids.entry(book.symbol.to_string()).or_default();
        assert!(book.update_id > *last, "book ids run backwards: {book:?}");
        *last = book.update_id;
        let truth: TrueBook = client
            .get(format!(
                "http://{}/control/book?symbol={}&update_id={}&limit={DEPTH}&by={}",
                run.sim_address,
                sim_symbol(book.symbol.as_str()),
                book.update_id / id_per_us,
                BookKey::Time.as_str()
            ))
            .send()
            .await
            .expect("truth")
            .json()
            .await
            .expect("a true book exists for every published book's time");
        assert_eq!(book.bids, levels(&truth.bids), "bids of {book:?}");
        assert_eq!(book.asks, levels(&truth.asks), "asks of {book:?}");
        checked += 1;
    }
    assert!(checked > 50, "only {checked} books published");
}

#[tokio::test]
async fn coinbase_trades_and_books_match_the_simulator() {
    let run = run_on(VenueKind::CoinbaseSpot, "").await;
    let collector = run.spawn_collector();

    let before_fault = wait_for(&run, |events| {
        let books = books_per_symbol(events);
        books.len() == 2 && books.values().all(|count| *count > 5)
    })
    .await;
    let breaks = gaps(&before_fault, GapReason::SequenceBreak);
    assert!(breaks.is_empty(), "clean start: {breaks:?}");
    let books_before = books_per_symbol(&before_fault);
    assert_eq!(books_before.len(), 2, "books of both symbols");

    // One BTC-USDT book event lost: the hole in the connection's numbering breaks both books.
    inject(&run, BookFault::Drop, "BTCUSDT").await;
    let events = wait_for(&run, |events| {
        gaps(events, GapReason::SequenceBreak).len() == 2 && books_after(events, &books_before)
    })
    .await;
    assert_eq!(
        gaps(&events, GapReason::SequenceBreak),
        HashMap::from([("BTC-USDT".to_owned(), 1), ("ETH-USDT".to_owned(), 1)]),
        "one gap per book of the connection"
    );

    // A reconnect numbers messages from 0 again: books published after it are named after
    // those before, so none is taken for a duplicate of an earlier one.
    let books_before = books_per_symbol(&events);
    disconnect(&run).await;
    let events = wait_for(&run, |events| {
        !gaps(events, GapReason::Disconnect).is_empty() && books_after(events, &books_before)
    })
    .await;
    assert!(
        books_after(&events, &books_before),
        "books after the reconnect were not stored"
    );

    // Book ids are send times in nanoseconds.
    let events = trades_are_published_as_delivered(&run).await;
    let allowed = [
        GapReason::SequenceBreak,
        GapReason::BookUnsynced,
        GapReason::Disconnect,
        GapReason::TradeIdGap,
    ];
    books_are_true(&run, &events, 1_000, &allowed).await;

    run.stop(collector).await;
}

#[tokio::test]
async fn coinbase_exchange_trades_and_books_match_the_simulator() {
    let run = run_on(VenueKind::CoinbaseExchange, "/ws-feed").await;
    let collector = run.spawn_collector();

    let before_fault = wait_for(&run, |events| {
        let books = books_per_symbol(events);
        books.len() == 2 && books.values().all(|count| *count > 5)
    })
    .await;
    assert!(
        before_fault
            .iter()
            .all(|event| !matches!(event, Event::Gap(_))),
        "clean start"
    );
    let books_before = books_per_symbol(&before_fault);
    assert_eq!(books_before.len(), 2, "books of both symbols");

    // One BTC-USDT book update lost: Coinbase closes the connection rather than skip it.
    inject(&run, BookFault::Drop, "BTCUSDT").await;
    let events = wait_for(&run, |events| {
        gaps(events, GapReason::Disconnect).len() == 2 && books_after(events, &books_before)
    })
    .await;
    assert_eq!(
        gaps(&events, GapReason::Disconnect),
        HashMap::from([("BTC-USDT".to_owned(), 1), ("ETH-USDT".to_owned(), 1)]),
        "one gap per instrument of the connection"
    );
    assert!(books_after(&events, &books_before), "books rebuilt");

    // Book ids are update times in microseconds.
    let events = trades_are_published_as_delivered(&run).await;
    let allowed = [GapReason::Disconnect, GapReason::TradeIdGap];
    books_are_true(&run, &events, 1, &allowed).await;
    assert!(gaps(&events, GapReason::SequenceBreak).is_empty());

    run.stop(collector).await;
}
