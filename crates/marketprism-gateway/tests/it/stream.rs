//! `WS /v1/stream` against a real nats-server: the replay from `start` hands over to live
//! with every event once and in order, gaps and heartbeats arrive inline, a client that does
//! not read is closed with a reason, and a bad parameter is refused before the upgrade.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use marketprism_model::codec::MessageEncoder;
use marketprism_model::{Event, Exchange, Gap, GapReason, GapState, MarketType};
use serde_json::Value;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{trade, Harness};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Publishes `first` and `rest` as one message, acknowledged.
async fn publish_message(context: &async_nats::jetstream::Context, first: &Event, rest: &[Event]) {
    let mut message = MessageEncoder::new(first.clone());
    for event in rest {
        message.push(event.clone());
    }
    let message = message.finish();
    context
        .publish(message.subject, message.body.into())
        .await
        .expect("publish")
        .await
        .expect("stored");
}

/// Publishes BTC-USDT trades `ids`, `per_message` to a message, each acknowledged.
async fn publish(
    context: &async_nats::jetstream::Context,
    ids: std::ops::Range<u64>,
    per_message: usize,
) {
    let events: Vec<Event> = ids
        .map(|id| trade("BTC-USDT", id, i64::try_from(id).expect("small"), "100.5"))
        .collect();
    for chunk in events.chunks(per_message) {
        publish_message(context, &chunk[0], &chunk[1..]).await;
    }
}

/// Connects to `/v1/stream?query`.
async fn connect(harness: &Harness, query: &str) -> Socket {
    let url = format!(
        "{}/v1/stream?{query}",
        harness.base.replacen("http", "ws", 1)
    );
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgraded");
    socket
}

/// The next text frame as JSON, or the close frame's (code, reason); `None` after `wait`.
async fn next(socket: &mut Socket, wait: Duration) -> Option<Result<Value, (u16, String)>> {
    loop {
        let frame = tokio::time::timeout(wait, socket.next()).await.ok()??;
        match frame.expect("frame") {
            Message::Text(text) => {
                return Some(Ok(serde_json::from_str(&text).expect("JSON frame")));
            }
            Message::Close(close) => {
                return Some(Err(close.map_or((0, String::new()), |close| {
                    (u16::from(close.code), close.reason.to_string())
                })));
            }
            _ => {}
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_millis()).expect("in range"))
        .expect("after 1970")
}

