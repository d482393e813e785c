//! Each venue's documented chaining rule, on hand-built message sequences.

use marketprism_book::{
    okx_checksum, Book, BookSide, BookUpdate, DesyncReason, Progress, Sequencer, Skip, SyncRule,
    UpdateKind,
};
use marketprism_model::PriceLevel;

fn level(price: &str, quantity: &str) -> PriceLevel {
    PriceLevel::new(
        price.parse().expect("test price"),
        quantity.parse().expect("test quantity"),
    )
}

fn message(kind: UpdateKind, first_id: u64, last_id: u64, prev_id: Option<u64>) -> BookUpdate {
    BookUpdate {
        kind,
        first_id,
        last_id,
        prev_id,
        bids: vec![level("100", "1")],
        asks: vec![level("101", "1")],
        checksum: None,
        exchange_time_ms: Some(last_id as i64),
        received_time_ms: last_id as i64,
    }
}

fn snapshot(id: u64) -> BookUpdate {
    message(UpdateKind::Snapshot, id, id, None)
}

fn delta(first_id: u64, last_id: u64, prev_id: Option<u64>) -> BookUpdate {
    message(UpdateKind::Delta, first_id, last_id, prev_id)
}

/// A snapshot without venue time, as Binance spot's REST depth answers, received long after
/// the stream times of these tests.
fn timeless_snapshot(id: u64) -> BookUpdate {
    BookUpdate {
        exchange_time_ms: None,
        received_time_ms: RECEIVED_LATE_MS,
        ..snapshot(id)
    }
}

const RECEIVED_LATE_MS: i64 = 999_999;

/// The id and published venue time of every update reported since the last call.
fn applied_times(sequencer: &mut Sequencer) -> Vec<(u64, i64)> {
    sequencer
        .take_applied()
        .into_iter()
        .map(|applied| (applied.update.last_id, applied.exchange_time_ms))
        .collect()
}

fn position_time(sequencer: &Sequencer) -> Option<(u64, i64)> {
    sequencer
        .position()
        .map(|position| (position.update_id, position.exchange_time_ms))
}

#[test]
fn binance_spot_bridges_a_snapshot_inside_an_event_and_chains_by_plus_one() {
    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot);
    assert_eq!(sequencer.apply(delta(90, 95, None)), Ok(Progress::Buffered));
    assert_eq!(
        sequencer.apply(delta(96, 103, None)),
        Ok(Progress::Buffered)
    );
    assert!(sequencer.book().is_none(), "no book before the snapshot");
    // lastUpdateId 100: 90..=95 is stale, 96..=103 bridges (96 <= 101 <= 103).
    assert_eq!(sequencer.apply(snapshot(100)), Ok(Progress::Applied));
    assert_eq!(sequencer.position().map(|p| p.update_id), Some(103));
    assert_eq!(
        sequencer.apply(delta(104, 110, None)),
        Ok(Progress::Applied)
    );
    assert_eq!(
        sequencer.apply(delta(104, 110, None)),
        Ok(Progress::Skipped(Skip::AlreadyApplied))
    );
    let desync = sequencer
        .apply(delta(112, 115, None))
        .expect_err("111 is missing");
    assert!(matches!(
        desync.reason,
        DesyncReason::Sequence {
            last_applied: 110,
            first_id: 112,
            ..
        }
    ));
    assert_eq!(
        desync.since_ms,
        Some(110),
        "the outage starts at the last good update"
    );
    assert!(sequencer.book().is_none() && sequencer.needs_snapshot());
    assert_eq!(
        sequencer.buffered(),
        1,
        "the breaking event is kept for the next snapshot"
    );
    assert_eq!(
        sequencer.apply(delta(116, 120, None)),
        Ok(Progress::Buffered)
    );
    match sequencer.apply(snapshot(114)) {
        Ok(Progress::Recovered(outage)) => {
            assert_eq!((outage.from_ms, outage.to_ms), (110, 120));
        }
        other => panic!("expected recovery, got {other:?}"),
    }
}

