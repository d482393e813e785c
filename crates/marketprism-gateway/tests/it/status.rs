//! `/v1/status` over the rows of `insert_rows` (two days old), a SOL-USDT feed written just
//! before the request, and a stream whose storage consumer has messages pending; and the
//! status page beside it.

use async_nats::jetstream;
use marketprism_gateway::auth::digest_hex;
use marketprism_model::Event;
use marketprism_storage::{OrderBookRow, TradeRow};
use marketprism_testkit::Release;
use serde_json::{json, Value};

use crate::{book, gap, rows, stored_gap, trade, write, Harness, T0};

/// `ms` milliseconds before `now`, as a time from T0 (the builders' times).
fn before(now: i64, ms: i64) -> i64 {
    now - T0 - ms
}

/// SOL-USDT rows around `now`: trades 50, 30 and 10 s and 5 min before it, books 20 and 3 s
/// before it; an open gap, one closed 10 min ago and one filled 2 h ago.
async fn write_recent_rows(harness: &Harness, now: i64) {
    let client = harness.config.clickhouse.database_client().expect("client");
    let trades: Vec<Event> = [50_000, 30_000, 10_000, 300_000]
        .into_iter()
        .enumerate()
        .map(|(id, ms)| {
            let id = u64::try_from(id).expect("small");
            trade("SOL-USDT", 100 + id, before(now, ms), "150.55")
        })
        .collect();
    write::<TradeRow>(&client, &rows(&trades)).await;
    let sol_book = |update_id: u64, ms: i64, bid: (&str, &str), ask: (&str, &str)| {
        book(
            "SOL-USDT",
            update_id,
            before(now, ms),
            &[bid, ("1.5", "9")],
            &[ask],
        )
    };
    let books = [
        sol_book(6, 20_000, ("150.4", "1"), ("150.7", "4")),
        sol_book(7, 3_000, ("150.50", "3"), ("150.6", "2")),
    ];
    write::<OrderBookRow>(&client, &rows(&books)).await;
    let sol_gap = |reason: &str, status: &str, from: i64, to: i64| {
        gap(
            "SOL-USDT",
            "",
            reason,
            status,
            (before(now, from), before(now, to)),
        )
    };
    write(
        &client,
        &[
            sol_gap("disconnect", "open", 40_000, 35_000),
            sol_gap("sequence_break", "closed", 610_000, 600_000),
            sol_gap("trade_id_gap", "filled", 7_300_000, 7_200_000),
        ],
    )
    .await;
}

