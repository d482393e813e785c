//! Coinbase Advanced Trade framing (`wss://advanced-trade-ws.coinbase.com`, served at `/`):
//! every message of a connection numbered from 0 (`sequence_num`, across channels),
//! `market_trades`, `level2` books answered as `l2_data` (a snapshot on subscription, then
//! updates), `heartbeats` every second, and `subscriptions` answers listing the connection's
//! subscriptions after each request.
//!
//! Frames are numbered as they are queued, so a book event the simulator drops (the `drop`
//! fault) leaves a hole in the numbering, as a message Coinbase lost would. The venue
//! numbers what it sends, so a duplicated or reordered event is just renumbered.
//!
//! Written from Coinbase's documentation and the capture `coinbase.20260809T2105Z`,
//! independently of the collector's parsers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::depth::{price_text, quantity_text, BookEvent, BookSnapshot, Change};
use crate::dialect::{split, subscribe_book, symbol_of, Dialect};
use crate::server::{Client, Outbound, Shared};
use crate::trades::TradeFrame;
use crate::SimTrade;

/// How often Coinbase's heartbeats are sent.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// The subscription key of `heartbeats`, which names no product.
const HEARTBEATS: &str = "heartbeats";

/// The Coinbase product of a simulator symbol: `BTCUSDT` → `BTC-USDT`.
pub(crate) fn product(symbol: &str) -> Option<String> {
    let (base, quote) = split(symbol)?;
    Some(format!("{base}-{quote}"))
}

/// A Unix microsecond time as Coinbase writes times (both feeds): RFC 3339 UTC with
/// microseconds.
pub(crate) fn time_text(time_us: i64) -> String {
    let since_epoch = Duration::from_micros(u64::try_from(time_us).unwrap_or_default());
    humantime::format_rfc3339_micros(UNIX_EPOCH + since_epoch).to_string()
}

/// The next message of `client` on `channel`, numbered in the connection's sequence.
fn message(client: &Client, channel: &str, events: Value) -> String {
    json!({
        "channel": channel,
        "client_id": "",
        "timestamp": humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
        "sequence_num": client.next_message(),
        "events": events,
    })
    .to_string()
}

/// The `market_trades` update carrying `trade` to `client`, if it subscribed to its product.
/// `side` is the maker's: a buyer-maker trade is `BUY`.
pub(crate) fn trade(client: &Client, trade: &SimTrade) -> Option<TradeFrame> {
    let product = product(&trade.symbol)?;
    if !client.streams.contains(&format!("market_trades:{product}")) {
        return None;
    }
    let events = json!([{"type": "update", "trades": [{
        "product_id": product, "trade_id": trade.trade_id.to_string(),
        "price": trade.price, "size": trade.quantity,
        "time": time_text(trade.trade_time_ms.saturating_mul(1_000)),
        "side": if trade.buyer_is_maker { "BUY" } else { "SELL" },
    }]}]);
    Some(TradeFrame {
        text: message(client, "market_trades", events),
        venue: "coinbase/spot",
    })
}

/// The `l2_data` levels of changes at `time_us`.
fn levels(bids: &[(i64, u64)], asks: &[(i64, u64)], time_us: i64) -> Vec<Value> {
    let event_time = time_text(time_us);
    let side = |name: &'static str, levels: &[(i64, u64)]| -> Vec<Value> {
        levels
            .iter()
            .map(|(price, quantity)| {
                json!({"side": name, "event_time": event_time,
                       "price_level": price_text(*price), "new_quantity": quantity_text(*quantity)})
            })
            .collect()
    };
    let mut all = side("bid", bids);
    all.extend(side("offer", asks));
    all
}

/// The `level2` subscription key of `product`.
fn book_key(product: &str) -> String {
    format!("level2:{product}")
}

/// Whether `client` subscribed to the book of the simulator symbol `symbol`.
pub(crate) fn subscribed_book(client: &Client, symbol: &str) -> Option<String> {
    let product = product(symbol)?;
    client
        .streams
        .contains(&book_key(&product))
        .then_some(product)
}

/// The `l2_data` update carrying `event` to `client`.
pub(crate) fn book_event(client: &Client, product: &str, event: &BookEvent) -> String {
    let pairs = |changes: &[Change]| -> Vec<(i64, u64)> {
        changes
            .iter()
            .map(|change| (change.price, change.quantity))
            .collect()
    };
    let updates = levels(&pairs(&event.bids), &pairs(&event.asks), event.time_us);
    message(
        client,
        "l2_data",
        json!([{"type": "update", "product_id": product, "updates": updates}]),
    )
}

/// The `l2_data` snapshot of `book` for `client`.
pub(crate) fn book_snapshot(client: &Client, product: &str, book: &BookSnapshot) -> String {
    let updates = levels(&book.bids, &book.asks, crate::depth::now_us());
    message(
        client,
        "l2_data",
        json!([{"type": "snapshot", "product_id": product, "updates": updates}]),
    )
}

/// Notes that `symbol`'s book event was lost: a client subscribed to it finds a hole in the
/// numbering where the message would have been.
pub(crate) fn lose_book_event(client: &Client, symbol: &str) {
    if subscribed_book(client, symbol).is_some() {
        client.next_message();
    }
}

fn reply(client: &Client, text: String) {
    client.offer(Outbound { text, trade: None });
}

