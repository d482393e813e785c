//! Order books against the simulator's faults: every published book equals the simulator's
//! true book at its update id, and every fault that loses data yields exactly one gap.

use std::time::Duration;

use async_nats::jetstream;
use marketprism_collector::VenueConfig;
use std::collections::HashMap;

use marketprism_book::{Book, BookSide};
use marketprism_model::{Event, GapReason, OrderBook};
use marketprism_sim::{BookFault, TrueBook};
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, levels, sim_config, start};

fn books(events: &[Event]) -> impl Iterator<Item = &OrderBook> {
    events.iter().filter_map(|event| match event {
        Event::OrderBook(book) => Some(book),
        _ => None,
    })
}

fn gaps(events: &[Event], reason: GapReason) -> usize {
    events
        .iter()
        .filter(|event| matches!(event, Event::Gap(gap) if gap.reason == reason))
        .count()
}

/// Waits until `condition` holds over the stream's events (up to fifteen seconds).
async fn wait_for(
    context: &jetstream::Context,
    stream: &str,
    what: &str,
    condition: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    for _ in 0..150 {
        let events = all_events(context, stream).await;
        if condition(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn inject(sim: &str, kind: BookFault, symbol: &str) {
    reqwest::Client::new()
        .post(format!("http://{sim}/control/book-fault"))
        .json(&serde_json::json!({ "kind": kind, "symbol": symbol }))
        .send()
        .await
        .expect("fault injected");
}

/// The newest book's update id of the faulted symbol.
fn latest_update(events: &[Event], symbol: &str) -> u64 {
    books(events)
        .filter(|book| book.symbol.as_str() == symbol)
        .map(|book| book.update_id)
        .max()
        .unwrap_or(0)
}

/// One venue's book feed against the simulator.
struct Case {
    venue: VenueKind,
    /// Path appended to the simulator address for the WebSocket endpoint.
    path: &'static str,
    /// Whether the venue bootstraps books from the simulator's REST snapshot.
    rest: bool,
    /// The collector's symbols; the first one is faulted.
    symbols: [&'static str; 2],
    /// The simulator's symbols, in the same order.
    sim_symbols: [&'static str; 2],
    /// Whether published update ids are event numbers (Bybit's `u`).
    ids_are_events: bool,
}

impl Case {
    /// `venue` at the simulator's root path with BTC-USDT and ETH-USDT, its books snapshotted
    /// in the stream and numbered by update id.
    fn usdt(venue: VenueKind) -> Case {
        Case {
            venue,
            path: "",
            rest: false,
            symbols: ["BTC-USDT", "ETH-USDT"],
            sim_symbols: ["BTCUSDT", "ETHUSDT"],
            ids_are_events: false,
        }
    }
}

/// Every published book equals the simulator's true book at its update id; each injected
/// loss (a dropped event, two swapped events, and for REST venues a resync that first gets
/// a snapshot older than the stream) yields exactly one sequence-break gap; a duplicate is
/// skipped without a gap; a silent socket is replaced with one stale gap per symbol.
async fn books_stay_correct_through_every_fault(case: Case) {
    let sim = marketprism_sim::Config {
        symbols: case.sim_symbols.iter().map(|s| (*s).to_owned()).collect(),
        ..sim_config(10)
    };
    let mut run = start(sim, "1s").await;
    let venue = run.sim_venue(case.venue, case.path, &case.symbols);
    run.config.venues[0] = VenueConfig {
        rest_endpoint: venue.rest_endpoint.filter(|_| case.rest),
        channels: vec![Channel::OrderBook],
        ..venue
    };
    run.config.books.depth = 10;
    run.config.books.deltas = true;
    // The silenced simulator swallows subscribe replies too; retry sooner than the default.
    run.config.connection.subscribe_timeout = Duration::from_secs(2);
    let collector = run.spawn_collector();
    let stream = run.config.nats.stream.name.clone();
    let context = run.context.clone();
    let sim = run.sim_address.clone();
    let faulted_symbol = books_symbol(&case);

    let events = wait_for(&context, &stream, "books of both symbols", |events| {
        let symbols: std::collections::HashSet<&str> =
            books(events).map(|book| book.symbol.as_str()).collect();
        symbols.len() == 2 && books(events).count() > 20
    })
    .await;
    assert_eq!(gaps(&events, GapReason::SequenceBreak), 0, "clean start");

    let mut losses = vec![vec![BookFault::Drop], vec![BookFault::Reorder]];
    if case.rest {
        // The resync after the drop receives a snapshot older than the stream first.
        losses.push(vec![BookFault::StaleSnapshot, BookFault::Drop]);
    } else {
        losses.push(vec![BookFault::Drop]);
    }
    for (step, faults) in losses.into_iter().enumerate() {
        let before = latest_update(&all_events(&context, &stream).await, &faulted_symbol);
        for fault in faults {
            inject(&sim, fault, case.sim_symbols[0]).await;
        }
        // Recovered, and several correct books published since.
        wait_for(&context, &stream, "a sequence-break gap", |events| {
            gaps(events, GapReason::SequenceBreak) == step + 1
                && latest_update(events, &faulted_symbol) > before + 6
        })
        .await;
    }

    // A duplicate loses nothing: it is skipped, and no gap claims missing data.
    inject(&sim, BookFault::Duplicate, case.sim_symbols[0]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    // A silent socket is replaced; the connection's gap covers the books too.
    reqwest::Client::new()
        .post(format!("http://{sim}/control/silence"))
        .json(&serde_json::json!({ "ms": 2_500 }))
        .send()
        .await
        .expect("silenced");
    let before = latest_update(&all_events(&context, &stream).await, &faulted_symbol);
    let events = wait_for(&context, &stream, "books after the silence", |events| {
        gaps(events, GapReason::Stale) == 2 && latest_update(events, &faulted_symbol) > before + 3
    })
    .await;
    assert_eq!(
        gaps(&events, GapReason::SequenceBreak),
        3,
        "one gap per loss, none for the duplicate or the reconnect"
    );
    assert_eq!(gaps(&events, GapReason::CrossedBook), 0);

    if case.venue == VenueKind::OkxSwap {
        // A wrong checksum is caught, the book resubscribed and rebuilt: one gap.
        let before = latest_update(&events, &faulted_symbol);
        inject(&sim, BookFault::CorruptChecksum, case.sim_symbols[0]).await;
        wait_for(&context, &stream, "a checksum gap", |events| {
            gaps(events, GapReason::ChecksumMismatch) == 1
                && latest_update(events, &faulted_symbol) > before + 6
        })
        .await;
    }
    let events = all_events(&context, &stream).await;
    let expected_checksum_gaps = usize::from(case.venue == VenueKind::OkxSwap);
    assert_eq!(
        gaps(&events, GapReason::ChecksumMismatch),
        expected_checksum_gaps
    );

    let client = reqwest::Client::new();
    let mut checked = 0;
    for book in books(&events) {
        let index = usize::from(book.symbol.as_str() != faulted_symbol);
        let by = if case.ids_are_events { "&by=event" } else { "" };
        let truth: TrueBook = client
            .get(format!(
                "http://{sim}/control/book?symbol={}&update_id={}&limit=10{by}",
                case.sim_symbols[index], book.update_id
            ))
            .send()
            .await
            .expect("truth")
            .json()
            .await
            .expect("a true book exists for every published update id");
        assert_eq!(book.bids, levels(&truth.bids), "bids at {}", book.update_id);
        assert_eq!(book.asks, levels(&truth.asks), "asks at {}", book.update_id);
        checked += 1;
    }
    assert!(checked > 50, "only {checked} books published");
    assert_eq!(
        rebuilt_from_deltas(&events),
        checked,
        "the published deltas rebuild every published book"
    );

    run.stop(collector).await;
}

/// Rebuilds each book from the `orderbook_delta` events alone and counts the published top-N
/// books the rebuilt book matches at the same update id; panics on the first mismatch.
///
/// Consumers apply a feed as the contract says: the stream keeps order per subject and
/// publishes nothing that follows a gap before it, so between two gaps of a symbol its
/// deltas and books apply in update-id order (a snapshot before a delta with the same id, a
/// book after the deltas up to its id). A snapshot resets the book; a gap invalidates it
/// until the next snapshot.
fn rebuilt_from_deltas(events: &[Event]) -> usize {
    // Per symbol, its book events between gaps.
    let mut segments: HashMap<String, Vec<Vec<&Event>>> = HashMap::new();
    for event in events {
        let symbol_segments = segments.entry(event.symbol().to_string()).or_default();
        match event {
            Event::Gap(_) => symbol_segments.push(Vec::new()),
            Event::OrderBookDelta(_) | Event::OrderBook(_) => match symbol_segments.last_mut() {
                Some(segment) => segment.push(event),
                None => symbol_segments.push(vec![event]),
            },
            _ => {}
        }
    }
    let order = |event: &&Event| match event {
        Event::OrderBookDelta(delta) => (delta.update_id, if delta.snapshot { 0 } else { 1 }),
        Event::OrderBook(book) => (book.update_id, 2),
        _ => (0, 3),
    };
    let mut matched = 0;
    for mut segment in segments.into_values().flatten() {
        segment.sort_by_key(order);
        let mut rebuilt: Option<Book> = None;
        for event in segment {
            match event {
                Event::OrderBookDelta(delta) if delta.snapshot => {
                    let mut fresh = Book::new();
                    fresh.apply_snapshot(&delta.bids, &delta.asks);
                    rebuilt = Some(fresh);
                }
                Event::OrderBookDelta(delta) => {
                    if let Some(book) = rebuilt.as_mut() {
                        book.apply_levels(BookSide::Bid, &delta.bids);
                        book.apply_levels(BookSide::Ask, &delta.asks);
                    }
                }
                Event::OrderBook(published) => {
                    let book = rebuilt
                        .as_ref()
                        .expect("a rebuilt book exists before every published one");
                    assert_eq!(book.top(BookSide::Bid, 10), published.bids);
                    assert_eq!(book.top(BookSide::Ask, 10), published.asks);
                    matched += 1;
                }
                _ => {}
            }
        }
    }
    matched
}

/// The normalized symbol the collector publishes for the faulted instrument.
fn books_symbol(case: &Case) -> String {
    let configured = case.symbols[0];
    match case.venue {
        VenueKind::DeribitPerpetual => "BTC-USD".to_owned(),
        _ => configured.trim_end_matches("-SWAP").to_owned(),
    }
}

#[tokio::test]
async fn binance_spot_books_stay_correct() {
    books_stay_correct_through_every_fault(Case {
        rest: true,
        ..Case::usdt(VenueKind::BinanceSpot)
    })
    .await;
}

#[tokio::test]
async fn binance_usdm_books_stay_correct() {
    books_stay_correct_through_every_fault(Case {
        path: "/fapi",
        rest: true,
        ..Case::usdt(VenueKind::BinanceUsdm)
    })
    .await;
}

#[tokio::test]
async fn okx_books_stay_correct() {
    books_stay_correct_through_every_fault(Case {
        symbols: ["BTC-USDT-SWAP", "ETH-USDT"],
        ..Case::usdt(VenueKind::OkxSwap)
    })
    .await;
}

#[tokio::test]
async fn deribit_books_stay_correct() {
    books_stay_correct_through_every_fault(Case {
        symbols: ["BTC-PERPETUAL", "ETH-PERPETUAL"],
        sim_symbols: ["BTCUSD", "ETHUSD"],
        ..Case::usdt(VenueKind::DeribitPerpetual)
    })
    .await;
}

#[tokio::test]
async fn bybit_books_stay_correct() {
    books_stay_correct_through_every_fault(Case {
        ids_are_events: true,
        ..Case::usdt(VenueKind::BybitLinear)
    })
    .await;
}