/// The event stream, storage's consumer of it and `messages` messages it has not taken.
async fn pending_messages(harness: &Harness, messages: usize) {
    let context = harness.jetstream().await;
    let stream = context
        .get_stream(&harness.config.nats.stream.name)
        .await
        .expect("stream");
    stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(harness.config.status.storage_consumer.clone()),
            ..jetstream::consumer::pull::Config::default()
        })
        .await
        .expect("consumer");
    let event = trade("SOL-USDT", 1, 0, "150");
    for _ in 0..messages {
        context
            .publish(event.subject(), "{}".into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
}

async fn check_status(release: Release, database: &str) {
    let harness = Harness::start_release(release, database, |_| {}).await;
    let now = marketprism_model::now_ms();
    write_recent_rows(&harness, now).await;
    pending_messages(&harness, 3).await;

    let status = harness.json("/v1/status").await;
    let now_ms = status["now_ms"].as_i64().expect("now_ms");
    assert!(now_ms >= now, "{status}");
    assert_eq!(status["rate_window_seconds"], 60);
    let age = |received: i64| (now_ms - received) as f64 / 1000.0;

    let activity = |events: u64, received: i64, exchange: i64| {
        json!({
            "events_last_minute": events, "events_per_second": events as f64 / 60.0,
            "last_received_ms": received, "last_exchange_ms": exchange,
        })
    };
    let feed = |symbol: &str, total: Value, types: Value| {
        let mut feed = json!({
            "exchange": "binance", "market": "spot", "symbol": symbol, "types": types,
            "age_seconds": age(total["last_received_ms"].as_i64().expect("time")),
        });
        for (name, value) in total.as_object().expect("figures") {
            feed[name] = value.clone();
        }
        feed
    };
    assert_eq!(
        status["feeds"],
        json!([
            feed(
                "BTC-USDT",
                activity(0, T0 + 179_005, T0 + 179_000),
                json!({
                    "orderbook": activity(0, T0 + 120_504, T0 + 120_500),
                    "trade": activity(0, T0 + 179_005, T0 + 179_000),
                })
            ),
            feed(
                "ETH-USDT",
                activity(0, T0 + 62_005, T0 + 62_000),
                json!({"trade": activity(0, T0 + 62_005, T0 + 62_000)})
            ),
            feed(
                "SOL-USDT",
                activity(5, now - 2_996, now - 3_000),
                json!({
                    "orderbook": activity(2, now - 2_996, now - 3_000),
                    "trade": activity(3, now - 9_995, now - 10_000),
                })
            ),
        ]),
        "{status}"
    );

    assert_eq!(
        status["consumers"][0],
        json!({
            "role": "storage", "durable": "marketprism-storage",
            "pending": 3, "awaiting_ack": 0, "error": null,
        })
    );
    let backfill = &status["consumers"][1];
    assert_eq!(
        (
            &backfill["role"],
            &backfill["durable"],
            &backfill["pending"]
        ),
        (
            &json!("backfill"),
            &json!("marketprism-backfill"),
            &Value::Null
        )
    );
    let error = backfill["error"].as_str().expect("why");
    assert!(error.contains("marketprism-backfill"), "{error}");

    assert_eq!(
        status["gaps"],
        json!({
            "recent_since_ms": now_ms - 3_600_000,
            "limit": 100,
            "open": [
                stored_gap("SOL-USDT", "", "disconnect", "open", (before(now, 40_000), before(now, 35_000))),
                stored_gap("BTC-USDT", "", "disconnect", "open", (62_000, 90_000)),
                stored_gap("ETH-USDT", "b", "stale", "open", (15_000, 30_000)),
                stored_gap("ETH-USDT", "a", "disconnect", "open", (10_000, 20_000)),
            ],
            "recent": [
                stored_gap("SOL-USDT", "", "sequence_break", "closed", (before(now, 610_000), before(now, 600_000))),
            ],
        })
    );

    let book = |symbol: &str, update_id: u64, at: i64, bid: [&str; 2], ask: [&str; 2]| {
        json!({
            "exchange": "binance", "market": "spot", "symbol": symbol,
            "update_id": update_id, "exchange_ms": at, "received_ms": at + 4,
            "age_seconds": age(at + 4),
            "bid": {"price": bid[0], "size": bid[1]}, "ask": {"price": ask[0], "size": ask[1]},
        })
    };
    assert_eq!(
        status["books"],
        json!([
            book(
                "BTC-USDT",
                101,
                T0 + 120_500,
                ["100.1", "2"],
                ["100.2", "0.5"]
            ),
            book("SOL-USDT", 7, now - 3_000, ["150.5", "3"], ["150.6", "2"]),
        ])
    );

    let (_, metrics) = harness.get("/metrics").await;
    assert!(
        metrics.contains(r#"endpoint="/v1/status",status="200""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn status_shows_each_feed_the_consumers_lag_gaps_and_top_of_book() {
    check_status(Release::Current, "gateway_status").await;
}

/// The legacy dialect (times as `Int64`) answers the same.
#[tokio::test]
async fn status_is_the_same_on_deployed_clickhouse() {
    check_status(Release::Deployed, "gateway_status_deployed").await;
}

#[tokio::test]
async fn the_page_needs_no_key_and_passes_its_key_to_the_status() {
    let keys = tempfile::NamedTempFile::new().expect("key file");
    std::fs::write(keys.path(), format!("{} page\n", digest_hex("let-me-see"))).expect("write");
    let path = keys.path().to_owned();
    let harness = Harness::start("gateway_status_page", |config| {
        config.api_keys_file = Some(path);
    })
    .await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{}/?key=let-me-see", harness.base))
        .send()
        .await
        .expect("request");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.expect("body");
    assert!(html.contains("<title>MarketPrism status</title>"), "{html}");
    assert!(html.contains("X-API-Key"), "{html}");

    let status = format!("{}/v1/status", harness.base);
    let refused = client.get(&status).send().await.expect("request");
    assert_eq!(refused.status().as_u16(), 401);
    let body: Value = refused.json().await.expect("JSON");
    assert!(body["error"].is_string(), "{body}");
    let answered = client
        .get(&status)
        .header("X-API-Key", "let-me-see")
        .send()
        .await
        .expect("request");
    assert_eq!(answered.status().as_u16(), 200);
    let body: Value = answered.json().await.expect("JSON");
    assert_eq!(body["feeds"].as_array().map(Vec::len), Some(2), "{body}");
}
