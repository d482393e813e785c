//! Every endpoint's answer over the rows of `insert_rows`.

use serde_json::{json, Value};

use marketprism_testkit::Release;

use crate::{bad_parameter, stored_gap, Harness, T0};

#[tokio::test]
async fn health_reports_version_and_both_dependencies() {
    let harness = Harness::start("gateway_health", |_| {}).await;
    // The first check runs at start; wait for it (up to ten seconds).
    let mut health = Value::Null;
    for _ in 0..100 {
        health = harness.json("/health").await;
        if health["status"] == "healthy" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["service"], "gateway");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["dependencies"]["nats"]["status"], "up", "{health}");
    assert_eq!(
        health["dependencies"]["clickhouse"]["status"], "up",
        "{health}"
    );
    let detail = health["dependencies"]["clickhouse"]["detail"]
        .as_str()
        .expect("detail");
    assert!(detail.starts_with("ClickHouse "), "{detail}");
    let (status, ready) = harness.get("/ready").await;
    assert_eq!((status, ready.as_str()), (200, "ready\n"));
    let (_, metrics) = harness.get("/metrics").await;
    assert!(
        metrics.contains("marketprism_gateway_replay_rows_total 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn instruments_lists_each_feed_with_its_types_and_times() {
    let harness = Harness::start("gateway_instruments", |_| {}).await;
    check_instruments(&harness).await;
}

async fn check_instruments(harness: &Harness) {
    let answer = harness.json("/v1/instruments").await;
    assert_eq!(
        answer,
        json!({"instruments": [
            {
                "exchange": "binance", "market": "spot", "symbol": "BTC-USDT",
                "first_ms": T0, "last_ms": T0 + 179_000,
                "types": {
                    "orderbook": {"first_ms": T0 + 61_200, "last_ms": T0 + 120_500},
                    "trade": {"first_ms": T0, "last_ms": T0 + 179_000},
                },
            },
            {
                "exchange": "binance", "market": "spot", "symbol": "ETH-USDT",
                "first_ms": T0 + 62_000, "last_ms": T0 + 62_000,
                "types": {"trade": {"first_ms": T0 + 62_000, "last_ms": T0 + 62_000}},
            },
        ]})
    );
}

#[tokio::test]
async fn coverage_counts_minutes_and_says_whether_the_range_is_complete() {
    let harness = Harness::start("gateway_coverage", |_| {}).await;
    check_coverage(&harness).await;
}

async fn check_coverage(harness: &Harness) {
    let query = |symbol: &str, data_type: &str, from: i64, to: i64| {
        format!(
            "/v1/coverage?exchange=binance&market=spot&symbol={symbol}&type={data_type}&from={}&to={}",
            T0 + from,
            T0 + to
        )
    };

    // The first two minutes of trades: the open disconnect leaves them incomplete.
    let trades = harness.json(&query("BTC-USDT", "trade", 0, 120_000)).await;
    assert_eq!(
        trades,
        json!({
            "exchange": "binance", "market": "spot", "symbol": "BTC-USDT", "type": "trade",
            "from_ms": T0, "to_ms": T0 + 120_000,
            "complete": false,
            "incomplete_because": [
                "every collector missed data from 2026-11-27T00:01:02.000Z to 2026-11-27T00:01:30.000Z"
            ],
            "events": 4,
            "first_event_ms": T0, "last_event_ms": T0 + 179_000,
            "minutes": [
                {"minute_ms": T0, "events": 2},
                {"minute_ms": T0 + 60_000, "events": 2},
            ],
            "feed_gaps": [{"from_ms": T0 + 62_000, "to_ms": T0 + 90_000}],
            "collectors": [""],
            "gaps": [
                stored_gap("BTC-USDT", "", "trade_id_gap", "filled", (5_000, 6_000)),
                stored_gap("BTC-USDT", "", "disconnect", "open", (62_000, 90_000)),
                stored_gap("BTC-USDT", "", "sequence_break", "closed", (100_000, 110_000)),
            ],
        })
    );

    // The books miss the sequence break's window too.
    let books = harness
        .json(&query("BTC-USDT", "orderbook", 0, 120_000))
        .await;
    assert_eq!(
        books["feed_gaps"],
        json!([
            {"from_ms": T0 + 62_000, "to_ms": T0 + 90_000},
            {"from_ms": T0 + 100_000, "to_ms": T0 + 110_000},
        ])
    );
    assert_eq!(books["events"], 1);

    // The third minute: no gap, and trades recorded before and after it.
    let third = harness
        .json(&query("BTC-USDT", "trade", 120_000, 179_000))
        .await;
    assert_eq!(third["complete"], true, "{third}");
    assert_eq!(third["incomplete_because"], json!([]));
    assert_eq!(
        third["minutes"],
        json!([{"minute_ms": T0 + 120_000, "events": 0}])
    );

    // Beyond the last event, completeness is not known.
    let later = harness
        .json(&query("BTC-USDT", "trade", 120_000, 240_000))
        .await;
    assert_eq!(later["complete"], false);
    assert_eq!(
        later["incomplete_because"],
        json!(["the feed's latest recorded event is at 2026-11-27T00:02:59.000Z, before the range ends"])
    );

    // Two collectors: the feed misses only what both missed.
    let eth = harness.json(&query("ETH-USDT", "trade", 0, 60_000)).await;
    assert_eq!(eth["collectors"], json!(["a", "b"]));
    assert_eq!(
        eth["feed_gaps"],
        json!([{"from_ms": T0 + 15_000, "to_ms": T0 + 20_000}])
    );
    assert_eq!(
        eth["incomplete_because"],
        json!([
            "the feed's recording begins at 2026-11-27T00:01:02.000Z, after the range starts",
            "every collector missed data from 2026-11-27T00:00:15.000Z to 2026-11-27T00:00:20.000Z",
        ])
    );

    // A day given as dates.
    let day = harness
        .json("/v1/coverage?exchange=binance&market=spot&symbol=BTC-USDT&type=trade&from=2026-11-27&to=2026-11-28")
        .await;
    assert_eq!(day["minutes"].as_array().map(Vec::len), Some(1440));
    assert_eq!(day["events"], 5);
    assert_eq!(day["complete"], false);
}

#[tokio::test]
async fn bad_parameters_are_answered_400_naming_the_parameter() {
    let harness = Harness::start("gateway_bad_parameters", |_| {}).await;
    let base = "/v1/coverage?exchange=binance&market=spot&symbol=BTC-USDT&type=trade&from=2026-11-27&to=2026-11-28";
    assert_eq!(
        harness.get(&format!("{base}&colour=red")).await,
        (
            400,
            r#"{"error":"colour: unknown parameter","parameter":"colour"}"#.to_owned()
        )
    );
    for (path, parameter) in [
        (base.replace("binance", "nasdaq"), "exchange"),
        (base.replace("spot", "margin"), "market"),
        (base.replace("BTC-USDT", "BTC-USDT';DROP TABLE trades"), "symbol"),
        (base.replace("type=trade", "type=gap"), "type"),
        (base.replace("from=2026-11-27", "from=yesterday"), "from"),
        (base.replace("to=2026-11-28", "to=2026-11-26"), "to"),
        (base.replace("to=2026-11-28", "to=2027-11-28"), "to"),
        (base.replace("&symbol=BTC-USDT", ""), "symbol"),
        (
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade,orderbook&from=2026-11-27&to=2026-11-28&format=csv".to_owned(),
            "types",
        ),
        (
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT,btc&types=trade&from=2026-11-27&to=2026-11-28".to_owned(),
            "symbols",
        ),
        (
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from=2026-11-27&to=2026-11-28&format=xml".to_owned(),
            "format",
        ),
        (
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade,trade_bar_0s&from=2026-11-27&to=2026-11-28".to_owned(),
            "types",
        ),
    ] {
        assert_eq!(bad_parameter(&harness, &path).await, parameter, "{path}");
    }
}

fn trade_line(id: u64, at: i64, price: &str) -> Value {
    json!({
        "type": "trade", "exchange_time": T0 + at,
        "exchange": "binance", "market_type": "spot", "symbol": "BTC-USDT",
        "trade_id": id.to_string(), "aggregated": 0, "price": price, "quantity": "0.001",
        "side": if id.is_multiple_of(2) { "buy" } else { "sell" },
        "received_time": T0 + at + 5, "source": "ws",
    })
}

fn book_line(update_id: u64, at: i64) -> Value {
    json!({
        "type": "orderbook", "exchange_time": T0 + at,
        "exchange": "binance", "market_type": "spot", "symbol": "BTC-USDT",
        "update_id": update_id, "received_time": T0 + at + 4,
        "bid_prices": ["100.1", "99.5"], "bid_quantities": ["2", "0.001"],
        "ask_prices": ["100.2"], "ask_quantities": ["0.5"],
    })
}

fn gap_line(data_type: &str, (from, to): (i64, i64), reason: &str) -> Value {
    json!({
        "type": "gap", "data_type": data_type,
        "exchange": "binance", "market_type": "spot", "symbol": "BTC-USDT",
        "from_time": T0 + from, "to_time": T0 + to, "reasons": [reason],
    })
}

#[tokio::test]
async fn replay_merges_types_by_time_with_gaps_inline() {
    let harness = Harness::start("gateway_replay", |_| {}).await;
    check_replay(&harness).await;
    // Streamed: no length is known in advance.
    let response = reqwest::get(format!(
        "{}/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from=2026-11-27&to=2026-11-28",
        harness.base
    ))
    .await
    .expect("request");
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.text().await.expect("body").lines().count(), 6);
    let (_, metrics) = harness.get("/metrics").await;
    assert!(
        metrics.contains("marketprism_gateway_replay_rows_total 13"),
        "{metrics}"
    );
    assert!(
        metrics.contains("marketprism_gateway_replay_gaps_total 4"),
        "{metrics}"
    );
}

