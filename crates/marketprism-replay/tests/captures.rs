//! Every capture in the fixtures replays without a parse error, and every book stays in sync
//! (the captures are continuous: any break would be ours).

use std::collections::{BTreeMap, HashMap};

use marketprism_book::PublishSettings;
use marketprism_capture::{captures, records};
use marketprism_model::Event;
use marketprism_replay::{FeedStats, ReplayError, Replayer};

#[test]
fn every_capture_replays_and_every_book_stays_in_sync() {
    let paths: Vec<_> = captures("")
        .expect("captures directory (set MARKETPRISM_CAPTURES to override)")
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    assert!(paths.len() >= 18, "expected the 18 fixture captures");
    let mut stats: BTreeMap<String, FeedStats> = BTreeMap::new();
    for path in &paths {
        let mut replayer = Replayer::new(PublishSettings::default());
        for record in records(path).expect("capture opens") {
            let record = record.expect("valid record");
            match replayer.replay(&record) {
                Ok(events) => {
                    for event in events {
                        if let Event::OrderBook(book) = &event {
                            let best_bid = book.bids.first().map(|level| level.price);
                            let best_ask = book.asks.first().map(|level| level.price);
                            if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
                                assert!(bid < ask, "crossed book published: {book:?}");
                            }
                        }
                        assert!(
                            !matches!(event, Event::Gap(_)),
                            "gap in a continuous capture {}: {event:?}",
                            path.display()
                        );
                    }
                }
                Err(ReplayError::UnsupportedFeed { venue, .. }) => {
                    assert!(venue == "bybit", "unexpected unsupported feed {venue}");
                }
                Err(error) => panic!("{}: {error}", path.display()),
            }
        }
        for (feed, figures) in replayer.stats() {
            *stats.entry(feed.clone()).or_default() += figures;
        }
    }

    println!(
        "{}",
        serde_json::to_string_pretty(&stats).expect("stats serialize")
    );
    for (feed, figures) in &stats {
        assert_eq!(figures.parse_errors, 0, "{feed}");
        assert_eq!(figures.sequence_breaks, 0, "{feed}");
        assert_eq!(figures.checksum_mismatches, 0, "{feed}");
        assert_eq!(figures.crossed_books, 0, "{feed}");
    }
    for feed in [
        "binance-spot",
        "binance-usdm",
        "okx",
        "deribit",
        "bybit/spot",
        "bybit/linear",
        "coinbase/advanced",
        "coinbase/exchange",
    ] {
        let figures = &stats[feed];
        assert!(figures.book_updates_applied > 0, "{feed}: no book applied");
        assert!(figures.books_published > 0, "{feed}: no book published");
    }
    for feed in [
        "binance-spot",
        "binance-usdm",
        "okx",
        "bybit/linear",
        "coinbase/advanced",
        "coinbase/exchange",
    ] {
        assert!(stats[feed].trades > 0, "{feed}: no trades");
    }
}

/// The venue time of every book a capture publishes, top-N and full-depth rows alike, never
/// runs backwards, and a Binance spot REST snapshot, which carries no time, is never published
/// under its receive time.
#[test]
fn published_book_times_never_run_backwards() {
    let paths: Vec<_> = captures("")
        .expect("captures directory (set MARKETPRISM_CAPTURES to override)")
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    let settings = PublishSettings {
        deltas: true,
        ..PublishSettings::default()
    };
    let mut violations = Vec::new();
    for path in &paths {
        let mut replayer = Replayer::new(settings);
        // The last venue time per book and row kind. Replay keeps a book per connection for
        // venues that send snapshots in the stream (a capture may carry an instrument on
        // several connections, each its own book), one per venue for Binance, whose
        // snapshots come over REST.
        let mut last_times: HashMap<(String, &str, String), i64> = HashMap::new();
        for record in records(path).expect("capture opens") {
            let record = record.expect("valid record");
            let Ok(events) = replayer.replay(&record) else {
                continue;
            };
            let connection = if record.venue.starts_with("binance") {
                String::new()
            } else {
                record.conn.clone()
            };
            for event in events {
                let (kind, subject, exchange_time_ms) = match &event {
                    Event::OrderBook(book) => ("orderbook", event.subject(), book.exchange_time_ms),
                    Event::OrderBookDelta(delta) => {
                        if delta.snapshot
                            && record.venue == "binance-spot"
                            && delta.exchange_time_ms == delta.received_time_ms
                        {
                            violations.push(format!(
                                "{} snapshot {}: published under its receive time",
                                path.display(),
                                event.subject()
                            ));
                        }
                        ("orderbook_delta", event.subject(), delta.exchange_time_ms)
                    }
                    _ => continue,
                };
                let last = last_times
                    .entry((connection.clone(), kind, subject.clone()))
                    .or_insert(exchange_time_ms);
                if exchange_time_ms < *last {
                    violations.push(format!(
                        "{} {kind} {subject}: venue time {exchange_time_ms} after {last}",
                        path.display()
                    ));
                }
                *last = exchange_time_ms;
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
