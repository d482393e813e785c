//! Replay of captured sessions: captured REST responses, every captured instrument, one
//! captured connection per client and stream, snapshots as sync points, nothing generated.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;
use marketprism_sim::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::{connect, http, next_text, report, send, start, Socket};

/// A capture record, as a line of the capture format.
fn record(venue: &str, kind: &str, recv_ts: f64, conn: &str, url: &str, payload: &str) -> String {
    json!({"venue": venue, "kind": kind, "recv_ts": recv_ts, "conn": conn, "url": url, "payload": payload})
        .to_string()
}

/// Writes a capture of `records` into `dir`.
fn capture(dir: &Path, records: &[String]) -> PathBuf {
    let path = dir.join("capture.jsonl");
    std::fs::write(&path, records.join("\n")).expect("write capture");
    path
}

/// A simulator replaying `capture` as fast as possible.
fn replaying(capture: PathBuf, hold: bool) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        replay: Some(capture),
        replay_speed: 0.0,
        replay_hold: hold,
        ..Config::default()
    }
}

/// The next text frame as sent, or `None` when none arrives within `wait`.
async fn next_raw(socket: &mut Socket, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(text)))) => return Some(text.as_str().to_owned()),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("connection ended: {other:?}"),
        }
    }
}

/// Every text frame as sent, until none arrives for 300 ms.
async fn frames_until_quiet(socket: &mut Socket) -> Vec<String> {
    let mut frames = Vec::new();
    while let Some(frame) = next_raw(socket, Duration::from_millis(300)).await {
        frames.push(frame);
    }
    frames
}

/// Waits until the simulator reports the replay finished.
async fn wait_until_done(address: &str) {
    for _ in 0..500 {
        if report(address).await.done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the replay did not finish");
}

const OKX: &str = "wss://ws.okx.com:8443/ws/v5/public";

fn okx_trade(trade_id: u32) -> String {
    json!({"arg": {"channel": "trades", "instId": "BTC-USDT"},
           "data": [{"instId": "BTC-USDT", "tradeId": trade_id.to_string(), "px": "100.1",
                     "sz": "0.5", "side": "buy", "ts": "1650000000000"}]})
    .to_string()
}

#[tokio::test]
async fn rest_requests_get_the_captured_responses_in_capture_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = r#"{"lastUpdateId":100,"bids":[["1.00000000","2.00000000"]],"asks":[["1.10000000","3.00000000"]]}"#;
    let info = r#"{"timezone":"UTC","symbols":[]}"#;
    let second = r#"{"lastUpdateId":200,"bids":[],"asks":[]}"#;
    let rest = |recv_ts, url, payload| {
        record(
            "binance-spot",
            "rest",
            recv_ts,
            "BINANCE.http.0",
            url,
            payload,
        )
    };
    let path = capture(
        dir.path(),
        &[
            rest(
                1.0,
                "https://www.binance.com/api/v1/depth?symbol=BTCUSDT&limit=1000",
                first,
            ),
            rest(2.0, "https://api.binance.com/api/v3/exchangeInfo", info),
            rest(
                3.0,
                "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=5000",
                second,
            ),
        ],
    );
    let (address, shutdown) = start(replaying(path, false)).await;

    let depth = "/api/v3/depth?symbol=BTCUSDT&limit=1000";
    assert_eq!(
        http(&address, "GET", depth).await,
        (200, first.to_owned()),
        "the retired v1 path answers v3"
    );
    assert_eq!(
        http(&address, "GET", "/api/v3/depth?limit=10&symbol=BTCUSDT").await,
        (200, second.to_owned()),
        "the next response to the same request, whatever the limit"
    );
    assert_eq!(
        http(&address, "GET", depth).await,
        (200, second.to_owned()),
        "the last one again"
    );
    assert_eq!(
        http(&address, "GET", "/api/v3/exchangeInfo").await,
        (200, info.to_owned())
    );
    for absent in [
        "/api/v3/depth?symbol=ETHUSDT",
        "/fapi/v1/depth?symbol=BTCUSDT",
        "/fapi/v1/premiumIndex?symbol=BTCUSDT",
        "/futures/data/globalLongShortAccountRatio?symbol=BTCUSDT&period=5m",
    ] {
        assert_eq!(
            http(&address, "GET", absent).await.0,
            404,
            "{absent} is not in the capture"
        );
    }
    let statuses: Vec<u16> = report(&address)
        .await
        .rest_requests
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 404, 404, 404, 404]);
    shutdown.cancel();
}