#[test]
fn binance_snapshot_older_than_the_stream_is_rejected_and_the_stream_kept() {
    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot);
    sequencer.apply(delta(200, 210, None)).expect("buffered");
    let desync = sequencer
        .apply(snapshot(150))
        .expect_err("151..199 missing");
    assert_eq!(
        desync.reason,
        DesyncReason::SnapshotBehind {
            snapshot_id: 150,
            first_id: 200
        }
    );
    assert_eq!(
        desync.since_ms,
        Some(150),
        "the book is known up to the snapshot; updates after it are missing"
    );
    assert_eq!(sequencer.buffered(), 1);
    assert!(matches!(
        sequencer.apply(snapshot(205)),
        Ok(Progress::Recovered(_))
    ));
    assert_eq!(sequencer.position().map(|p| p.update_id), Some(210));
}

#[test]
fn binance_usdm_bridges_with_u_equal_to_the_snapshot_and_chains_by_pu() {
    let mut sequencer = Sequencer::new(SyncRule::BinanceUsdm);
    sequencer.apply(delta(80, 99, Some(70))).expect("buffered");
    sequencer
        .apply(delta(101, 120, Some(99)))
        .expect("buffered");
    // lastUpdateId 120: 80..=99 is stale (u < 120), 101..=120 bridges (U <= 120 <= u).
    assert_eq!(sequencer.apply(snapshot(120)), Ok(Progress::Applied));
    // Futures ids are not contiguous: only pu matters.
    assert_eq!(
        sequencer.apply(delta(130, 140, Some(120))),
        Ok(Progress::Applied)
    );
    assert!(sequencer.apply(delta(150, 160, Some(145))).is_err());

    // A snapshot taken exactly at an event boundary is continued by the event whose `pu` is
    // its id, even though that event's `U` is past it.
    let mut sequencer = Sequencer::new(SyncRule::BinanceUsdm);
    sequencer.apply(snapshot(200)).expect("snapshot");
    assert_eq!(
        sequencer.apply(delta(205, 210, Some(200))),
        Ok(Progress::Applied)
    );
    let mut sequencer = Sequencer::new(SyncRule::BinanceUsdm);
    sequencer.apply(snapshot(200)).expect("snapshot");
    assert!(
        sequencer.apply(delta(205, 210, Some(203))).is_err(),
        "203 is not the snapshot: 201..=203 are missing"
    );
}

#[test]
fn okx_chains_by_identity_accepts_a_reset_and_verifies_checksums() {
    let mut sequencer = Sequencer::new(SyncRule::Okx);
    assert_eq!(
        sequencer.apply(delta(5, 5, Some(4))),
        Ok(Progress::Skipped(Skip::BeforeSnapshot))
    );
    sequencer.apply(snapshot(10)).expect("snapshot");
    assert_eq!(
        sequencer.apply(delta(15, 15, Some(10))),
        Ok(Progress::Applied)
    );
    // No change: seqId == prevSeqId == previous seqId.
    assert_eq!(
        sequencer.apply(delta(15, 15, Some(15))),
        Ok(Progress::Applied)
    );
    // After maintenance seqId may restart lower; the identity still holds.
    assert_eq!(
        sequencer.apply(delta(3, 3, Some(15))),
        Ok(Progress::Applied)
    );

    let mut book = Book::new();
    book.apply_snapshot(&[level("100", "1")], &[level("101", "1")]);
    let mut checked = delta(4, 4, Some(3));
    checked.checksum = Some(okx_checksum(&book));
    assert_eq!(sequencer.apply(checked.clone()), Ok(Progress::Applied));
    let mut wrong = delta(6, 6, Some(4));
    wrong.checksum = Some(okx_checksum(&book).wrapping_add(1));
    let desync = sequencer.apply(wrong).expect_err("checksum mismatch");
    assert!(matches!(
        desync.reason,
        DesyncReason::Checksum { last_id: 6, .. }
    ));
}

