//! Venues are filled side by side: a Bybit gap published behind a long OKX one is decided
//! first, while Bybit's short history still holds its trades.

use marketprism_model::{Event, Exchange, Gap, GapReason, GapState, GapStatus, MarketType};

use crate::{sim_config, start};

#[tokio::test]
async fn a_venue_is_not_held_behind_a_slower_one() {
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
    // The simulator generates its trades for a connected client.
    let collector = run.spawn_collector();
    let report = run.generated().await;
    let first = report.trades.first().expect("trades").trade_time_ms;
    let last = report.trades.last().expect("trades").trade_time_ms;
    let gap = |exchange, market_type, from_ms| Gap {
        exchange,
        market_type,
        symbol: "BTC-USDT".parse().expect("valid"),
        from_ms,
        to_ms: last,
        reason: GapReason::Disconnect,
        received_time_ms: last,
        missing_ids: None,
        state: GapState::default(),
        collector: None,
    };
    // All but the first millisecond's trades from OKX (whose history then reaches past the
    // window's start): 30 pages of 100 at a quarter of 20 requests per 2 s, about 12 s.
    run.publish_gap(gap(Exchange::Okx, MarketType::Perpetual, first + 1))
        .await;
    // The latest 100 from Bybit: one request.
    let recent = report.trades[report.trades.len() - 100].trade_time_ms;
    run.publish_gap(gap(Exchange::Bybit, MarketType::Spot, recent))
        .await;
    let backfill = run.spawn_backfill(&format!(
        r#"[[venues]]
        venue = "okx_swap"
        rest_endpoint = "http://{sim}"
        [[venues]]
        venue = "bybit_spot"
        rest_endpoint = "http://{sim}""#,
        sim = run.sim_address
    ));
    let decided = run.decided_gaps().await;
    assert!(
        decided
            .values()
            .all(|gap| gap.state.status == GapStatus::Filled),
        "{decided:?}"
    );
    let order: Vec<Exchange> = run
        .events()
        .await
        .into_iter()
        .filter_map(|event| match event {
            Event::Gap(gap) if !gap.state.status.is_open() => Some(gap.exchange),
            _ => None,
        })
        .collect();
    assert_eq!(order, [Exchange::Bybit, Exchange::Okx]);
    run.stop(collector, backfill).await;
}
