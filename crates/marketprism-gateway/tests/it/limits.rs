//! What the gateway refuses: requests without a listed key, writes, and answers larger than
//! the configured limit.

use marketprism_gateway::auth::digest_hex;
use marketprism_gateway::GatewayError;

use marketprism_testkit::Release;

use crate::{assert_write_refused, Harness, T0};

#[tokio::test]
async fn api_keys_are_required_when_configured() {
    let keys = tempfile::NamedTempFile::new().expect("key file");
    std::fs::write(
        keys.path(),
        format!(
            "{} analyst\n{} robot requests_per_minute=2\n",
            digest_hex("open-sesame"),
            digest_hex("beep")
        ),
    )
    .expect("write");
    let path = keys.path().to_owned();
    let harness = Harness::start("gateway_keys", |config| {
        config.api_keys_file = Some(path);
    })
    .await;
    let url = format!("{}/v1/instruments", harness.base);
    let client = reqwest::Client::new();
    let status = |request: reqwest::RequestBuilder| async move {
        request.send().await.expect("request").status().as_u16()
    };
    assert_eq!(status(client.get(&url)).await, 401);
    assert_eq!(status(client.get(&url).bearer_auth("guess")).await, 401);
    assert_eq!(
        status(client.get(&url).bearer_auth("open-sesame")).await,
        200
    );
    assert_eq!(
        status(client.get(&url).header("X-API-Key", "open-sesame")).await,
        200
    );
    // A limited key: two requests, then 429 until the bucket refills (30 s for one).
    assert_eq!(status(client.get(&url).bearer_auth("beep")).await, 200);
    assert_eq!(status(client.get(&url).bearer_auth("beep")).await, 200);
    let limited = client
        .get(&url)
        .bearer_auth("beep")
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status().as_u16(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = limited.json().await.expect("JSON");
    assert_eq!(
        body["error"],
        format!("API key \"robot\" is limited to 2 requests a minute; retry in {retry_after} s")
    );
    // Other keys keep their own limits.
    assert_eq!(
        status(client.get(&url).bearer_auth("open-sesame")).await,
        200
    );
    // The operational endpoints stay open, for probes and Prometheus.
    assert_eq!(
        status(client.get(format!("{}/metrics", harness.base))).await,
        200
    );
}

#[tokio::test]
async fn an_exposed_gateway_without_keys_does_not_start() {
    let (_nats, _clickhouse, mut config) =
        Harness::servers(Release::Current, "gateway_exposed").await;
    config.listen = "0.0.0.0:0".parse().expect("address");
    let error = match marketprism_gateway::bind(config, Default::default()).await {
        Ok(_) => panic!("started without keys"),
        Err(error) => error,
    };
    assert!(matches!(error, GatewayError::Config(_)), "{error}");
    assert!(error.to_string().contains("api_keys_file"), "{error}");
}

#[tokio::test]
async fn queries_are_read_only() {
    read_only(Release::Current).await;
}

#[tokio::test]
async fn queries_are_read_only_on_deployed_clickhouse() {
    read_only(Release::Deployed).await;
}

async fn read_only(release: Release) {
    let harness = Harness::start_release(release, "gateway_read_only", |_| {}).await;
    assert_write_refused(&harness.config).await;
    let client = harness.config.clickhouse.database_client().expect("client");
    let gaps: u64 = client
        .query("SELECT count() FROM gaps")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(gaps, 5);
}

#[tokio::test]
async fn a_replay_larger_than_max_result_bytes_fails() {
    let harness = Harness::start("gateway_result_limit", |config| {
        config.query.max_result_bytes = bytesize::ByteSize::b(400);
    })
    .await;
    let path = format!(
        "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from={T0}&to={}",
        T0 + 180_000
    );
    let (status, body) = harness.get(&path).await;
    // The server refuses before its first row here; a server that refuses later ends the
    // stream with an error line instead.
    if status == 200 {
        let last = body.lines().last().unwrap_or_default();
        assert!(last.starts_with(r#"{"type":"error""#), "{body}");
    } else {
        assert_eq!(status, 502, "{body}");
        assert!(body.contains("TOO_MANY_ROWS_OR_BYTES"), "{body}");
    }
    let (status, body) = harness
        .get(&format!(
            "/v1/replay?exchange=binance&market=spot&symbols=BTC-USDT&types=trade&from={T0}&to={}",
            T0 + 1
        ))
        .await;
    assert_eq!(status, 200, "one row fits: {body}");
}

/// A server that gives up in the middle of its answer (here 18.x, which sends the rows it
/// has before it finds the limit exceeded): the replay ends with an error line and the body
/// is cut off, never a clean end a client would take for the whole range.
#[tokio::test]
async fn a_replay_failing_midway_is_cut_off_with_its_error() {
    let harness = Harness::start_release(Release::Deployed, "gateway_cut_off", |config| {
        config.query.max_result_bytes = bytesize::ByteSize::mib(24);
    })
    .await;
    let client = harness.config.clickhouse.database_client().expect("client");
    let mut insert = client
        .insert::<marketprism_storage::TradeRow>("trades")
        .await
        .expect("insert");
    for id in 0..400_000_u64 {
        let row = marketprism_storage::TradeRow {
            exchange: "binance".into(),
            market_type: "spot".into(),
            symbol: "SOL-USDT".into(),
            trade_id: id.to_string(),
            aggregated: 0,
            price: 1_000_000_000_000_000_000,
            quantity: 1_000_000_000_000_000,
            side: "buy".into(),
            exchange_time: T0 + id as i64,
            received_time: T0 + id as i64,
            source: "ws".into(),
        };
        insert.write(&row).await.expect("write");
    }
    insert.end().await.expect("commit");

    let response = reqwest::get(format!(
        "{}/v1/replay?exchange=binance&market=spot&symbols=SOL-USDT&types=trade&from={T0}&to={}",
        harness.base,
        T0 + 400_000
    ))
    .await
    .expect("request");
    assert_eq!(response.status(), 200);
    let mut body = Vec::new();
    let mut stream = response;
    let cut = loop {
        match stream.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(cut, "the body ended as if complete");
    let text = String::from_utf8_lossy(&body);
    assert!(text.lines().count() > 1, "rows came before the error");
    // The error line comes last, if it reached the client before the cut.
    let last = text.lines().last().unwrap_or_default();
    if last.starts_with(r#"{"type":"error""#) {
        assert!(
            last.contains("the server failed in the middle of its answer: Code: 396"),
            "{last}"
        );
    }
    let (_, metrics) = harness.get("/metrics").await;
    assert!(
        metrics.contains("marketprism_gateway_replay_failures_total 1"),
        "{metrics}"
    );
}