async fn check_replay(harness: &Harness) {
    let lines = harness
        .ndjson(&format!(
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade,orderbook&from={}&to={}",
            T0,
            T0 + 180_000
        ))
        .await;
    assert_eq!(
        lines,
        [
            trade_line(0, 0, "97000.5"),
            trade_line(1, 1_000, "97001"),
            trade_line(2, 61_000, "97002.25"),
            book_line(100, 61_200),
            trade_line(3, 61_500, "97003"),
            gap_line("trade", (62_000, 90_000), "disconnect"),
            gap_line("orderbook", (62_000, 90_000), "disconnect"),
            gap_line("orderbook", (100_000, 110_000), "sequence_break"),
            book_line(101, 120_500),
            trade_line(4, 179_000, "97004"),
        ]
    );

    // `to` is excluded, and a range without rows is empty.
    let (_, first) = harness
        .get(&format!(
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from={T0}&to={}",
            T0 + 1_000
        ))
        .await;
    assert_eq!(first.lines().count(), 1, "{first}");
    let (status, empty) = harness
        .get("/v1/replay?exchange=okx&market=spot&symbols=BTC-USDT&types=trade&from=2026-11-27&to=2026-11-28")
        .await;
    assert_eq!((status, empty.as_str()), (200, ""));
}