#[tokio::test]
async fn every_captured_instrument_is_served_and_nothing_is_generated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book = |action: &str, price: &str| {
        json!({"arg": {"channel": "books-l2-tbt", "instId": "ELON-USDT"}, "action": action,
               "data": [{"asks": [[price, "5", "0", "1"]], "bids": [["0.0000009", "7", "0", "1"]],
                         "ts": "1645999999000", "checksum": 0}]})
        .to_string()
    };
    let trade = json!({"arg": {"channel": "trades", "instId": "ELON-USDT"},
                       "data": [{"instId": "ELON-USDT", "tradeId": "7", "px": "0.000001",
                                 "sz": "10", "side": "sell", "ts": "1645999999100"}]})
    .to_string();
    let ticker = json!({"arg": {"channel": "tickers", "instId": "ELON-USDT"},
                        "data": [{"instId": "ELON-USDT", "last": "0.000001"}]})
    .to_string();
    let reply = json!({"event": "subscribe", "arg": {"channel": "trades", "instId": "ELON-USDT"}})
        .to_string();
    let frames = [
        reply,
        book("snapshot", "0.0000011"),
        trade,
        ticker,
        book("update", "0.0000012"),
    ];
    let records: Vec<String> = frames
        .iter()
        .enumerate()
        .map(|(index, payload)| {
            record(
                "okx",
                "ws",
                1.0 + index as f64 / 100.0,
                "OKX.ws.1",
                OKX,
                payload,
            )
        })
        .collect();
    let config = replaying(capture(dir.path(), &records), false);
    assert!(!config.symbols.iter().any(|symbol| symbol.contains("ELON")));
    let (address, shutdown) = start(config).await;

    let mut socket = connect(&address, "/ws/v5/public").await;
    let subscribe = json!({"op": "subscribe", "args": [
        {"channel": "books", "instId": "ELON-USDT"},
        {"channel": "trades", "instId": "ELON-USDT"},
    ]});
    send(&mut socket, &subscribe).await;
    for channel in ["books", "trades"] {
        let ack = next_text(&mut socket).await;
        assert_eq!(
            (ack["event"].as_str(), ack["arg"]["channel"].as_str()),
            (Some("subscribe"), Some(channel))
        );
    }
    wait_until_done(&address).await;
    let received = frames_until_quiet(&mut socket).await;
    assert_eq!(
        received,
        [frames[1].clone(), frames[2].clone(), frames[4].clone()],
        "the captured book (no snapshot of the simulator's own) and trades, as captured; \
         neither the recorder's reply nor the unsubscribed ticker"
    );
    let report = report(&address).await;
    assert!(
        report.trades.is_empty() && report.derivatives.is_empty(),
        "nothing generated"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_deribit_raw_channel_serves_the_100ms_subscription() {
    let dir = tempfile::tempdir().expect("tempdir");
    let channel = "book.BTC-25MAR22-400000-C.raw";
    let frame = json!({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel,
        "data": {"type": "snapshot", "timestamp": 1617644856000_i64, "instrument_name": "BTC-25MAR22-400000-C",
                 "change_id": 5, "bids": [], "asks": [["new", 0.0005, 10.0]]}}})
    .to_string();
    let path = capture(
        dir.path(),
        &[record(
            "deribit",
            "ws",
            1.0,
            "DERIBIT.ws.1",
            "wss://www.deribit.com/ws/api/v2",
            &frame,
        )],
    );
    let (address, shutdown) = start(replaying(path, false)).await;
    let mut socket = connect(&address, "/ws/api/v2").await;
    let subscribed = "book.BTC-25MAR22-400000-C.100ms";
    let subscribe = json!({"jsonrpc": "2.0", "id": 3, "method": "public/subscribe", "params": {"channels": [subscribed]}});
    send(&mut socket, &subscribe).await;
    assert_eq!(
        next_text(&mut socket).await,
        json!({"jsonrpc": "2.0", "id": 3, "result": [subscribed]})
    );
    assert_eq!(
        next_raw(&mut socket, Duration::from_secs(5)).await,
        Some(frame)
    );
    shutdown.cancel();
}

