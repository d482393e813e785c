//! Every capture in the fixtures replays without a parse error, and every book stays in sync
//! (the captures are continuous: any break would be ours).

use std::collections::BTreeMap;

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
                    assert!(
                        venue == "coinbase" || venue == "bybit",
                        "unexpected unsupported feed {venue}"
                    );
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
    ] {
        let figures = &stats[feed];
        assert!(figures.book_updates_applied > 0, "{feed}: no book applied");
        assert!(figures.books_published > 0, "{feed}: no book published");
    }
    for feed in ["binance-spot", "binance-usdm", "okx", "bybit/linear"] {
        assert!(stats[feed].trades > 0, "{feed}: no trades");
    }
}
