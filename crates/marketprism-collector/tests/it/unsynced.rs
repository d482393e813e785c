//! A book whose REST snapshots keep predating the stream: snapshots are fetched again with a
//! capped, jittered backoff (counted by the simulator), the book gets a `book_unsynced` gap
//! recorded open and then closed, and no request goes beyond the venue's limits.

use std::time::Duration;

use marketprism_collector::VenueConfig;
use marketprism_model::{Event, Gap, GapReason, GapStatus};
use marketprism_venues::{Channel, VenueKind};

use crate::{all_events, sim_config, sim_report, start};

/// Stale snapshots in a row after the break.
const STALE: usize = 5;

fn unsynced_gaps(events: &[Event]) -> Vec<&Gap> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Gap(gap) if gap.reason == GapReason::BookUnsynced => Some(gap),
            _ => None,
        })
        .collect()
}

fn books_of(events: &[Event], symbol: &str) -> usize {
    events
        .iter()
        .filter(|event| matches!(event, Event::OrderBook(book) if book.symbol.as_str() == symbol))
        .count()
}

/// When the simulator answered each depth snapshot request for `symbol`, Unix ms.
fn depth_requests(report: &marketprism_sim::Report, symbol: &str) -> Vec<i64> {
    report
        .rest_requests
        .iter()
        .filter(|request| {
            request
                .path
                .starts_with(&format!("/api/v3/depth?symbol={symbol}&"))
        })
        .map(|request| request.at_ms)
        .collect()
}

#[tokio::test]
async fn stale_snapshots_are_fetched_again_with_backoff_and_leave_a_book_unsynced_gap() {
    let mut run = start(sim_config(10), "30s").await;
    let venue = run.sim_venue(VenueKind::BinanceSpot, "", &["BTC-USDT", "ETH-USDT"]);
    run.config.venues[0] = VenueConfig {
        channels: vec![Channel::OrderBook],
        ..venue
    };
    run.config.books.depth = 10;
    // Retries after 25–50, 50–100, then 100–200 ms: the five stale snapshots keep the book
    // out of sync for at least 375 ms, past the 100 ms after which the gap is recorded.
    run.config.books.snapshot_retry_initial = Duration::from_millis(50);
    run.config.books.snapshot_retry_max = Duration::from_millis(200);
    run.config.books.unsynced_gap_after = Duration::from_millis(100);
    let collector = run.spawn_collector();
    let stream = run.config.nats.stream.name.clone();
    let sim = run.sim_address.clone();
    let http = reqwest::Client::new();

    let mut synced = false;
    for _ in 0..150 {
        let events = all_events(&run.context, &stream).await;
        if books_of(&events, "BTC-USDT") > 20 && books_of(&events, "ETH-USDT") > 0 {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(synced, "both books synced");

    // The next snapshots of BTCUSDT predate the stream; a dropped connection makes every
    // book fetch one.
    http.post(format!("http://{sim}/control/stale-snapshots"))
        .json(&serde_json::json!({ "n": STALE, "symbol": "BTCUSDT" }))
        .send()
        .await
        .expect("stale snapshots queued");
    // With the threshold this short, the first sync may have left its own gaps: only those
    // of the break count.
    let broken_ms = marketprism_model::now_ms();
    http.post(format!("http://{sim}/control/disconnect"))
        .send()
        .await
        .expect("connection dropped");

    let mut closed = Vec::new();
    for _ in 0..150 {
        let events = all_events(&run.context, &stream).await;
        closed = unsynced_gaps(&events)
            .into_iter()
            .filter(|gap| {
                gap.symbol.as_str() == "BTC-USDT"
                    && gap.from_ms >= broken_ms
                    && gap.state.status == GapStatus::Closed
            })
            .cloned()
            .collect::<Vec<_>>();
        if closed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = sim_report(&sim).await;
    let events = all_events(&run.context, &stream).await;
    run.stop(collector).await;

    // One snapshot at the start, one after the reconnect, one more per stale snapshot: no
    // storm.
    let btc_requests = depth_requests(&report, "BTCUSDT");
    assert_eq!(btc_requests.len(), 2 + STALE);
    assert_eq!(depth_requests(&report, "ETHUSDT").len(), 2);
    // The reconnect's first request goes out at once; each that follows a stale snapshot waits
    // at least half its backoff ceiling (50, 100, then 200 ms).
    let waits: Vec<i64> = btc_requests[1..]
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .collect();
    for (retry, wait) in waits.iter().enumerate() {
        let floor = (50_i64 << retry).min(200) / 2;
        assert!(*wait >= floor, "retry {retry} after {wait} ms: {waits:?}");
    }

    // Recorded open once the threshold was crossed; closed at sync under the same key, and a
    // closed gap from the loss of sync to the sync.
    let btc: Vec<&Gap> = unsynced_gaps(&events)
        .into_iter()
        .filter(|gap| gap.symbol.as_str() == "BTC-USDT" && gap.from_ms >= broken_ms)
        .collect();
    let open: Vec<&&Gap> = btc
        .iter()
        .filter(|gap| gap.state.status == GapStatus::Open)
        .collect();
    assert_eq!(open.len(), 1, "{btc:?}");
    let open = open[0];
    assert!(open.to_ms - open.from_ms >= 100, "{open:?}");
    assert_eq!(closed.len(), 2, "{btc:?}");
    assert!(closed
        .iter()
        .any(|gap| (gap.from_ms, gap.to_ms) == (open.from_ms, open.to_ms)));
    let whole = closed
        .iter()
        .find(|gap| gap.to_ms > open.to_ms)
        .expect("a closed gap to the sync");
    assert_eq!(whole.from_ms, open.from_ms);
    assert!(whole.to_ms - whole.from_ms >= 375, "{whole:?}");

    // Nothing beyond the venue's limits.
    let usage = &report.rest_usage["binance_spot"];
    assert_eq!(
        (usage.answered_429, usage.answered_418),
        (0, 0),
        "{usage:?}"
    );
    assert!(usage.peak_window_weight <= usage.limit, "{usage:?}");
}
