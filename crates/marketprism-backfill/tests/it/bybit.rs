//! Bybit serves only its latest 1000 trades: a gap older than those is `unfillable`, one
//! reaching into them `partial`, one inside them `filled`.

use marketprism_model::{Exchange, Gap, GapReason, GapState, GapStatus, MarketType, TradeSource};

use crate::{latest_gaps, sim_config, start};

#[tokio::test]
async fn gaps_beyond_the_latest_1000_trades_are_unfillable_or_partial() {
    let mut sim = sim_config(&["BTCUSDT"], 5_000);
    sim.count = Some(3_000);
    let run = start(
        sim,
        r#"venue = "bybit_spot"
        endpoint = "ws://SIM"
        symbols = ["BTC-USDT"]
        channels = ["trades"]"#,
    )
    .await;
    let collector = run.spawn_collector();
    let report = run.generated().await;
    let times: Vec<i64> = report
        .trades
        .iter()
        .map(|trade| trade.trade_time_ms)
        .collect();
    let oldest_served = times[times.len() - 1000];
    let gap = |from_ms: i64, to_ms: i64| Gap {
        exchange: Exchange::Bybit,
        market_type: MarketType::Spot,
        symbol: "BTC-USDT".parse().expect("valid"),
        from_ms,
        to_ms,
        reason: GapReason::Disconnect,
        received_time_ms: to_ms,
        missing_ids: None,
        state: GapState::default(),
        collector: None,
    };
    let too_old = gap(times[0] - 1, times[200]);
    assert!(
        too_old.to_ms <= oldest_served,
        "the window ends before the history starts"
    );
    let reaching_in = gap(times[0] - 1, oldest_served + 1);
    // The history reaches back past this one's start: the oldest served trade predates it.
    let recent = gap(oldest_served + 1, times[times.len() - 1] + 1);
    for gap in [&too_old, &reaching_in, &recent] {
        run.publish_gap(gap.clone()).await;
    }
    let backfill = run.spawn_backfill(&format!(
        r#"[[venues]]
        venue = "bybit_spot"
        rest_endpoint = "http://{}""#,
        run.sim_address
    ));
    run.decided_gaps().await;
    let events = run.events().await;
    run.stop(collector, backfill).await;

    let latest = latest_gaps(&events);
    let state = |gap: &Gap| {
        latest
            .values()
            .find(|stored| stored.from_ms == gap.from_ms && stored.to_ms == gap.to_ms)
            .map(|stored| stored.state.clone())
            .expect("published again with a status")
    };
    let unfillable = state(&too_old);
    assert_eq!(unfillable.status, GapStatus::Unfillable, "{unfillable:?}");
    assert_eq!(unfillable.recovered, Some(0));
    assert!(
        unfillable
            .detail
            .as_deref()
            .is_some_and(|detail| detail.starts_with("Bybit serves only its latest 1000 trades")),
        "{unfillable:?}"
    );
    let partial = state(&reaching_in);
    assert_eq!(partial.status, GapStatus::Partial, "{partial:?}");
    let served_inside = times[times.len() - 1000..]
        .iter()
        .filter(|time| (reaching_in.from_ms..=reaching_in.to_ms).contains(*time))
        .count() as u64;
    assert_eq!(partial.recovered, Some(served_inside));
    assert!(partial.detail.is_some());
    let filled = state(&recent);
    assert_eq!(filled.status, GapStatus::Filled, "{filled:?}");
    let inside_recent = times
        .iter()
        .filter(|time| (recent.from_ms..=recent.to_ms).contains(*time))
        .count() as u64;
    assert_eq!(filled.recovered, Some(inside_recent));
    assert!(events.iter().any(|event| matches!(
        event,
        marketprism_model::Event::Trade(trade) if trade.source == TradeSource::Rest
    )));
}
