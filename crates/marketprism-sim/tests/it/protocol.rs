//! The simulator speaks Binance's WebSocket protocol.

use std::time::Duration;

use futures::StreamExt;
use marketprism_sim::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::{connect, next_text, report, send, start, Socket};

fn config(rate: u32, count: Option<u64>) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate,
        count,
        ping_interval: Duration::from_millis(200),
        ..Config::default()
    }
}

/// The next frame that carries an id: a reply to a request, past any stream data.
async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        let frame = next_text(socket).await;
        if frame.get("id").is_some() {
            return frame;
        }
    }
}

#[tokio::test]
async fn subscribe_list_and_errors_follow_binance() {
    // No pings: Binance counts the pongs owed to them against 5 messages a second.
    let config = Config {
        ping_interval: Duration::from_secs(60),
        ..config(200, None)
    };
    let (address, shutdown) = start(config).await;
    let mut socket = connect(&address, "/stream").await;

    send(
        &mut socket,
        &json!({"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}),
    )
    .await;
    assert_eq!(
        next_text(&mut socket).await,
        json!({"result": null, "id": 1})
    );
    let frame = next_text(&mut socket).await;
    assert_eq!(frame["stream"], "btcusdt@trade");
    assert_eq!(frame["data"]["e"], "trade");
    assert_eq!(frame["data"]["s"], "BTCUSDT");

    send(
        &mut socket,
        &json!({"method":"SUBSCRIBE","params":["dogeusdt@trade"],"id":2}),
    )
    .await;
    let reply = next_reply(&mut socket).await;
    assert_eq!(reply["id"], 2);
    assert_eq!(reply["error"]["code"], 2);

    send(&mut socket, &json!({"method":"LIST_SUBSCRIPTIONS","id":3})).await;
    let reply = next_reply(&mut socket).await;
    assert_eq!(reply, json!({"result": ["btcusdt@trade"], "id": 3}));
    shutdown.cancel();
}

#[tokio::test]
async fn raw_streams_pings_and_delivery_report() {
    let (address, shutdown) = start(config(1000, Some(50))).await;
    let mut socket = connect(&address, "/ws/ethusdt@aggTrade").await;
    let mut trades = 0;
    let mut pings = 0;
    while trades < 25 || pings == 0 {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("frame")
            .expect("open")
            .expect("ok")
        {
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(text.as_str()).expect("JSON");
                assert_eq!(frame["e"], "aggTrade", "raw frames are unwrapped");
                assert_eq!(frame["s"], "ETHUSDT");
                trades += 1;
            }
            Message::Ping(_) => pings += 1,
            _ => {}
        }
    }
    let report = report(&address).await;
    assert!(report.done);
    assert_eq!(report.trades.len(), 50);
    // Only ETHUSDT was subscribed: exactly its 25 trades reached a connection.
    let delivered: Vec<_> = report
        .trades
        .iter()
        .filter(|trade| trade.delivered)
        .collect();
    assert_eq!(delivered.len(), 25);
    assert!(delivered.iter().all(|trade| trade.symbol == "ETHUSDT"));
    shutdown.cancel();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_as_a_slow_consumer() {
    let (address, shutdown) = start(config(50_000, None)).await;
    let mut socket = connect(&address, "/stream?streams=btcusdt@trade/ethusdt@trade").await;
    let first = next_text(&mut socket).await;
    assert_eq!(first["data"]["e"], "trade");
    // Reads nothing more until the simulator gives up on it.
    let mut slow = Vec::new();
    for _ in 0..300 {
        slow = report(&address).await.slow_consumers;
        if !slow.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].exchange, "binance");
    // What was sent before still arrives, then the connection ends.
    let mut frames = 0;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the connection ends");
        match message {
            Some(Ok(Message::Text(_))) => frames += 1,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(frames > 0);
    shutdown.cancel();
}