/// The `subscriptions` answer: every subscription of `client`, products by channel.
fn subscriptions(client: &Client) -> String {
    let mut channels: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for stream in &client.streams {
        match stream.split_once(':') {
            Some((channel, product)) => channels.entry(channel).or_default().push(product),
            None => channels.entry(stream).or_default().push(stream),
        }
    }
    message(
        client,
        "subscriptions",
        json!([{"subscriptions": channels}]),
    )
}

/// Answers a `subscribe` or `unsubscribe` request: one channel, its products. A `level2`
/// subscription queues the product's snapshot first, then the `subscriptions` answer, as
/// Coinbase sends them; an unknown channel or product is answered with an `error`.
pub(crate) fn handle(shared: &Shared, client: &mut Client, text: &str) {
    let error = |client: &Client, message: &str| {
        reply(
            client,
            json!({"type": "error", "message": message}).to_string(),
        );
    };
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return error(client, "malformed request");
    };
    let kind = request["type"].as_str().unwrap_or_default();
    let channel = request["channel"].as_str().unwrap_or_default();
    let products = crate::dialect::strings(&request["product_ids"]);
    if !matches!(channel, "market_trades" | "level2" | HEARTBEATS) {
        return error(client, &format!("unknown channel {channel:?}"));
    }
    let keys: Vec<(String, Option<String>)> = if channel == HEARTBEATS {
        vec![(HEARTBEATS.to_owned(), None)]
    } else {
        let mut keys = Vec::new();
        for product in &products {
            let key = format!("{channel}:{product}");
            // A replay serves whatever the capture holds, with no snapshot of its own.
            if shared.replay.is_some() {
                keys.push((key, None));
                continue;
            }
            let Some(symbol) = symbol_of(Dialect::Coinbase, product, shared) else {
                return error(client, &format!("unknown product {product:?}"));
            };
            keys.push((key, Some(symbol)));
        }
        keys
    };
    match kind {
        "subscribe" => {
            for (key, symbol) in keys {
                match symbol.filter(|_| channel == "level2") {
                    Some(symbol) => subscribe_book(shared, client, key, &symbol),
                    None => {
                        client.streams.insert(key);
                        shared.streams_changed();
                    }
                }
            }
        }
        "unsubscribe" => {
            for (key, _) in keys {
                client.streams.remove(&key);
            }
            shared.streams_changed();
        }
        _ => return error(client, &format!("unknown request type {kind:?}")),
    }
    let answer = subscriptions(client);
    reply(client, answer);
}

/// Sends Coinbase's heartbeats every second: on Advanced Trade, one to each client
/// subscribed to `heartbeats`, counting heartbeats per connection; on Exchange, one per
/// product a client subscribed to `heartbeat` for (see `coinbase_exchange.rs`).
pub(crate) async fn heartbeats(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut counter: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        counter += 1;
        let clients = shared.clients();
        for client in clients.values() {
            match client.dialect {
                Dialect::Coinbase if client.streams.contains(HEARTBEATS) => {
                    let now = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
                    let events = json!([{"current_time": now, "heartbeat_counter": counter}]);
                    let text = message(client, HEARTBEATS, events);
                    reply(client, text);
                }
                Dialect::CoinbaseExchange => crate::coinbase_exchange::heartbeats(&shared, client),
                _ => {}
            }
        }
    }
}

/// A captured frame numbered in `client`'s sequence instead of the captured connection's: a
/// client subscribed to part of what the capture holds gets a numbering without holes.
pub(crate) fn renumbered(client: &Client, payload: &str) -> String {
    const FIELD: &str = "\"sequence_num\":";
    let Some(start) = payload.find(FIELD).map(|index| index + FIELD.len()) else {
        return payload.to_owned();
    };
    let digits = payload[start..]
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(payload.len() - start);
    format!(
        "{}{}{}",
        &payload[..start],
        client.next_message(),
        &payload[start + digits..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(streams: &[&str]) -> Client {
        Client::subscribed(Dialect::Coinbase, false, streams)
    }

    #[test]
    fn messages_are_numbered_per_connection_and_a_lost_event_leaves_a_hole() {
        let client = client(&["level2:BTC-USDT", "market_trades:BTC-USDT"]);
        let trade = SimTrade {
            symbol: "BTCUSDT".into(),
            trade_id: 7,
            price: "1000.25000000".into(),
            quantity: "0.00500000".into(),
            buyer_is_maker: true,
            trade_time_ms: 1_700_000_000_123,
            delivered: false,
            venues: Default::default(),
        };
        let first: Value =
            serde_json::from_str(&self::trade(&client, &trade).expect("subscribed").text)
                .expect("JSON");
        assert_eq!(first["sequence_num"], 0);
        assert_eq!(first["events"][0]["trades"][0]["side"], "BUY");
        assert_eq!(
            first["events"][0]["trades"][0]["time"],
            "2023-11-14T22:13:20.123000Z"
        );
        lose_book_event(&client, "BTCUSDT");
        lose_book_event(&client, "ETHUSDT");
        let captured = r#"{"channel":"heartbeats","timestamp":"2026-08-09T21:05:48.856364007Z","sequence_num":35,"events":[]}"#;
        assert_eq!(
            renumbered(&client, captured),
            captured.replace("\"sequence_num\":35", "\"sequence_num\":2")
        );
    }
}
