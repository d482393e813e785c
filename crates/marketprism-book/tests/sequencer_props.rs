//! Property tests: random snapshot + delta streams with lost, duplicated and reordered
//! updates, checked against a naive reference book that applies every update in order.

use std::collections::BTreeMap;

use marketprism_book::{
    okx_checksum, Book, BookSide, BookUpdate, Progress, Sequencer, SyncRule, UpdateKind,
};
use marketprism_model::{Decimal, PriceLevel};
use proptest::prelude::*;

/// The naive reference: every level of both sides as a sorted map, zero quantities removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Reference {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Reference {
    fn apply(&mut self, bids: &[PriceLevel], asks: &[PriceLevel]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for level in levels {
                if level.quantity.is_zero() {
                    side.remove(&level.price);
                } else {
                    side.insert(level.price, level.quantity);
                }
            }
        }
    }

    fn levels(map: &BTreeMap<Decimal, Decimal>) -> Vec<PriceLevel> {
        map.iter()
            .map(|(price, quantity)| PriceLevel::new(*price, *quantity))
            .collect()
    }

    fn matches(&self, book: &Book) -> bool {
        let mut bids = book.top(BookSide::Bid, usize::MAX);
        bids.reverse();
        bids == Reference::levels(&self.bids)
            && book.top(BookSide::Ask, usize::MAX) == Reference::levels(&self.asks)
    }

    fn checksum(&self) -> i32 {
        let mut book = Book::new();
        book.apply_snapshot(
            &Reference::levels(&self.bids),
            &Reference::levels(&self.asks),
        );
        okx_checksum(&book)
    }
}

/// One generated change: `(is_bid, price tick, quantity)`. Bids live on ticks 90..100 and asks
/// on 101..111, so a correct book never crosses.
type Change = (bool, u8, u8);

fn changes() -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec((any::<bool>(), 0u8..10, 0u8..4), 1..5)
}

fn levels(changes: &[Change], bid: bool) -> Vec<PriceLevel> {
    changes
        .iter()
        .filter(|(is_bid, _, _)| *is_bid == bid)
        .map(|(_, tick, quantity)| {
            let price = if bid {
                90 + *tick as i64
            } else {
                101 + *tick as i64
            };
            PriceLevel::new(Decimal::new(price, 0), Decimal::new(*quantity as i64, 1))
        })
        .collect()
}

/// What happens to each delta on its way to the sequencer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Deliver,
    Drop,
    Duplicate,
    SwapWithNext,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        16 => Just(Fault::Deliver),
        1 => Just(Fault::Drop),
        1 => Just(Fault::Duplicate),
        1 => Just(Fault::SwapWithNext),
    ]
}

