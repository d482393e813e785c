//! A gap is acked only once filled: a backfill that cannot reach the venue leaves it pending,
//! and the next backfill on the same durable consumer fills it.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use marketprism_model::{Exchange, Gap, GapReason, GapState, GapStatus, MarketType};
use tokio_util::sync::CancellationToken;

use crate::{latest_gaps, sim_config, start};

#[tokio::test]
async fn a_gap_not_filled_before_a_restart_is_filled_after_it() {
    let mut sim = sim_config(&["BTCUSDT"], 5_000);
    sim.count = Some(500);
    let run = start(
        sim,
        r#"venue = "bybit_linear"
        endpoint = "ws://SIM"
        symbols = ["BTC-USDT"]
        channels = ["trades"]"#,
    )
    .await;
    let collector = run.spawn_collector();
    let report = run.generated().await;
    let first = report.trades[0].trade_time_ms;
    let last = report.trades[report.trades.len() - 1].trade_time_ms;
    run.publish_gap(Gap {
        exchange: Exchange::Bybit,
        market_type: MarketType::Perpetual,
        symbol: "BTC-USDT".parse().expect("valid"),
        from_ms: first - 1,
        to_ms: last + 1,
        reason: GapReason::Stale,
        received_time_ms: last + 1,
        missing_ids: None,
        state: GapState::default(),
        collector: None,
    })
    .await;

    // A venue nobody answers at: the gap is delivered, never acked.
    let unreachable = CancellationToken::new();
    let failing = run.spawn_backfill_until(
        r#"[[venues]]
        venue = "bybit_linear"
        rest_endpoint = "http://127.0.0.1:1""#,
        unreachable.clone(),
    );
    let stream = &run.collector.nats.stream.name;
    let mut delivered = None;
    for _ in 0..300 {
        // The backfill creates its durable consumer as it starts.
        let found: Result<PullConsumer, _> = run
            .context
            .get_consumer_from_stream("marketprism-backfill", stream)
            .await;
        if let Ok(mut consumer) = found {
            let info = consumer.info().await.expect("consumer info");
            if info.delivered.stream_sequence > 0 {
                delivered = Some(consumer);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(mut consumer) = delivered else {
        panic!("the gap never reached the first backfill");
    };
    unreachable.cancel();
    failing.await.expect("join").expect("clean stop");
    let info = consumer.info().await.expect("consumer info");
    assert_eq!(info.ack_floor.stream_sequence, 0, "nothing acked");
    let open = latest_gaps(&run.events().await);
    assert!(open.values().all(|gap| gap.state.status.is_open()));

    let backfill = run.spawn_backfill(&format!(
        r#"[[venues]]
        venue = "bybit_linear"
        rest_endpoint = "http://{}""#,
        run.sim_address
    ));
    let decided = run.decided_gaps().await;
    run.shutdown.cancel();
    collector.await.expect("join").expect("collector");
    backfill.await.expect("join").expect("backfill");
    let gap = decided.values().next().expect("the gap");
    assert_eq!(gap.state.status, GapStatus::Filled, "{gap:?}");
    assert_eq!(gap.state.recovered, Some(500));
}