#[tokio::test]
async fn a_replay_from_start_hands_over_to_live_with_every_event_once() {
    let harness = Harness::start("stream_switch", |config| {
        config.live.heartbeat = Duration::from_millis(300);
    })
    .await;
    let context = harness.jetstream().await;
    let start = now_ms() - 60_000;
    publish(&context, 0..300, 100).await;

    let mut socket = connect(
        &harness,
        &format!("types=trade&symbols=BTC-USDT&exchange=binance&start={start}"),
    )
    .await;
    // More trades while the client replays and switches to live.
    let live = {
        let context = context.clone();
        tokio::spawn(async move {
            for first in (300..600).step_by(10) {
                publish(&context, first..first + 10, 10).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let gap = Event::Gap(Gap {
                exchange: Exchange::Binance,
                market_type: MarketType::Spot,
                symbol: "BTC-USDT".parse().expect("valid"),
                from_ms: 1,
                to_ms: 2,
                reason: GapReason::Disconnect,
                received_time_ms: 2,
                missing_ids: None,
                state: GapState::default(),
                collector: None,
            });
            publish_message(&context, &gap, &[]).await;
        })
    };

    let mut ids = Vec::new();
    let mut completed_after = None;
    let mut gaps = 0;
    let mut heartbeats = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while (ids.len() < 600 || gaps == 0 || heartbeats == 0) && Instant::now() < deadline {
        match next(&mut socket, Duration::from_secs(10)).await {
            Some(Ok(frame)) => match frame["type"].as_str() {
                Some("trade") => ids.push(
                    frame["trade_id"]
                        .as_str()
                        .and_then(|id| id.parse::<u64>().ok())
                        .expect("a trade id"),
                ),
                Some("replay_completed") => {
                    assert_eq!(completed_after, None, "one marker");
                    completed_after = Some(ids.len());
                }
                Some("gap") => gaps += 1,
                Some("heartbeat") => heartbeats += 1,
                other => panic!("unexpected frame {other:?}: {frame}"),
            },
            Some(Err(close)) => panic!("closed: {close:?}"),
            None => break,
        }
    }
    live.await.expect("published");
    assert_eq!(
        ids,
        (0..600).collect::<Vec<u64>>(),
        "every trade once, in order"
    );
    let completed_after = completed_after.expect("a replay_completed frame");
    assert!(
        completed_after >= 300,
        "the marker follows what was stored before the client came: {completed_after}"
    );
    assert_eq!(gaps, 1);
    assert!(heartbeats > 0);
    socket.close(None).await.expect("closed");
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_with_the_reason() {
    let harness = Harness::start("stream_overflow", |config| {
        config.live.client_buffer = 10;
    })
    .await;
    let context = harness.jetstream().await;
    let mut socket = connect(&harness, "types=trade&symbols=BTC-USDT").await;
    // Far more than the socket's buffers hold while nothing is read.
    publish(&context, 0..100_000, 500).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let close = loop {
        assert!(Instant::now() < deadline, "never closed");
        match next(&mut socket, Duration::from_secs(20)).await {
            Some(Ok(_)) => {}
            Some(Err(close)) => break close,
            None => panic!("neither closed nor sending"),
        }
    };
    assert_eq!(close.0, u16::from(CloseCode::Policy), "{close:?}");
    assert!(close.1.contains("too slow"), "{close:?}");
}

#[tokio::test]
async fn a_bad_parameter_is_refused_before_the_upgrade() {
    let harness = Harness::start("stream_bad", |_| {}).await;
    let url = format!(
        "{}/v1/stream?types=trades&symbols=BTC-USDT",
        harness.base.replacen("http", "ws", 1)
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("\"parameter\":\"types\""), "{body}");
        }
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
}

/// The trade ids of `frames`, each an event or, with `frames=array`, an array of events.
fn trade_ids(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .flat_map(|frame| match frame {
            Value::Array(events) => events.clone(),
            event => vec![event.clone()],
        })
        .filter(|event| event["type"] == "trade")
        .map(|event| {
            event["trade_id"]
                .as_str()
                .and_then(|id| id.parse::<u64>().ok())
                .expect("a trade id")
        })
        .collect()
}

#[tokio::test]
async fn live_clients_of_a_subject_share_one_reader_and_each_gets_every_event() {
    let harness = Harness::start("stream_shared", |_| {}).await;
    let context = harness.jetstream().await;
    let mut first = connect(&harness, "types=trade&symbols=BTC-USDT").await;
    // The same events, framed in arrays.
    let mut second = connect(&harness, "types=trade&symbols=BTC-USDT&frames=array").await;
    // One reader per subject (the trades and the gaps of BTC-USDT), not one per client.
    let mut stream = context
        .get_stream(&harness.config.nats.stream.name)
        .await
        .expect("stream");
    let deadline = Instant::now() + Duration::from_secs(10);
    let consumers = loop {
        let consumers = stream.info().await.expect("info").state.consumer_count;
        if consumers >= 2 || Instant::now() > deadline {
            break consumers;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        (
            consumers,
            stream.info().await.expect("info").state.consumer_count
        ),
        (2, 2)
    );
    publish(&context, 0..200, 20).await;
    let mut frame_counts = Vec::new();
    for socket in [&mut first, &mut second] {
        let mut frames = Vec::new();
        while trade_ids(&frames).len() < 200 {
            match next(socket, Duration::from_secs(10)).await {
                Some(Ok(frame)) if frame["type"] != "heartbeat" => frames.push(frame),
                Some(Ok(_)) => {}
                other => panic!("after {} trades: {other:?}", trade_ids(&frames).len()),
            }
        }
        assert_eq!(trade_ids(&frames), (0..200).collect::<Vec<u64>>());
        frame_counts.push(frames.len());
    }
    // One frame per event; in arrays, one per message of 20.
    assert_eq!(frame_counts, [200, 10]);
}
