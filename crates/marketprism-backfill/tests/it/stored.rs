//! Through storage into ClickHouse: the recovered trades close the hole in `trades`, marked
//! `rest`, and each gap keeps one row whose latest status wins.

use std::time::Duration;

use marketprism_storage::ClickHouseConfig;
use marketprism_testkit::ClickHouseServer;

use crate::{sim_config, start};

/// Gaps whose trades the backfill recovers.
const TRADE_GAPS: &str = "reason IN ('disconnect', 'stale', 'restart', 'trade_id_gap')";

#[tokio::test]
async fn recovered_trades_and_final_statuses_reach_clickhouse() {
    let run = start(
        sim_config(&["BTCUSDT", "ETHUSDT"], 300),
        r#"venue = "binance_spot"
        endpoint = "ws://SIM"
        symbols = ["BTC-USDT", "ETH-USDT"]
        channels = ["trades"]"#,
    )
    .await;
    let clickhouse_server = ClickHouseServer::start().expect("clickhouse-server");
    let mut storage: marketprism_storage::Config =
        toml::from_str("listen = \"127.0.0.1:0\"").expect("defaults");
    storage.nats = run.collector.nats.clone();
    storage.clickhouse = ClickHouseConfig {
        url: clickhouse_server.url(),
        database: "backfill_stored".to_owned(),
        ..ClickHouseConfig::default()
    };
    storage.batch.max_wait = Duration::from_millis(200);
    marketprism_storage::migrate::migrate(&storage.clickhouse)
        .await
        .expect("migrate");
    let client = storage.clickhouse.database_client().expect("client");
    let storing = tokio::spawn(marketprism_storage::run(storage, run.shutdown.clone()));
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
    run.decided_gaps().await;

    // Wait (up to a minute) for storage to write every gap's final row.
    let count = |query: String| {
        let client = client.clone();
        async move {
            client
                .query(&query)
                .fetch_one::<u64>()
                .await
                .expect("count")
        }
    };
    let mut decided = false;
    for _ in 0..600 {
        let open = count(format!(
            "SELECT count() FROM gaps FINAL WHERE {TRADE_GAPS} AND status = 'open'"
        ))
        .await;
        let id_gaps = count(
            "SELECT count() FROM gaps FINAL WHERE reason = 'trade_id_gap' AND status = 'filled'"
                .to_owned(),
        )
        .await;
        if open == 0 && id_gaps == 2 {
            decided = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.shutdown.cancel();
    collector.await.expect("join").expect("collector");
    backfill.await.expect("join").expect("backfill");
    storing.await.expect("join").expect("storage");
    assert!(
        decided,
        "one filled trade_id_gap row per symbol, no open trade gap"
    );

    let rows_per_gap = count(format!(
        "SELECT count() FROM (SELECT symbol, reason, from_time, to_time FROM gaps FINAL \
         WHERE {TRADE_GAPS} GROUP BY symbol, reason, from_time, to_time HAVING count() > 1)"
    ))
    .await;
    assert_eq!(rows_per_gap, 0, "one row per gap");
    let not_filled = count(format!(
        "SELECT count() FROM gaps FINAL WHERE {TRADE_GAPS} AND status != 'filled'"
    ))
    .await;
    assert_eq!(not_filled, 0);
    let missing = count(
        "SELECT toUInt64(sum(ifNull(last_missing_id, 0) - ifNull(first_missing_id, 0) + 1)) \
         FROM gaps FINAL WHERE reason = 'trade_id_gap'"
            .to_owned(),
    )
    .await;
    let recovered = count(
        "SELECT toUInt64(sum(ifNull(recovered, 0))) FROM gaps FINAL WHERE reason = 'trade_id_gap'"
            .to_owned(),
    )
    .await;
    assert_eq!(recovered, missing);
    assert!(missing > 0, "the disconnect missed trades");
    let rest = count("SELECT count() FROM trades FINAL WHERE source = 'rest'".to_owned()).await;
    assert!(rest >= missing, "{rest} rows from REST, {missing} missed");
    for symbol in ["BTC-USDT", "ETH-USDT"] {
        let holes = count(format!(
            "SELECT toUInt64(max(toUInt64(trade_id)) - min(toUInt64(trade_id)) + 1 - count()) \
             FROM trades FINAL WHERE symbol = '{symbol}'"
        ))
        .await;
        assert_eq!(
            holes, 0,
            "{symbol}: every trade id between the first and last"
        );
    }
}