#[derive(Debug, Clone)]
struct Scenario {
    rule: SyncRule,
    /// Per delta: its changes, the id step to it, and its fault.
    deltas: Vec<(Vec<Change>, u64, Fault)>,
    /// The snapshot reflects the deltas before this index.
    snapshot_at: usize,
    /// REST venues: how many delivered deltas precede the snapshot.
    snapshot_after: usize,
    /// OKX: send sequence ids (new frames) or only checksums (2021–22 frames).
    with_sequence_ids: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let rule = prop_oneof![
        Just(SyncRule::BinanceSpot),
        Just(SyncRule::BinanceUsdm),
        Just(SyncRule::Okx),
        Just(SyncRule::Deribit),
        Just(SyncRule::Bybit),
        Just(SyncRule::CoinbaseAdvanced),
    ];
    (
        rule,
        prop::collection::vec((changes(), 1u64..4, fault()), 1..40),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(
            |(rule, deltas, snapshot_at, snapshot_after, with_sequence_ids)| {
                let snapshot_at = snapshot_at.index(deltas.len() + 1);
                let snapshot_after = snapshot_after.index(deltas.len() + 1);
                Scenario {
                    rule,
                    deltas,
                    snapshot_at,
                    snapshot_after,
                    with_sequence_ids: with_sequence_ids || rule != SyncRule::Okx,
                }
            },
        )
}

/// The generated truth: every delta with venue ids, and the reference book after each.
struct Truth {
    updates: Vec<BookUpdate>,
    /// `states[i]` is the book after the first `i` deltas; `ids[i]` its update id.
    states: Vec<Reference>,
    ids: Vec<u64>,
}

fn truth(scenario: &Scenario) -> Truth {
    let mut id = 1_000;
    let mut reference = Reference::default();
    let mut truth = Truth {
        updates: Vec::new(),
        states: vec![reference.clone()],
        ids: vec![id],
    };
    for (index, (changes, step, _)) in scenario.deltas.iter().enumerate() {
        let previous = id;
        // Binance spot and Bybit ids are contiguous; the others only increase.
        id += match scenario.rule {
            SyncRule::Bybit => 1,
            _ => *step,
        };
        let (bids, asks) = (levels(changes, true), levels(changes, false));
        reference.apply(&bids, &asks);
        let first_id = match scenario.rule {
            SyncRule::BinanceSpot | SyncRule::BinanceUsdm | SyncRule::Bybit => previous + 1,
            SyncRule::Okx
            | SyncRule::Deribit
            | SyncRule::CoinbaseAdvanced
            | SyncRule::CoinbaseExchange => id,
        };
        let prev_id = match scenario.rule {
            // A connection carrying this book alone: unbroken since the previous delta.
            SyncRule::BinanceUsdm | SyncRule::Deribit | SyncRule::CoinbaseAdvanced => {
                Some(previous)
            }
            SyncRule::Okx if scenario.with_sequence_ids => Some(previous),
            _ => None,
        };
        let checksum = (scenario.rule == SyncRule::Okx).then(|| reference.checksum());
        truth.updates.push(BookUpdate {
            kind: UpdateKind::Delta,
            first_id,
            last_id: id,
            prev_id,
            bids,
            asks,
            checksum,
            exchange_time_ms: Some(index as i64 + 1),
            received_time_ms: index as i64 + 1,
        });
        truth.states.push(reference.clone());
        truth.ids.push(id);
    }
    truth
}

fn snapshot(truth: &Truth, at: usize, rule: SyncRule) -> BookUpdate {
    let state = &truth.states[at];
    BookUpdate {
        kind: UpdateKind::Snapshot,
        first_id: truth.ids[at],
        last_id: truth.ids[at],
        prev_id: None,
        bids: Reference::levels(&state.bids),
        asks: Reference::levels(&state.asks),
        checksum: (rule == SyncRule::Okx).then(|| state.checksum()),
        exchange_time_ms: Some(at as i64),
        received_time_ms: at as i64,
    }
}

/// The delivered stream: indices into `truth.updates` (or `None` for the snapshot), after
/// faults, plus whether an update the book needed was lost or reordered.
fn delivery(scenario: &Scenario) -> (Vec<Option<usize>>, bool) {
    let rest_snapshot = !scenario.rule.snapshot_in_stream();
    // The first delta a correct book needs: the one bridging the snapshot.
    // Every rule bridges with the delta right after the snapshot (USDⓈ-M also with the one
    // containing its id, which is then redundant).
    let first_needed = scenario.snapshot_at;
    let start = if rest_snapshot {
        0
    } else {
        scenario.snapshot_at
    };
    let mut order: Vec<usize> = (start..scenario.deltas.len()).collect();
    let mut broken = false;
    let mut position = 0;
    while position + 1 < order.len() {
        if scenario.deltas[order[position]].2 == Fault::SwapWithNext {
            let overtaken = scenario.deltas[order[position + 1]].2 != Fault::Drop;
            broken |= overtaken && order[position] >= first_needed;
            order.swap(position, position + 1);
            position += 2;
        } else {
            position += 1;
        }
    }
    let mut delivered = Vec::new();
    let mut first_dropped = None;
    for index in order {
        if scenario.deltas[index].2 == Fault::Drop {
            if index >= first_needed {
                first_dropped =
                    Some(first_dropped.map_or(index, |dropped: usize| dropped.min(index)));
            }
            continue;
        }
        // A loss is detectable once an update after it arrives.
        broken |= first_dropped.is_some_and(|dropped| dropped < index);
        delivered.push(Some(index));
        if scenario.deltas[index].2 == Fault::Duplicate {
            delivered.push(Some(index));
        }
    }
    let snapshot_position = if rest_snapshot {
        scenario.snapshot_after.min(delivered.len())
    } else {
        0
    };
    delivered.insert(snapshot_position, None);
    (delivered, broken)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn valid_books_match_the_reference_and_every_loss_is_reported(scenario in scenario()) {
        let truth = truth(&scenario);
        let (delivered, broken) = delivery(&scenario);
        let mut sequencer = Sequencer::new(scenario.rule);
        let mut desyncs = 0;
        for item in &delivered {
            let update = match item {
                Some(index) => truth.updates[*index].clone(),
                None => snapshot(&truth, scenario.snapshot_at, scenario.rule),
            };
            if sequencer.apply(update).is_err() {
                desyncs += 1;
            }
            if let (Some(book), Some(position)) = (sequencer.book(), sequencer.position()) {
                let state = truth.ids.iter().position(|id| *id == position.update_id);
                let state = state.map(|index| &truth.states[index]);
                prop_assert!(
                    state.is_some_and(|state| state.matches(book)),
                    "book at update {} differs from the reference", position.update_id
                );
            }
        }
        if scenario.with_sequence_ids {
            prop_assert_eq!(desyncs > 0, broken, "a desync is reported exactly when an update is lost");
        }

        // A fresh snapshot of the final state always brings the book back, reporting the
        // outage exactly once.
        let last = truth.updates.len();
        let progress = sequencer.apply(snapshot(&truth, last, scenario.rule));
        let recovered = matches!(progress, Ok(Progress::Recovered(_)));
        prop_assert!(progress.is_ok());
        prop_assert_eq!(recovered, desyncs > 0);
        let book = sequencer.book().expect("valid after a fresh snapshot");
        prop_assert!(truth.states[last].matches(book));
    }
}
