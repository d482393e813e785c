//! Binance spot: a dropped connection leaves a `disconnect` gap and a `trade_id_gap` per
//! symbol; the backfill fills both from the simulator's history, with the trades it streamed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use marketprism_model::{Event, GapReason, GapStatus, Side, TradeSource};

use crate::{is_window, sim_config, start};

#[tokio::test]
async fn a_disconnect_is_filled_with_the_trades_the_venue_generated() {
    let run = start(
        sim_config(&["BTCUSDT", "ETHUSDT"], 400),
        r#"venue = "binance_spot"
        endpoint = "ws://SIM"
        symbols = ["BTC-USDT", "ETH-USDT"]
        channels = ["trades"]"#,
    )
    .await;
    let backfill = run.spawn_backfill(&format!(
        r#"[[venues]]
        venue = "binance_spot"
        rest_endpoint = "http://{}"
        channels = ["trades"]"#,
        run.sim_address
    ));
    let collector = run.spawn_collector();
    tokio::time::sleep(Duration::from_millis(700)).await;
    reqwest::Client::new()
        .post(format!("http://{}/control/disconnect", run.sim_address))
        .send()
        .await
        .expect("disconnect");
    tokio::time::sleep(Duration::from_millis(700)).await;

    let gaps = run.decided_gaps().await;
    // Read after the events, the report holds every trade they hold.
    let events = run.events().await;
    let report = run.report().await;
    run.stop(collector, backfill).await;

    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let of_symbol: Vec<_> = gaps
            .values()
            .filter(|gap| gap.symbol.as_str() == symbol)
            .collect();
        assert!(
            of_symbol
                .iter()
                .any(|gap| gap.reason == GapReason::Disconnect),
            "{symbol}: {of_symbol:?}"
        );
        let id_gap = of_symbol
            .iter()
            .find(|gap| gap.reason == GapReason::TradeIdGap)
            .unwrap_or_else(|| panic!("{symbol}: the reconnect skipped trade ids"));
        let ids = id_gap.missing_ids.expect("names the ids");
        assert!(!ids.aggregated);
        let missing = ids.last - ids.first + 1;
        assert_eq!(id_gap.state.status, GapStatus::Filled, "{id_gap:?}");
        assert_eq!(id_gap.state.recovered, Some(missing));
        assert_eq!(id_gap.state.unrecovered, Some(0));
        for gap in of_symbol.iter().filter(|gap| is_window(gap.reason)) {
            assert_eq!(gap.state.status, GapStatus::Filled, "{gap:?}");
            assert_eq!(gap.state.unrecovered, Some(0));
        }
    }

    // Live and recovered trades together hold every trade the simulator generated between
    // the first and the last one streamed, each exactly as generated.
    let generated: BTreeMap<(String, u64), &marketprism_sim::SimTrade> = report
        .trades
        .iter()
        .map(|trade| ((trade.symbol.clone(), trade.trade_id), trade))
        .collect();
    let mut recorded: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut recovered = 0;
    for event in &events {
        let Event::Trade(trade) = event else {
            continue;
        };
        let id: u64 = trade.trade_id.parse().expect("numeric id");
        let native = trade.symbol.as_str().replace('-', "");
        let truth = generated
            .get(&(native.clone(), id))
            .unwrap_or_else(|| panic!("{native} {id} was never generated"));
        assert_eq!(
            trade.price,
            truth.price.parse().expect("price"),
            "{trade:?}"
        );
        assert_eq!(trade.quantity, truth.quantity.parse().expect("quantity"));
        assert_eq!(trade.exchange_time_ms, truth.trade_time_ms);
        let side = if truth.buyer_is_maker {
            Side::Sell
        } else {
            Side::Buy
        };
        assert_eq!(trade.side, side);
        assert_eq!(trade.sequence, Some(id));
        if trade.source == TradeSource::Rest {
            recovered += 1;
        }
        recorded.insert((native, id));
    }
    assert!(recovered > 0, "the disconnect missed trades");
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let ids: Vec<u64> = recorded
            .iter()
            .filter(|(native, _)| native == symbol)
            .map(|(_, id)| *id)
            .collect();
        let (first, last) = (ids[0], ids[ids.len() - 1]);
        assert_eq!(
            ids.len() as u64,
            last - first + 1,
            "{symbol}: every id from {first} to {last}"
        );
    }
}