#[test]
fn deribit_chains_by_prev_change_id() {
    let mut sequencer = Sequencer::new(SyncRule::Deribit);
    sequencer.apply(snapshot(1_000)).expect("snapshot");
    assert_eq!(
        sequencer.apply(delta(1_007, 1_007, Some(1_000))),
        Ok(Progress::Applied)
    );
    assert_eq!(
        sequencer.apply(delta(1_007, 1_007, Some(1_000))),
        Ok(Progress::Skipped(Skip::AlreadyApplied))
    );
    assert!(sequencer.apply(delta(1_020, 1_020, Some(1_010))).is_err());
    assert_eq!(
        sequencer.apply(delta(1_030, 1_030, Some(1_020))),
        Ok(Progress::Skipped(Skip::BeforeSnapshot))
    );
    assert!(matches!(
        sequencer.apply(snapshot(1_040)),
        Ok(Progress::Recovered(_))
    ));
}

/// Coinbase Advanced Trade numbers messages per connection: the parser chains each book's
/// messages, naming the book's previous one when no message of the connection was lost since.
#[test]
fn coinbase_advanced_continues_while_the_book_s_chain_is_unbroken() {
    let mut sequencer = Sequencer::new(SyncRule::CoinbaseAdvanced);
    assert_eq!(
        sequencer.apply(delta(3, 3, None)),
        Ok(Progress::Skipped(Skip::BeforeSnapshot))
    );
    sequencer.apply(snapshot(13)).expect("snapshot");
    // Messages between were other channels' or books'; none was lost.
    assert_eq!(
        sequencer.apply(delta(21, 21, Some(13))),
        Ok(Progress::Applied)
    );
    assert_eq!(
        sequencer.apply(delta(21, 21, None)),
        Ok(Progress::Skipped(Skip::AlreadyApplied))
    );
    // A message of the connection was lost after the book's message 21: the next message of
    // the book follows nothing.
    let desync = sequencer.apply(delta(44, 44, None)).expect_err("lost");
    assert!(matches!(
        desync.reason,
        DesyncReason::Sequence {
            last_applied: 21,
            prev_id: None,
            ..
        }
    ));
    assert_eq!(
        sequencer.apply(delta(45, 45, Some(44))),
        Ok(Progress::Skipped(Skip::BeforeSnapshot))
    );
    assert!(matches!(
        sequencer.apply(snapshot(52)),
        Ok(Progress::Recovered(_))
    ));
    assert_eq!(
        sequencer.apply(delta(60, 60, Some(52))),
        Ok(Progress::Applied)
    );
}

#[test]
fn coinbase_exchange_updates_follow_in_order() {
    let mut sequencer = Sequencer::new(SyncRule::CoinbaseExchange);
    sequencer.apply(snapshot(0)).expect("snapshot");
    assert_eq!(sequencer.apply(delta(7, 7, None)), Ok(Progress::Applied));
    assert_eq!(sequencer.apply(delta(8, 8, None)), Ok(Progress::Applied));
}

