//! The simulator speaks Coinbase Exchange's WebSocket feed from its own trades and books.

use std::collections::BTreeMap;
use std::time::Duration;

use marketprism_sim::{BookKey, Config, TrueBook};
use serde_json::{json, Value};

use crate::{connect, http, next_text, report, send, start};

/// One side of a book: price, as an integer of the simulator's eight decimals, to the
/// `[price, size]` written.
type Side = BTreeMap<u64, [String; 2]>;

/// The integer of a price written with the simulator's eight decimals.
fn ticks(price: &str) -> u64 {
    price.replace('.', "").parse().expect("a price")
}

/// Sets `[price, size]` levels on `side`; a zero size removes the level.
fn apply(side: &mut Side, levels: impl IntoIterator<Item = [String; 2]>) {
    for [price, size] in levels {
        if size.trim_matches(['0', '.']).is_empty() {
            side.remove(&ticks(&price));
        } else {
            side.insert(ticks(&price), [price, size]);
        }
    }
}

/// The `[price, size]` pairs of a JSON array of them.
fn pairs(levels: &Value) -> Vec<[String; 2]> {
    levels
        .as_array()
        .expect("levels")
        .iter()
        .map(|level| [0, 1].map(|index| level[index].as_str().expect("text").to_owned()))
        .collect()
}

#[tokio::test]
async fn a_client_gets_matches_books_and_heartbeats_as_coinbase_exchange_sends_them() {
    let (address, shutdown) = start(Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
        rate: 50,
        ping_interval: Duration::from_secs(60),
        ..Config::default()
    })
    .await;
    let mut socket = connect(&address, "/ws-feed").await;

    // An unknown product or channel fails the whole request.
    for (channel, product, reason) in [
        ("matches", "DOGE-USDT", "DOGE-USDT is not a valid product"),
        ("full", "BTC-USDT", "full is not a valid channel"),
    ] {
        send(
            &mut socket,
            &json!({"type": "subscribe", "product_ids": [product], "channels": [channel]}),
        )
        .await;
        assert_eq!(
            next_text(&mut socket).await,
            json!({"type": "error", "message": "Failed to subscribe", "reason": reason})
        );
    }

    send(
        &mut socket,
        &json!({"type": "subscribe", "channels": [
            {"name": "matches", "product_ids": ["BTC-USDT"]},
            {"name": "level2_batch", "product_ids": ["BTC-USDT"]},
            {"name": "heartbeat", "product_ids": ["BTC-USDT"]}]}),
    )
    .await;
    // The answer first, then the book's snapshot.
    assert_eq!(
        next_text(&mut socket).await,
        json!({"type": "subscriptions", "channels": [
            {"name": "heartbeat", "product_ids": ["BTC-USDT"]},
            {"name": "level2_batch", "product_ids": ["BTC-USDT"]},
            {"name": "matches", "product_ids": ["BTC-USDT"]}]})
    );
    let snapshot = next_text(&mut socket).await;
    assert_eq!(
        (&snapshot["type"], &snapshot["product_id"]),
        (&json!("snapshot"), &json!("BTC-USDT"))
    );
    let (mut bids, mut asks) = (Side::new(), Side::new());
    apply(&mut bids, pairs(&snapshot["bids"]));
    apply(&mut asks, pairs(&snapshot["asks"]));
    assert_eq!(bids.len(), marketprism_sim::DEFAULT_LEVELS as usize);

    // Updates in order, each named by its time; matches numbered by trade and product
    // sequence; heartbeats counting both.
    let mut books = Vec::new();
    let (mut updates, mut last_time) = (0, String::new());
    let mut last_match: Option<(u64, u64)> = None;
    let mut heartbeats = 0;
    while updates < 15 || heartbeats < 2 {
        let frame = next_text(&mut socket).await;
        assert_eq!(frame["product_id"], "BTC-USDT", "{frame}");
        match frame["type"].as_str() {
            Some("l2update") => {
                let time = frame["time"].as_str().expect("time").to_owned();
                assert!(time > last_time, "{time} after {last_time}");
                let changes = frame["changes"].as_array().expect("changes");
                let side_of = |name: &str| {
                    changes
                        .iter()
                        .filter(|change| change[0] == name)
                        .map(|change| {
                            [1, 2].map(|index| change[index].as_str().expect("text").to_owned())
                        })
                        .collect::<Vec<_>>()
                };
                assert!(changes
                    .iter()
                    .all(|change| change[0] == "buy" || change[0] == "sell"));
                apply(&mut bids, side_of("buy"));
                apply(&mut asks, side_of("sell"));
                let since_epoch = humantime::parse_rfc3339(&time).expect("RFC 3339 time");
                let time_us = since_epoch
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after the epoch")
                    .as_micros();
                books.push((time_us, bids.clone(), asks.clone()));
                last_time = time;
                updates += 1;
            }
            Some("match") => {
                let ids = (
                    frame["trade_id"].as_u64().expect("trade id"),
                    frame["sequence"].as_u64().expect("sequence"),
                );
                if let Some((trade_id, sequence)) = last_match {
                    assert_eq!(ids.0, trade_id + 1, "trade ids without holes");
                    assert!(ids.1 > sequence, "the product's sequence grows");
                }
                assert!(["buy", "sell"].contains(&frame["side"].as_str().unwrap_or_default()));
                last_match = Some(ids);
            }
            Some("heartbeat") => {
                if let Some((trade_id, sequence)) = last_match {
                    assert_eq!(frame["last_trade_id"], trade_id, "{frame}");
                    assert!(frame["sequence"].as_u64() >= Some(sequence), "{frame}");
                }
                heartbeats += 1;
            }
            other => panic!("unexpected {other:?}: {frame}"),
        }
    }
    let (trade_id, _) = last_match.expect("matches");

    // The book the frames build is the simulator's at each update's time.
    for (time_us, bids, asks) in books {
        let (status, body) = http(
            &address,
            "GET",
            &format!(
                "/control/book?symbol=BTCUSDT&update_id={time_us}&limit=100&by={}",
                BookKey::Time.as_str()
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let truth: TrueBook = serde_json::from_str(&body).expect("a true book");
        assert_eq!(truth.bids, bids.values().rev().cloned().collect::<Vec<_>>());
        assert_eq!(truth.asks, asks.values().cloned().collect::<Vec<_>>());
    }

    // A later subscriber to `matches` first gets the product's latest trade again.
    let mut late = connect(&address, "/ws-feed").await;
    send(
        &mut late,
        &json!({"type": "subscribe", "product_ids": ["BTC-USDT"], "channels": ["matches"]}),
    )
    .await;
    assert_eq!(next_text(&mut late).await["type"], "subscriptions");
    let repeated = next_text(&mut late).await;
    assert_eq!(repeated["type"], "last_match", "{repeated}");
    assert!(
        repeated["trade_id"].as_u64() >= Some(trade_id),
        "{repeated}"
    );

    let report = report(&address).await;
    let delivered = |id: u64| {
        report.trades.iter().any(|trade| {
            trade.symbol == "BTCUSDT"
                && trade.trade_id == id
                && trade.venues.contains("coinbase/spot")
        })
    };
    assert!(delivered(trade_id));
    assert!(report
        .trades
        .iter()
        .filter(|trade| trade.symbol == "ETHUSDT")
        .all(|trade| !trade.delivered));
    shutdown.cancel();
}
