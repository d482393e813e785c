//! The simulator holds WebSocket clients to their venue's limits, over real sockets, and
//! reports what it refused.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use marketprism_sim::Config;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::{connect, next_text, report, send, start, Socket};

/// A simulator of `symbols` symbols (`S0000USDT`, ...) generating no trades, with one book
/// level each and no pings.
fn config(symbols: usize) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: (0..symbols)
            .map(|index| format!("S{index:04}USDT"))
            .collect(),
        rate: 0,
        book_levels: 1,
        ping_interval: Duration::from_secs(60),
        ..Config::default()
    }
}

/// `<symbol>@trade` and `<symbol>@aggTrade` of the symbols `range`.
fn streams(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .flat_map(|index| ["trade", "aggTrade"].map(|channel| format!("s{index:04}usdt@{channel}")))
        .collect()
}

/// The next frame that carries an id: a reply, past any data.
async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        let frame = next_text(socket).await;
        if frame.get("id").is_some() {
            return frame;
        }
    }
}

/// The close frame the simulator ends `socket` with, past any other frame.
async fn close_code(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|frame| frame.code),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return None,
        }
    }
}

#[tokio::test]
async fn binance_refuses_a_1025th_stream_and_closes_a_sixth_message_in_a_second() {
    let (address, shutdown) = start(config(513)).await;
    // 1,000 streams named in the URL, then 24 subscribed: the connection's 1,024.
    let mut socket = connect(
        &address,
        &format!("/stream?streams={}", streams(0..500).join("/")),
    )
    .await;
    let subscribe =
        |id: u64, names: Vec<String>| json!({"method": "SUBSCRIBE", "params": names, "id": id});
    send(&mut socket, &subscribe(1, streams(500..512))).await;
    assert_eq!(
        next_reply(&mut socket).await,
        json!({"result": null, "id": 1})
    );
    // The 1,025th is refused, and nothing of the request is subscribed.
    send(&mut socket, &subscribe(2, streams(512..513))).await;
    let refused = next_reply(&mut socket).await;
    assert_eq!(
        (refused["id"].as_u64(), refused["error"]["code"].as_i64()),
        (Some(2), Some(2))
    );
    send(
        &mut socket,
        &json!({"method": "LIST_SUBSCRIPTIONS", "id": 3}),
    )
    .await;
    let listed = next_reply(&mut socket).await;
    assert_eq!(listed["result"].as_array().map(Vec::len), Some(1_024));
    // Six at once: the sixth within a second closes the connection, whatever came before.
    for id in 4..10 {
        let list = json!({"method": "LIST_SUBSCRIPTIONS", "id": id}).to_string();
        // Once the simulator has closed, sending may fail; the close frame tells.
        let _ = socket.send(Message::text(list)).await;
    }
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Policy));

    // A URL naming more streams than a connection carries is refused.
    let url = format!(
        "ws://{address}/stream?streams={}",
        streams(0..513).join("/")
    );
    assert!(tokio_tungstenite::connect_async(url).await.is_err());

    let usage = report(&address).await.ws_usage["binance_spot"].clone();
    assert_eq!((usage.peak_streams, usage.streams_limit), (1_024, 1_024));
    assert_eq!(
        (
            usage.refused_requests,
            usage.closed_for_messages,
            usage.refused_connections
        ),
        (1, 1, 1)
    );
    assert_eq!(usage.refusals(), 3);
    shutdown.cancel();
}

#[tokio::test]
async fn bybit_spot_refuses_eleven_topics_in_one_subscribe_and_okx_a_fourth_connection_in_a_second()
{
    let (address, shutdown) = start(config(11)).await;
    let mut socket = connect(&address, "/v5/public/spot").await;
    let topics = |count: usize| -> Vec<String> {
        (0..count)
            .map(|index| format!("publicTrade.S{index:04}USDT"))
            .collect()
    };
    send(
        &mut socket,
        &json!({"op": "subscribe", "args": topics(11), "req_id": "1"}),
    )
    .await;
    let refused = next_text(&mut socket).await;
    assert_eq!(refused["success"], false);
    assert_eq!(refused["ret_msg"], "args size >10");
    send(
        &mut socket,
        &json!({"op": "subscribe", "args": topics(10), "req_id": "2"}),
    )
    .await;
    let accepted = next_text(&mut socket).await;
    assert_eq!(
        (accepted["success"].as_bool(), accepted["req_id"].as_str()),
        (Some(true), Some("2"))
    );

    // OKX takes 3 connection requests per second from an IP.
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(connect(&address, "/ws/v5/public").await);
    }
    let fourth = tokio_tungstenite::connect_async(format!("ws://{address}/ws/v5/public")).await;
    assert!(fourth.is_err(), "a fourth OKX connection within the second");

    let usage = report(&address).await.ws_usage;
    let bybit = &usage["bybit_spot"];
    assert_eq!(
        (bybit.refused_requests, bybit.peak_args, bybit.args_limit),
        (1, 11, 10)
    );
    assert_eq!(bybit.peak_streams, 10);
    let okx = &usage["okx"];
    assert_eq!((okx.connections, okx.refused_connections), (3, 1));
    assert_eq!(okx.peak_connection_attempts, 4);
    shutdown.cancel();
}