/// A Coinbase Exchange snapshot has neither id nor time: it takes both from the first update
/// applied on top of it, its id the one just before, so that each snapshot of a book is
/// published under an id of its own.
#[test]
fn a_coinbase_exchange_snapshot_takes_its_id_and_time_from_the_update_after_it() {
    let mut sequencer = Sequencer::new(SyncRule::CoinbaseExchange).record_applied();
    let timeless = || BookUpdate {
        exchange_time_ms: None,
        ..snapshot(0)
    };
    sequencer.apply(timeless()).expect("snapshot");
    assert!(sequencer.take_applied().is_empty(), "waits for a time");
    sequencer.apply(delta(7, 7, None)).expect("applied");
    sequencer.apply(delta(8, 8, None)).expect("applied");
    sequencer.apply(timeless()).expect("snapshot");
    sequencer.apply(delta(10, 10, None)).expect("applied");
    let applied: Vec<(UpdateKind, u64, i64)> = sequencer
        .take_applied()
        .into_iter()
        .map(|applied| {
            (
                applied.update.kind,
                applied.update.last_id,
                applied.exchange_time_ms,
            )
        })
        .collect();
    assert_eq!(
        applied,
        [
            (UpdateKind::Snapshot, 6, 7),
            (UpdateKind::Delta, 7, 7),
            (UpdateKind::Delta, 8, 8),
            (UpdateKind::Snapshot, 9, 10),
            (UpdateKind::Delta, 10, 10),
        ]
    );
    // A snapshot with an id keeps it.
    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot).record_applied();
    sequencer.apply(timeless_snapshot(100)).expect("snapshot");
    sequencer.apply(delta(99, 104, None)).expect("bridge");
    assert_eq!(applied_times(&mut sequencer), [(100, 104), (104, 104)]);
}

/// A snapshot deeper than the book keeps is recorded as the book keeps it: the levels the
/// book dropped are not published.
#[test]
fn a_snapshot_deeper_than_the_book_is_recorded_as_kept() {
    let mut sequencer =
        Sequencer::with_book(SyncRule::CoinbaseExchange, Book::with_max_depth(2)).record_applied();
    let deep = BookUpdate {
        bids: vec![
            level("100", "1"),
            level("99", "0"),
            level("98", "2"),
            level("97", "3"),
        ],
        asks: vec![level("101", "1"), level("102", "2")],
        ..snapshot(5)
    };
    sequencer.apply(deep).expect("snapshot");
    let applied = sequencer.take_applied();
    let [recorded] = applied.as_slice() else {
        panic!("expected the snapshot: {applied:?}");
    };
    assert_eq!(
        recorded.update.bids,
        [level("100", "1"), level("98", "2")],
        "the book's two best bids"
    );
    assert_eq!(
        recorded.update.asks,
        [level("101", "1"), level("102", "2")],
        "a side within the bound is recorded as sent"
    );
}

#[test]
fn bybit_restart_snapshot_with_u_one_resets_the_book() {
    let mut sequencer = Sequencer::new(SyncRule::Bybit);
    sequencer.apply(snapshot(500)).expect("snapshot");
    assert_eq!(
        sequencer.apply(delta(501, 501, None)),
        Ok(Progress::Applied)
    );
    let mut restart = snapshot(1);
    restart.bids = vec![level("99", "2")];
    assert_eq!(sequencer.apply(restart), Ok(Progress::Applied));
    let book = sequencer.book().expect("valid");
    assert_eq!(book.top(BookSide::Bid, 5), vec![level("99", "2")]);
    assert_eq!(sequencer.apply(delta(2, 2, None)), Ok(Progress::Applied));
    assert!(sequencer.apply(delta(4, 4, None)).is_err(), "3 is missing");
}

#[test]
fn a_crossed_book_is_never_vouched_for() {
    let mut sequencer = Sequencer::new(SyncRule::Bybit);
    sequencer.apply(snapshot(1)).expect("snapshot");
    let mut crossing = delta(2, 2, None);
    crossing.bids = vec![level("101.5", "1")];
    let desync = sequencer.apply(crossing).expect_err("crossed");
    assert!(matches!(desync.reason, DesyncReason::Crossed { .. }));
    assert!(sequencer.book().is_none());
}

#[test]
fn a_timeless_snapshot_takes_the_time_of_the_buffered_update_that_bridges_it() {
    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot).record_applied();
    sequencer.apply(delta(90, 95, None)).expect("buffered");
    sequencer.apply(delta(96, 103, None)).expect("buffered");
    sequencer.apply(delta(104, 106, None)).expect("buffered");
    assert_eq!(
        sequencer.apply(timeless_snapshot(100)),
        Ok(Progress::Applied)
    );
    assert_eq!(position_time(&sequencer), Some((106, 106)));
    assert_eq!(
        applied_times(&mut sequencer),
        vec![(100, 103), (103, 103), (106, 106)],
        "the snapshot is published at the time of its bridge, never at its receive time"
    );
}