#[tokio::test]
async fn replay_as_csv_keeps_the_columns_with_gap_rows_inline() {
    let harness = Harness::start("gateway_replay_csv", |_| {}).await;
    check_replay_csv(&harness).await;
}

async fn check_replay_csv(harness: &Harness) {
    let (status, body) = harness
        .get(&format!(
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT,ETH-USDT&types=trade&from={}&to={}&format=csv",
            T0 + 1_000,
            T0 + 62_001
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let expected = [
        r#""type","exchange_time","exchange","market_type","symbol","trade_id","aggregated","price","quantity","side","received_time","source","gap_to_time","gap_reasons""#.to_owned(),
        format!(r#""trade",{},"binance","spot","BTC-USDT","1",0,"97001","0.001","sell",{},"ws","","""#, T0 + 1_000, T0 + 1_005),
        format!(r#""gap",{},"binance","spot","ETH-USDT",,,,,,,,{},"disconnect;stale""#, T0 + 15_000, T0 + 20_000),
        format!(r#""trade",{},"binance","spot","BTC-USDT","2",0,"97002.25","0.001","buy",{},"ws","","""#, T0 + 61_000, T0 + 61_005),
        format!(r#""trade",{},"binance","spot","BTC-USDT","3",0,"97003","0.001","sell",{},"ws","","""#, T0 + 61_500, T0 + 61_505),
        format!(r#""trade",{},"binance","spot","ETH-USDT","10",0,"3500.1","0.001","buy",{},"ws","","""#, T0 + 62_000, T0 + 62_005),
        format!(r#""gap",{},"binance","spot","BTC-USDT",,,,,,,,{},"disconnect""#, T0 + 62_000, T0 + 62_001),
    ];
    assert_eq!(body.lines().collect::<Vec<_>>(), expected);
}

fn bar_line(
    at: i64,
    [open, high, low, close]: [&str; 4],
    volumes: [&str; 3],
    times: [i64; 2],
    trades: u64,
) -> Value {
    json!({
        "type": "trade_bar_1m", "exchange_time": T0 + at,
        "exchange": "binance", "market_type": "spot", "symbol": "BTC-USDT",
        "open": open, "high": high, "low": low, "close": close,
        "volume": volumes[0], "buy_volume": volumes[1], "sell_volume": volumes[2],
        "trades": trades, "first_trade_time": T0 + times[0], "last_trade_time": T0 + times[1],
    })
}

fn snapshot_line(at: i64, update_id: u64, book_time: i64) -> Value {
    json!({
        "type": "book_snapshot_1_1m", "exchange_time": T0 + at,
        "exchange": "binance", "market_type": "spot", "symbol": "BTC-USDT",
        "update_id": update_id, "book_time": T0 + book_time,
        "bid_prices": ["100.1"], "bid_quantities": ["2"],
        "ask_prices": ["100.2"], "ask_quantities": ["0.5"],
    })
}

#[tokio::test]
async fn replay_computes_trade_bars_and_book_snapshots() {
    let harness = Harness::start("gateway_computed", |_| {}).await;
    check_computed(&harness).await;
}

async fn check_computed(harness: &Harness) {
    let lines = harness
        .ndjson(&format!(
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade_bar_1m,book_snapshot_1_1m&from={}&to={}",
            T0,
            T0 + 180_000
        ))
        .await;
    assert_eq!(
        lines,
        [
            bar_line(
                0,
                ["97000.5", "97001", "97000.5", "97001"],
                ["0.002", "0.001", "0.001"],
                [0, 1_000],
                2
            ),
            bar_line(
                60_000,
                ["97002.25", "97003", "97002.25", "97003"],
                ["0.002", "0.001", "0.001"],
                [61_000, 61_500],
                2
            ),
            gap_line("trade_bar_1m", (62_000, 90_000), "disconnect"),
            gap_line("book_snapshot_1_1m", (62_000, 90_000), "disconnect"),
            gap_line("book_snapshot_1_1m", (100_000, 110_000), "sequence_break"),
            bar_line(
                120_000,
                ["97004", "97004", "97004", "97004"],
                ["0.001", "0.001", "0"],
                [179_000, 179_000],
                1
            ),
            snapshot_line(120_000, 100, 61_200),
            snapshot_line(180_000, 101, 120_500),
        ]
    );
}

/// The legacy dialect (times as `Int64`, no `DateTime64`) answers exactly as the modern one.
#[tokio::test]
async fn every_answer_is_the_same_on_deployed_clickhouse() {
    let harness = Harness::start_release(Release::Deployed, "gateway_deployed", |_| {}).await;
    check_instruments(&harness).await;
    check_coverage(&harness).await;
    check_replay(&harness).await;
    check_replay_csv(&harness).await;
    check_computed(&harness).await;
}