#[tokio::test]
async fn each_client_gets_one_captured_connection_and_a_held_replay_waits_for_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records: Vec<String> = (1..=4)
        .map(|trade_id| {
            let conn = if trade_id % 2 == 1 {
                "OKX.ws.1"
            } else {
                "OKX.ws.2"
            };
            record(
                "okx",
                "ws",
                f64::from(trade_id),
                conn,
                OKX,
                &okx_trade(trade_id),
            )
        })
        .collect();
    let path = capture(dir.path(), &records);
    let subscribe =
        json!({"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]});

    // Two clients, two captured connections: one each, in the order they subscribed.
    let (address, shutdown) = start(replaying(path.clone(), true)).await;
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut socket = connect(&address, "/ws/v5/public").await;
        send(&mut socket, &subscribe).await;
        assert_eq!(next_text(&mut socket).await["event"], "subscribe");
        clients.push(socket);
    }
    for socket in &mut clients {
        assert_eq!(
            next_raw(socket, Duration::from_millis(300)).await,
            None,
            "held"
        );
    }
    assert_eq!(http(&address, "POST", "/control/start").await.0, 200);
    wait_until_done(&address).await;
    let trade_ids = |frames: Vec<String>| -> Vec<String> {
        frames
            .iter()
            .map(|frame| {
                let value: Value = serde_json::from_str(frame).expect("JSON");
                value["data"][0]["tradeId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let mut received = Vec::new();
    for socket in &mut clients {
        received.push(trade_ids(frames_until_quiet(socket).await));
    }
    assert_eq!(received, [["1", "3"], ["2", "4"]]);
    shutdown.cancel();

    // One client: one captured connection's frames, not both merged.
    let (address, shutdown) = start(replaying(path, false)).await;
    let mut socket = connect(&address, "/ws/v5/public").await;
    send(&mut socket, &subscribe).await;
    assert_eq!(next_text(&mut socket).await["event"], "subscribe");
    wait_until_done(&address).await;
    assert_eq!(trade_ids(frames_until_quiet(&mut socket).await), ["1", "3"]);
    shutdown.cancel();
}

#[tokio::test]
async fn frames_after_a_depth_snapshot_wait_until_a_subscriber_fetched_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms";
    let depth = |first: u64, last: u64| {
        json!({"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1_633_998_512_000_i64,
               "s": "BTCUSDT", "U": first, "u": last, "b": [["1.00", "2.0"]], "a": []}})
        .to_string()
    };
    let snapshot = r#"{"lastUpdateId":100,"bids":[["1.00","1.0"]],"asks":[["1.10","1.0"]]}"#;
    let path = capture(
        dir.path(),
        &[
            record(
                "binance-spot",
                "ws",
                1.000,
                "BINANCE.ws.1",
                url,
                &depth(90, 95),
            ),
            record(
                "binance-spot",
                "rest",
                1.001,
                "BINANCE.http.0",
                "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000",
                snapshot,
            ),
            record(
                "binance-spot",
                "ws",
                1.002,
                "BINANCE.ws.1",
                url,
                &depth(96, 105),
            ),
        ],
    );
    let (address, shutdown) = start(replaying(path, false)).await;
    let mut socket = connect(&address, "/stream").await;
    let subscribe = json!({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1});
    send(&mut socket, &subscribe).await;
    assert_eq!(
        next_text(&mut socket).await,
        json!({"result": null, "id": 1})
    );
    let first = next_text(&mut socket).await;
    assert_eq!(first["data"]["u"], 95);
    assert_eq!(
        next_raw(&mut socket, Duration::from_millis(500)).await,
        None,
        "the update after the snapshot waits for the snapshot to be fetched"
    );
    let fetched = Instant::now();
    let (status, body) = http(&address, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=1000").await;
    assert_eq!((status, body.as_str()), (200, snapshot));
    let bridging = next_text(&mut socket).await;
    assert_eq!(bridging["data"]["U"], 96);
    assert!(
        fetched.elapsed() >= marketprism_sim::APPLY_MARGIN,
        "and a margin more, for the client to apply the snapshot"
    );
    shutdown.cancel();
}

#[test]
fn a_real_capture_lists_its_connections_and_streams() {
    let okx = marketprism_capture::captures("okx.20210722").expect("capture");
    let connections = marketprism_sim::captured_connections(&okx[0]).expect("readable");
    let labels: Vec<&str> = connections
        .iter()
        .map(|connection| connection.label.as_str())
        .collect();
    assert_eq!(
        labels,
        ["OKEX.ws.2", "OKEX.ws.3", "OKEX.ws.1"],
        "in order of their first frame"
    );
    for connection in &connections {
        assert_eq!(connection.endpoint, "/ws/v5/public");
        assert!(connection
            .streams
            .contains(&"books-l2-tbt:XMR-USDT-SWAP".to_owned()));
        assert!(connection
            .streams
            .contains(&"trades:BTC-USD-210924-66000-C".to_owned()));
    }
    let bybit = marketprism_capture::captures("bybit.2021").expect("capture");
    assert_eq!(
        marketprism_sim::captured_connections(&bybit[0]).expect("readable"),
        [],
        "Bybit's retired v2 API is not replayed"
    );
}

/// A Coinbase client subscribed to part of the real Advanced Trade capture (one product's
/// book, and heartbeats) gets the captured frames numbered as its own connection's messages,
/// without holes, and its book stays in sync under the venue's parser.
#[tokio::test]
async fn a_coinbase_client_gets_captured_frames_numbered_without_holes() {
    use marketprism_book::Sequencer;
    use marketprism_venues::coinbase::advanced::CoinbaseAdvanced;
    use marketprism_venues::{Inbound, VenueProtocol};

    let path = marketprism_capture::captures("coinbase.2026")
        .expect("capture")
        .remove(0);
    let (address, shutdown) = start(replaying(path, true)).await;
    let mut socket = connect(&address, "/").await;
    send(
        &mut socket,
        &json!({"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"}),
    )
    .await;
    send(
        &mut socket,
        &json!({"type": "subscribe", "channel": "heartbeats"}),
    )
    .await;
    // Both answers, before the replay starts.
    for _ in 0..2 {
        let answer = next_raw(&mut socket, Duration::from_secs(5))
            .await
            .expect("an answer");
        assert!(answer.contains(r#""channel":"subscriptions""#), "{answer}");
    }
    assert_eq!(http(&address, "POST", "/control/start").await.0, 200);
    let frames = frames_until_quiet(&mut socket).await;

    let protocol = CoinbaseAdvanced::new();
    let mut sequencer = Sequencer::new(marketprism_book::SyncRule::CoinbaseAdvanced);
    let mut numbers = Vec::new();
    let mut books = 0;
    for frame in &frames {
        let value: Value = serde_json::from_str(frame).expect("JSON");
        numbers.push(value["sequence_num"].as_u64().expect("numbered"));
        if let Inbound::Book(message) = protocol.parse(frame, 0).expect("parses") {
            assert_eq!(message.symbol.as_str(), "BTC-USD");
            sequencer.apply(message.update).expect("in sync");
            books += 1;
        }
    }
    assert_eq!(books, 93, "every BTC-USD book message of the capture");
    let expected: Vec<u64> = (2..2 + frames.len() as u64).collect();
    assert_eq!(
        numbers, expected,
        "numbered after the two answers, without holes"
    );
    shutdown.cancel();
}

/// A Coinbase Exchange client subscribed to one product of the real 2021 capture, its book
/// as `level2_batch`, gets the product's captured `level2` and `matches` frames and nothing
/// else, and its book stays in sync under the venue's parser.
#[tokio::test]
async fn a_coinbase_exchange_client_gets_the_captured_frames_of_its_product() {
    use marketprism_book::Sequencer;
    use marketprism_venues::coinbase::exchange::CoinbaseExchange;
    use marketprism_venues::{Inbound, VenueProtocol};

    let path = marketprism_capture::captures("coinbase.2021")
        .expect("capture")
        .remove(0);
    let connections = marketprism_sim::captured_connections(&path).expect("readable");
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0].endpoint, "/ws-feed");
    assert!(connections[0]
        .streams
        .contains(&"level2:SKL-BTC".to_owned()));
    let (address, shutdown) = start(replaying(path, true)).await;
    let mut socket = connect(&address, "/ws-feed").await;
    send(
        &mut socket,
        &json!({"type": "subscribe", "channels": [
            {"name": "level2_batch", "product_ids": ["SKL-BTC"]},
            {"name": "matches", "product_ids": ["SKL-BTC"]},
        ]}),
    )
    .await;
    let protocol = CoinbaseExchange::new();
    let answer = next_raw(&mut socket, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert!(
        matches!(protocol.parse(&answer, 0), Ok(Inbound::SubscribeAck { .. })),
        "{answer}"
    );
    assert_eq!(http(&address, "POST", "/control/start").await.0, 200);
    let frames = frames_until_quiet(&mut socket).await;

    let mut sequencer = Sequencer::new(marketprism_book::SyncRule::CoinbaseExchange);
    let (mut books, mut trades) = (0, 0);
    for frame in &frames {
        match protocol.parse(frame, 0).expect("parses") {
            Inbound::Book(message) => {
                assert_eq!(message.symbol.as_str(), "SKL-BTC");
                sequencer.apply(message.update).expect("in sync");
                books += 1;
            }
            Inbound::Events(events) => trades += events.len(),
            other => panic!("unexpected {other:?}: {frame}"),
        }
    }
    assert_eq!(
        (books, trades),
        (428, 5),
        "the capture's SKL-BTC snapshot, 427 updates and 5 trades"
    );
    shutdown.cancel();
}
