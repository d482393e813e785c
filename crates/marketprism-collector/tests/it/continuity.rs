//! Trade continuity: a reconnect names the trades it missed by id, and a collector stopped
//! and started again records the hole it left, a `restart` gap from the last event it had
//! seen, and the trades it missed by id.

use std::collections::BTreeSet;
use std::time::Duration;

use marketprism_model::{Event, Gap, GapReason, IdRange};
use tokio_util::sync::CancellationToken;

use crate::{all_events, last_event, sim_config, start};

fn gaps(events: &[Event], reason: GapReason, symbol: &str) -> Vec<Gap> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Gap(gap) if gap.reason == reason && gap.symbol.as_str() == symbol => {
                Some(gap.clone())
            }
            _ => None,
        })
        .collect()
}

/// Every counter from `symbol`'s first trade in `events` to its last was either published or
/// named `missing`, never both.
fn assert_every_id_accounted_for(events: &[Event], symbol: &str, missing: IdRange) {
    let published: BTreeSet<u64> = events
        .iter()
        .filter_map(|event| match event {
            Event::Trade(trade) if trade.symbol.as_str() == symbol => trade.sequence,
            _ => None,
        })
        .collect();
    let (Some(&first), Some(&last)) = (published.first(), published.last()) else {
        panic!("no trades of {symbol}");
    };
    for id in first..=last {
        let named = (missing.first..=missing.last).contains(&id);
        assert!(
            published.contains(&id) != named,
            "id {id}: published {}, named missing {named}",
            published.contains(&id)
        );
    }
}

/// Polls the stream until `symbol` has a `trade_id_gap`, and returns every event then.
async fn events_once_ids_are_missed(run: &crate::Run, symbol: &str) -> Vec<Event> {
    let stream = &run.config.nats.stream.name;
    let mut events = Vec::new();
    for _ in 0..100 {
        events = all_events(&run.context, stream).await;
        if !gaps(&events, GapReason::TradeIdGap, symbol).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events
}

#[tokio::test]
async fn a_reconnect_names_the_trades_it_missed_by_id() {
    let run = start(sim_config(400), "30s").await;
    let collector = run.spawn_collector();
    let stream = &run.config.nats.stream.name;
    last_event(&run.context, stream, "trade.binance.spot.BTC-USDT")
        .await
        .expect("trades flow");
    reqwest::Client::new()
        .post(format!("http://{}/control/disconnect", run.sim_address))
        .send()
        .await
        .expect("disconnect");
    let events = events_once_ids_are_missed(&run, "BTC-USDT").await;
    run.stop(collector).await;

    let id_gaps = gaps(&events, GapReason::TradeIdGap, "BTC-USDT");
    assert_eq!(
        id_gaps.len(),
        1,
        "one jump after one reconnect: {id_gaps:?}"
    );
    let missing = id_gaps[0]
        .missing_ids
        .expect("a trade_id_gap names its ids");
    assert!(missing.first <= missing.last);
    assert!(id_gaps[0].from_ms <= id_gaps[0].to_ms);
    assert_every_id_accounted_for(&events, "BTC-USDT", missing);
}

#[tokio::test]
async fn a_restart_leaves_a_gap_from_the_last_event_and_names_the_missed_trades() {
    let run = start(sim_config(400), "30s").await;
    let stream = &run.config.nats.stream.name;

    // The first process: its own token, so that the simulator keeps running after it.
    let first = CancellationToken::new();
    let collector = tokio::spawn(marketprism_collector::run(
        run.config.clone(),
        first.clone(),
    ));
    last_event(&run.context, stream, "trade.binance.spot.BTC-USDT")
        .await
        .expect("trades flow");
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.cancel();
    collector.await.expect("join").expect("clean shutdown");
    let before = all_events(&run.context, stream).await;
    let last_trade = |symbol: &str| {
        before
            .iter()
            .rev()
            .find_map(|event| match event {
                Event::Trade(trade) if trade.symbol.as_str() == symbol => Some(trade.clone()),
                _ => None,
            })
            .expect("trades before the stop")
    };

    // Trades go on while no collector runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = CancellationToken::new();
    let collector = tokio::spawn(marketprism_collector::run(
        run.config.clone(),
        second.clone(),
    ));
    let after = events_once_ids_are_missed(&run, "BTC-USDT").await;
    second.cancel();
    collector.await.expect("join").expect("clean shutdown");
    run.shutdown.cancel();

    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let last = last_trade(symbol);
        let restart = gaps(&after, GapReason::Restart, symbol);
        assert_eq!(restart.len(), 1, "{symbol}: {restart:?}");
        assert_eq!(
            restart[0].from_ms, last.exchange_time_ms,
            "{symbol}: the gap starts at the last trade seen"
        );
        assert!(restart[0].from_ms <= restart[0].to_ms);
    }

    let last = last_trade("BTC-USDT");
    let id_gaps = gaps(&after, GapReason::TradeIdGap, "BTC-USDT");
    assert_eq!(id_gaps.len(), 1, "{id_gaps:?}");
    let missing = id_gaps[0].missing_ids.expect("ids");
    assert_eq!(
        Some(missing.first),
        last.sequence.map(|sequence| sequence + 1),
        "the missed ids start right after the last trade seen"
    );
    assert_every_id_accounted_for(&after, "BTC-USDT", missing);
}

/// While JetStream takes none of the events (no stream holds their subjects, and no spool is
/// configured), the feed state goes on naming only events the stream holds: a SIGKILL then
/// would start its restart gap before the first event lost.
#[tokio::test]
async fn the_feed_state_names_no_event_the_stream_has_not_stored() {
    let run = start(sim_config(400), "30s").await;
    let stream_name = &run.config.nats.stream.name;
    let collector = run.spawn_collector();
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let subject = format!("trade.binance.spot.{symbol}");
        last_event(&run.context, stream_name, &subject)
            .await
            .expect("trades flow");
    }
    let mut stream = run.context.get_stream(stream_name).await.expect("stream");
    let config = stream.info().await.expect("info").config.clone();
    run.context
        .update_stream(async_nats::jetstream::stream::Config {
            subjects: vec!["elsewhere.>".to_owned()],
            ..config.clone()
        })
        .await
        .expect("stream moved away");
    // Several save intervals while trades keep arriving and none is stored.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stored = all_events(&run.context, stream_name).await;
    let bucket = run
        .context
        .get_key_value(&run.config.nats.stream.state_bucket)
        .await
        .expect("feed-state bucket");
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let last_stored = stored
            .iter()
            .filter_map(|event| match event {
                Event::Trade(trade) if trade.symbol.as_str() == symbol => {
                    Some(trade.exchange_time_ms)
                }
                _ => None,
            })
            .max()
            .expect("trades stored");
        let saved = bucket
            .get(format!("binance.spot.{symbol}"))
            .await
            .expect("read feed state");
        if let Some(saved) = saved {
            let saved: serde_json::Value = serde_json::from_slice(&saved).expect("JSON");
            let last_seen = saved["last_seen_ms"].as_i64().expect("last_seen_ms");
            assert!(
                last_seen <= last_stored,
                "{symbol}: the saved state names {last_seen}, the stream holds up to {last_stored}"
            );
        }
    }

    run.context
        .update_stream(config)
        .await
        .expect("stream restored");
    run.stop(collector).await;
}