#[test]
fn a_timeless_snapshot_ahead_of_its_bridge_waits_for_it() {
    // The same stream, the stale updates seen before the snapshot or after it: the book is
    // published at the bridge, with its time, either way.
    for stale_first in [true, false] {
        let mut sequencer = Sequencer::new(SyncRule::BinanceSpot).record_applied();
        let stale = [delta(90, 95, None), delta(96, 98, None)];
        if stale_first {
            for update in stale.clone() {
                assert_eq!(sequencer.apply(update), Ok(Progress::Buffered));
            }
        }
        assert_eq!(
            sequencer.apply(timeless_snapshot(100)),
            Ok(Progress::Applied)
        );
        if !stale_first {
            for update in stale {
                assert_eq!(
                    sequencer.apply(update),
                    Ok(Progress::Skipped(Skip::AlreadyApplied))
                );
            }
        }
        assert!(sequencer.book().is_some(), "the book is valid");
        assert_eq!(
            sequencer.position(),
            None,
            "but has no venue time to be published under"
        );
        assert!(sequencer.take_applied().is_empty());
        assert_eq!(sequencer.apply(delta(99, 104, None)), Ok(Progress::Applied));
        let position = sequencer.position().expect("published at the bridge");
        assert_eq!(
            (
                position.update_id,
                position.exchange_time_ms,
                position.received_time_ms
            ),
            (104, 104, 104)
        );
        assert_eq!(
            applied_times(&mut sequencer),
            vec![(100, 104), (104, 104)],
            "the snapshot is reported before its bridge, at the bridge's time"
        );
    }
}

#[test]
fn an_outage_repaired_by_a_timeless_snapshot_ends_at_the_time_it_takes() {
    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot);
    sequencer.apply(snapshot(100)).expect("snapshot");
    sequencer.apply(delta(101, 110, None)).expect("applied");
    sequencer
        .apply(delta(112, 115, None))
        .expect_err("111 is missing");
    // 112..=115 bridges 113: the outage ends at its time.
    match sequencer.apply(timeless_snapshot(113)) {
        Ok(Progress::Recovered(outage)) => {
            assert_eq!((outage.from_ms, outage.to_ms), (110, 115));
        }
        other => panic!("expected recovery, got {other:?}"),
    }

    // The snapshot contains the buffered update: the outage ends with the update after it.
    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot);
    sequencer.apply(snapshot(100)).expect("snapshot");
    sequencer.apply(delta(101, 110, None)).expect("applied");
    sequencer
        .apply(delta(112, 115, None))
        .expect_err("111 is missing");
    assert_eq!(
        sequencer.apply(timeless_snapshot(116)),
        Ok(Progress::Applied)
    );
    match sequencer.apply(delta(117, 120, None)) {
        Ok(Progress::Recovered(outage)) => {
            assert_eq!((outage.from_ms, outage.to_ms), (110, 120));
        }
        other => panic!("expected recovery, got {other:?}"),
    }

    let mut sequencer = Sequencer::new(SyncRule::BinanceSpot);
    let mut crossed = timeless_snapshot(100);
    crossed.bids = vec![level("102", "1")];
    let desync = sequencer.apply(crossed).expect_err("crossed");
    assert_eq!(desync.since_ms, None, "no venue time seen yet");
    sequencer.apply(delta(99, 103, None)).expect("buffered");
    match sequencer.apply(timeless_snapshot(101)) {
        Ok(Progress::Recovered(outage)) => {
            assert_eq!(
                (outage.from_ms, outage.to_ms),
                (103, 103),
                "the outage starts and ends at the first venue time"
            );
        }
        other => panic!("expected recovery, got {other:?}"),
    }
}
