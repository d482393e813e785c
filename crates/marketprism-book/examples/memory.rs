//! Resident memory of many full books: `symbols` books of `levels` levels per side in a
//! `BookTracker`, as a collector holds them. Prints one JSON object; `cargo xtask bench` runs
//! it in release mode and reports the figures.
//!
//! Usage: `memory [symbols] [levels]` (default 200 and 1000).

use marketprism_book::{BookTracker, BookUpdate, PublishSettings, SyncRule, UpdateKind};
use marketprism_model::{Decimal, Exchange, MarketType, PriceLevel, Symbol};

/// Resident set size of this process in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let symbols: u64 = args
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or(200);
    let levels: i64 = args
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000);
    let before = rss_kib();
    let mut tracker = BookTracker::new(
        Exchange::Binance,
        SyncRule::Bybit,
        PublishSettings {
            max_levels: levels as usize,
            ..PublishSettings::default()
        },
    );
    for index in 0..symbols {
        let Ok(symbol) = format!("S{index}-USDT").parse::<Symbol>() else {
            continue;
        };
        let mid = 10_000_000 + index as i64;
        let level =
            |ticks: i64| PriceLevel::new(Decimal::new(ticks, 4), Decimal::new(12_345_678, 8));
        let snapshot = BookUpdate {
            kind: UpdateKind::Snapshot,
            first_id: 1,
            last_id: 1,
            prev_id: None,
            bids: (1..=levels).map(|offset| level(mid - offset)).collect(),
            asks: (1..=levels).map(|offset| level(mid + offset)).collect(),
            checksum: None,
            exchange_time_ms: Some(0),
            received_time_ms: 0,
        };
        tracker.apply(MarketType::Spot, &symbol, snapshot);
    }
    let after = rss_kib();
    println!(
        "{{\"symbols\":{symbols},\"levels_per_side\":{levels},\"levels_held\":{},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"bytes_per_level\":{:.1}}}",
        tracker.levels_held(),
        (after.saturating_sub(before) * 1024) as f64 / tracker.levels_held().max(1) as f64
    );
}
