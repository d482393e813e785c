//! Book apply throughput for 20-, 400- and 1,000-level books: deltas through the sequencer
//! (continuity checks, crossed-book check, position tracking) against the same level writes
//! on a bare `BTreeMap`, measured in the same run. `cargo xtask bench` reports updates/s and
//! the ratio.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use marketprism_book::{Book, BookUpdate, Sequencer, SyncRule, UpdateKind};
use marketprism_model::{Decimal, PriceLevel};

/// Updates per measured batch.
const UPDATES: usize = 10_000;

/// A deterministic pseudo-random sequence (xorshift), so every run applies the same stream.
struct Draw(u64);

impl Draw {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn level(ticks: i64, quantity: u64) -> PriceLevel {
    PriceLevel::new(Decimal::new(ticks, 2), Decimal::new(quantity as i64, 8))
}

/// A snapshot of `depth` levels per side around 1000.00 and a stream of deltas that change
/// one to four levels within the book (a quarter of them deletions, refilled later).
fn workload(depth: i64) -> (BookUpdate, Vec<BookUpdate>) {
    let mid = 100_000;
    let snapshot = BookUpdate {
        kind: UpdateKind::Snapshot,
        first_id: 1,
        last_id: 1,
        prev_id: None,
        bids: (1..=depth)
            .map(|offset| level(mid - offset, 100_000_000))
            .collect(),
        asks: (1..=depth)
            .map(|offset| level(mid + offset, 100_000_000))
            .collect(),
        checksum: None,
        exchange_time_ms: Some(0),
        received_time_ms: 0,
    };
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
    let deltas = (0..UPDATES as u64)
        .map(|index| {
            let mut bids = Vec::new();
            let mut asks = Vec::new();
            for _ in 0..=draw.next(4) {
                let offset = 1 + draw.next(depth as u64) as i64;
                let quantity = if draw.next(4) == 0 {
                    0
                } else {
                    1 + draw.next(1 << 30)
                };
                if draw.next(2) == 0 {
                    bids.push(level(mid - offset, quantity));
                } else {
                    asks.push(level(mid + offset, quantity));
                }
            }
            BookUpdate {
                kind: UpdateKind::Delta,
                first_id: index + 2,
                last_id: index + 2,
                prev_id: None,
                bids,
                asks,
                checksum: None,
                exchange_time_ms: Some(index as i64),
                received_time_ms: index as i64,
            }
        })
        .collect();
    (snapshot, deltas)
}

fn apply(c: &mut Criterion) {
    for depth in [20, 400, 1_000] {
        let (snapshot, deltas) = workload(depth);
        let mut group = c.benchmark_group(format!("book_apply_{depth}_levels"));
        group.throughput(Throughput::Elements(UPDATES as u64));
        group.bench_function("marketprism_sequencer", |bencher| {
            bencher.iter_batched(
                || {
                    let mut sequencer =
                        Sequencer::with_book(SyncRule::Bybit, Book::with_max_depth(1_000));
                    sequencer.apply(snapshot.clone()).expect("snapshot applies");
                    (sequencer, deltas.clone())
                },
                |(mut sequencer, deltas)| {
                    for delta in deltas {
                        black_box(sequencer.apply(delta).is_ok());
                    }
                    sequencer
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function("baseline_btreemap", |bencher| {
            bencher.iter_batched(
                || {
                    let side = |levels: &[PriceLevel]| -> BTreeMap<Decimal, Decimal> {
                        levels
                            .iter()
                            .map(|level| (level.price, level.quantity))
                            .collect()
                    };
                    ((side(&snapshot.bids), side(&snapshot.asks)), deltas.clone())
                },
                |((mut bids, mut asks), deltas)| {
                    for delta in deltas {
                        for (side, levels) in [(&mut bids, &delta.bids), (&mut asks, &delta.asks)] {
                            for level in levels {
                                if level.quantity.is_zero() {
                                    side.remove(&level.price);
                                } else {
                                    side.insert(level.price, level.quantity);
                                }
                            }
                        }
                    }
                    black_box((bids, asks))
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, apply);
criterion_main!(benches);
