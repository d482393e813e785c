//! The publication cadence: one book per interval of venue time, aligned to the epoch, so
//! that two collectors of one feed publish the same books whenever they started.

use marketprism_book::{BookTracker, BookUpdate, PublishSettings, SyncRule, UpdateKind};
use marketprism_model::{Exchange, MarketType, PriceLevel, Symbol};

/// Venue time of update `id`: one update every 7 ms.
fn time_of(id: u64) -> i64 {
    1_700_000_000_000 + 7 * id as i64
}

fn update(kind: UpdateKind, id: u64) -> BookUpdate {
    let level = |price: &str| {
        PriceLevel::new(
            price.parse().expect("test price"),
            id.to_string().parse().expect("test quantity"),
        )
    };
    BookUpdate {
        kind,
        first_id: id,
        last_id: id,
        prev_id: None,
        bids: vec![level("100")],
        asks: vec![level("101")],
        checksum: None,
        exchange_time_ms: Some(time_of(id)),
        received_time_ms: time_of(id) + 3,
    }
}

/// The update ids of the books a tracker publishes when it starts at the snapshot `from`
/// and follows the deltas up to `to`.
fn published(from: u64, to: u64) -> Vec<u64> {
    let settings = PublishSettings {
        depth: 5,
        min_interval_ms: 50,
        ..PublishSettings::default()
    };
    let mut tracker = BookTracker::new(Exchange::Bybit, SyncRule::Bybit, settings);
    let symbol: Symbol = "BTC-USDT".parse().expect("symbol");
    std::iter::once(update(UpdateKind::Snapshot, from))
        .chain((from + 1..=to).map(|id| update(UpdateKind::Delta, id)))
        .filter_map(|update| {
            tracker
                .apply(MarketType::Perpetual, &symbol, update)
                .book
                .map(|book| book.update_id)
        })
        .collect()
}

#[test]
fn trackers_started_apart_publish_the_same_books_from_the_next_interval_on() {
    let early = published(0, 100);
    let late = published(13, 100);
    // Each publishes its first book at once, then the first update of every 50 ms interval.
    assert_eq!(late[0], 13);
    let window = |id: u64| time_of(id).div_euclid(50);
    let next_interval = late[1];
    assert_ne!(window(next_interval), window(13));
    assert_eq!(window(next_interval - 1), window(13));
    let shared: Vec<u64> = early
        .iter()
        .copied()
        .filter(|&id| id >= next_interval)
        .collect();
    assert_eq!(late[1..], shared[..]);
    assert!(shared.len() >= 10, "{shared:?}");
    // One book per interval, never two.
    for pair in early.windows(2) {
        assert_ne!(window(pair[0]), window(pair[1]), "{early:?}");
    }
}
