//! Coinbase Exchange framing (`wss://ws-feed.exchange.coinbase.com`, formerly Coinbase Pro,
//! served at `/ws-feed`): the simulator's trades on `matches`, its books on `level2_batch`
//! and `level2` (a `snapshot`, then `l2update`s), a `heartbeat` per product every second; or,
//! during a replay, the captured frames.
//!
//! A subscribe or unsubscribe request names channels with their products
//! (`{"type":"subscribe","channels":[{"name":"matches","product_ids":["BTC-USD"]}]}`, or
//! channel names with top-level `product_ids`) and is answered by a `subscriptions` message
//! listing every subscription of the connection; what a subscription brings (a book's
//! `snapshot`, the product's latest trade as `last_match`) follows it, as in the capture. An
//! unknown channel or product fails the whole request with an `error`.
//!
//! * `match`: `trade_id` is the simulator's, counting the product's trades without holes;
//!   `side` is the maker's. `sequence` is the product's: Coinbase numbers every order event
//!   of a product, and the simulator's order events are its book's level changes and its
//!   trades, so a product's sequence is its book's last update id plus its last trade id,
//!   which jumps between matches as the book changes.
//! * `l2update`: the levels a book event changed, at the event's time (microseconds,
//!   strictly increasing per book), and no number: Coinbase loses no message of a
//!   connection but closes one that falls behind, so a book event the simulator drops (the
//!   `drop` fault) closes the connections subscribed to that book. `level2` is served as
//!   `level2_batch` is, as before Coinbase required authentication for it (2023).
//! * `heartbeat`: the product's `sequence` and `last_trade_id`.
//!
//! A captured frame names its kind in `type` and its product in `product_id`: `match` and
//! `last_match` belong to `matches`, `snapshot` and `l2update` to `level2`, whose batched
//! form `level2_batch` sends the same messages.
//!
//! Written from Coinbase's documentation and the capture `coinbase.20210417T1643Z`,
//! independently of the collector's parsers.
//! Docs: <https://docs.cdp.coinbase.com/exchange/websocket-feed/channels>

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::coinbase::{product, time_text};
use crate::depth::{price_text, quantity_text, BookEvent, BookSnapshot, Change};
use crate::dialect::{strings, subscribe_book, symbol_of, Dialect};
use crate::server::{Client, Outbound, Shared, TradeDelivery};
use crate::trades::TradeFrame;
use crate::SimTrade;

/// Where the trades of both Coinbase feeds are written: one exchange and market.
const VENUE: &str = "coinbase/spot";

/// The channels the simulator serves.
const CHANNELS: [&str; 4] = ["matches", "level2_batch", "level2", "heartbeat"];

/// The fields that name a captured frame's stream.
#[derive(Deserialize)]
struct Pushed<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    product_id: Option<&'a str>,
}

/// The subscription a captured frame belongs to (`matches:BTC-USD`, `level2:BTC-USD`,
/// `heartbeat:BTC-USD`, `ticker:BTC-USD`); `None` for answers and errors.
pub(crate) fn stream(payload: &str) -> Option<String> {
    let pushed: Pushed<'_> = serde_json::from_str(payload).ok()?;
    let channel = match pushed.kind {
        "match" | "last_match" => "matches",
        "snapshot" | "l2update" => "level2",
        "heartbeat" => "heartbeat",
        "ticker" => "ticker",
        _ => return None,
    };
    Some(format!("{channel}:{}", pushed.product_id?))
}

/// The stream a subscription name stands for: `level2_batch` sends `level2`'s messages.
pub(crate) fn stream_key(name: &str) -> String {
    match name.strip_prefix("level2_batch:") {
        Some(product) => format!("level2:{product}"),
        None => name.to_owned(),
    }
}

/// The subscription keys (`channel:product`) a subscribe or unsubscribe request names.
pub(crate) fn request_keys(request: &Value) -> Vec<String> {
    let top_products = strings(&request["product_ids"]);
    let mut keys = Vec::new();
    for channel in request["channels"].as_array().into_iter().flatten() {
        let (name, products) = match channel.as_str() {
            Some(name) => (name, top_products.clone()),
            None => (
                channel["name"].as_str().unwrap_or_default(),
                strings(&channel["product_ids"]),
            ),
        };
        keys.extend(products.iter().map(|product| format!("{name}:{product}")));
    }
    keys
}

/// A product's latest trade: sent again as `last_match` on subscription, and counted in
/// heartbeats.
#[derive(Debug, Clone)]
pub(crate) struct LastMatch {
    /// The trade's number in the report.
    index: u64,
    trade: SimTrade,
    /// The product's sequence at the trade.
    sequence: u64,
}

/// Each symbol's latest trade.
pub(crate) type LastMatches = HashMap<String, LastMatch>;

/// The sequence of `symbol`'s product after its trade `trade_id`: its book's last update id
/// plus the trade id.
pub(crate) fn sequence(shared: &Shared, symbol: &str, trade_id: u64) -> u64 {
    let book = shared.books().last_update_id(symbol).unwrap_or_default();
    book.saturating_add(trade_id)
}

/// Notes `trade`, the report's trade `index` at product sequence `sequence`, as its
/// product's latest.
pub(crate) fn note_trade(shared: &Shared, index: u64, trade: SimTrade, sequence: u64) {
    shared.last_matches().insert(
        trade.symbol.clone(),
        LastMatch {
            index,
            trade,
            sequence,
        },
    );
}

/// A `match` (or `last_match`, `kind`) of `trade` on `product` at `sequence`. The order ids
/// are made from the trade id, the maker's and the taker's told apart.
fn match_text(kind: &str, product: &str, trade: &SimTrade, sequence: u64) -> String {
    let order = |role: u8| format!("00000000-0000-4000-{role}000-{:012x}", trade.trade_id);
    json!({
        "type": kind, "trade_id": trade.trade_id,
        "maker_order_id": order(8), "taker_order_id": order(9),
        "side": if trade.buyer_is_maker { "buy" } else { "sell" },
        "size": trade.quantity, "price": trade.price, "product_id": product,
        "sequence": sequence, "time": time_text(trade.trade_time_ms.saturating_mul(1_000)),
    })
    .to_string()
}

/// The `match` carrying `trade`, at product sequence `sequence`, to `client`, if it
/// subscribed to its product's `matches`.
pub(crate) fn trade(client: &Client, trade: &SimTrade, sequence: u64) -> Option<TradeFrame> {
    let product = product(&trade.symbol)?;
    if !client.streams.contains(&format!("matches:{product}")) {
        return None;
    }
    Some(TradeFrame {
        text: match_text("match", &product, trade, sequence),
        venue: VENUE,
    })
}

/// The product whose book of the simulator symbol `symbol` `client` subscribed to, on
/// `level2_batch` or `level2`.
pub(crate) fn subscribed_book(client: &Client, symbol: &str) -> Option<String> {
    let product = product(symbol)?;
    ["level2_batch", "level2"]
        .iter()
        .any(|channel| client.streams.contains(&format!("{channel}:{product}")))
        .then_some(product)
}

/// `[side, price, size]` of each change, bids (`buy`) first.
fn changes(event: &BookEvent) -> Vec<Value> {
    let side = |name: &'static str, changes: &[Change]| -> Vec<Value> {
        changes
            .iter()
            .map(|change| {
                json!([
                    name,
                    price_text(change.price),
                    quantity_text(change.quantity)
                ])
            })
            .collect()
    };
    let mut all = side("buy", &event.bids);
    all.extend(side("sell", &event.asks));
    all
}

/// The `l2update` carrying `event` of `product`'s book.
pub(crate) fn book_event(product: &str, event: &BookEvent) -> String {
    json!({
        "type": "l2update", "product_id": product, "changes": changes(event),
        "time": time_text(event.time_us),
    })
    .to_string()
}

/// The `snapshot` of `product`'s `book`: every level, best first, without a time or a
/// number.
pub(crate) fn book_snapshot(product: &str, book: &BookSnapshot) -> String {
    let side = |levels: &[(i64, u64)]| -> Vec<Value> {
        levels
            .iter()
            .map(|(price, quantity)| json!([price_text(*price), quantity_text(*quantity)]))
            .collect()
    };
    json!({"type": "snapshot", "product_id": product, "asks": side(&book.asks),
           "bids": side(&book.bids)})
    .to_string()
}

/// Notes that `symbol`'s book event was lost: Coinbase would have closed a connection too
/// slow to take it, so a client subscribed to the book is closed.
pub(crate) fn lose_book_event(client: &Client, symbol: &str) {
    if subscribed_book(client, symbol).is_some() {
        client.close.cancel();
    }
}

/// Queues to `client` a `heartbeat` of each product it subscribed to `heartbeat` for.
pub(crate) fn heartbeats(shared: &Shared, client: &Client) {
    let now = time_text(crate::depth::now_us());
    for product in client
        .streams
        .iter()
        .filter_map(|stream| stream.strip_prefix("heartbeat:"))
    {
        let Some(symbol) = symbol_of(Dialect::CoinbaseExchange, product, shared) else {
            continue;
        };
        let last_trade_id = shared
            .last_matches()
            .get(&symbol)
            .map_or(0, |last| last.trade.trade_id);
        let text = json!({
            "type": "heartbeat", "last_trade_id": last_trade_id, "product_id": product,
            "sequence": sequence(shared, &symbol, last_trade_id), "time": now,
        })
        .to_string();
        client.offer(Outbound { text, trade: None });
    }
}

fn reply(client: &Client, value: Value) {
    client.offer(Outbound {
        text: value.to_string(),
        trade: None,
    });
}

/// The `subscriptions` answer: every subscription of `client`, products by channel.
fn subscriptions(client: &Client) -> Value {
    let mut channels: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for stream in &client.streams {
        if let Some((channel, product)) = stream.split_once(':') {
            channels.entry(channel).or_default().push(product);
        }
    }
    let channels: Vec<Value> = channels
        .into_iter()
        .map(|(name, products)| json!({"name": name, "product_ids": products}))
        .collect();
    json!({"type": "subscriptions", "channels": channels})
}

/// Why a subscription `key` (`channel:product`) cannot be served; `None` when it can.
fn refusal(shared: &Shared, key: &str) -> Option<String> {
    let (channel, product) = key.split_once(':')?;
    if !CHANNELS.contains(&channel) {
        return Some(format!("{channel} is not a valid channel"));
    }
    symbol_of(Dialect::CoinbaseExchange, product, shared)
        .is_none()
        .then(|| format!("{product} is not a valid product"))
}

/// Queues what subscribing `client` to `key` brings: a book's snapshot, the product's latest
/// trade as `last_match`.
fn subscribed(shared: &Shared, client: &mut Client, key: &str) {
    let Some((channel, product)) = key.split_once(':') else {
        return;
    };
    let Some(symbol) = symbol_of(Dialect::CoinbaseExchange, product, shared) else {
        return;
    };
    match channel {
        "level2_batch" | "level2" => subscribe_book(shared, client, key.to_owned(), &symbol),
        "matches" => {
            let last = shared.last_matches().get(&symbol).cloned();
            if let Some(last) = last {
                client.offer(Outbound {
                    text: match_text("last_match", product, &last.trade, last.sequence),
                    trade: Some(TradeDelivery {
                        index: last.index,
                        venue: VENUE,
                    }),
                });
            }
        }
        _ => {}
    }
}

/// Answers a request of `client`: subscribes or unsubscribes what it names and answers with
/// the connection's subscriptions, then queues what new subscriptions bring. A replay serves
/// whatever the capture holds, bringing nothing of its own.
pub(crate) fn handle(shared: &Shared, client: &mut Client, text: &str) {
    let error = |client: &Client, reason: &str| {
        reply(
            client,
            json!({"type": "error", "message": "Failed to subscribe", "reason": reason}),
        );
    };
    let Ok(request) = serde_json::from_str::<Value>(text) else {
        return error(client, "malformed request");
    };
    let keys = request_keys(&request);
    let generated = shared.replay.is_none();
    match request["type"].as_str() {
        Some("subscribe") => {
            if let Some(reason) = keys
                .iter()
                .filter(|_| generated)
                .find_map(|key| refusal(shared, key))
            {
                return error(client, &reason);
            }
            client.streams.extend(keys.iter().cloned());
            shared.streams_changed();
            let answer = subscriptions(client);
            reply(client, answer);
            if generated {
                for key in &keys {
                    subscribed(shared, client, key);
                }
            }
        }
        Some("unsubscribe") => {
            for key in &keys {
                client.streams.remove(key);
            }
            shared.streams_changed();
            let answer = subscriptions(client);
            reply(client, answer);
        }
        _ => error(client, "unknown request type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(streams: &[&str]) -> Client {
        Client::subscribed(Dialect::CoinbaseExchange, false, streams)
    }

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn a_trade_is_a_match_of_its_product_with_the_maker_s_side() {
        let trade = SimTrade {
            symbol: "SOLUSDT".into(),
            trade_id: 1_000_007,
            price: "1000.25000000".into(),
            quantity: "0.00500000".into(),
            buyer_is_maker: true,
            trade_time_ms: 1_700_000_000_123,
            delivered: false,
            venues: Default::default(),
        };
        assert!(self::trade(&client(&["level2_batch:SOL-USDT"]), &trade, 9).is_none());
        let frame =
            self::trade(&client(&["matches:SOL-USDT"]), &trade, 6_000_007).expect("subscribed");
        assert_eq!(frame.venue, "coinbase/spot");
        let sent = parsed(&frame.text);
        assert_eq!(
            (&sent["type"], &sent["product_id"], &sent["side"]),
            (&json!("match"), &json!("SOL-USDT"), &json!("buy"))
        );
        assert_eq!(
            (&sent["trade_id"], &sent["sequence"]),
            (&json!(1_000_007), &json!(6_000_007))
        );
        assert_eq!(
            (&sent["price"], &sent["size"], &sent["time"]),
            (
                &json!("1000.25000000"),
                &json!("0.00500000"),
                &json!("2023-11-14T22:13:20.123000Z")
            )
        );
        assert_ne!(sent["maker_order_id"], sent["taker_order_id"]);
        let last = parsed(&match_text("last_match", "SOL-USDT", &trade, 1));
        assert_eq!(last["type"], "last_match");
    }

    #[test]
    fn books_are_a_snapshot_then_updates_at_microsecond_times() {
        let batched = client(&["level2_batch:SOL-USDT", "matches:XRP-USDT"]);
        let unbatched = client(&["level2:XRP-USDT"]);
        assert_eq!(
            subscribed_book(&batched, "SOLUSDT").as_deref(),
            Some("SOL-USDT")
        );
        assert_eq!(subscribed_book(&batched, "XRPUSDT"), None);
        assert_eq!(
            subscribed_book(&unbatched, "XRPUSDT").as_deref(),
            Some("XRP-USDT")
        );
        let change = |price, quantity| Change {
            price,
            quantity,
            existed: true,
        };
        let event = BookEvent {
            symbol: "SOLUSDT".into(),
            first_id: 11,
            last_id: 13,
            prev_id: 10,
            event: 2,
            time_us: 1_700_000_000_123_456,
            bids: vec![change(99_999, 0), change(99_998, 5)],
            asks: vec![change(100_001, 150_000_000)],
            checksum: 0,
        };
        assert_eq!(
            parsed(&book_event("SOL-USDT", &event)),
            json!({"type": "l2update", "product_id": "SOL-USDT",
                   "changes": [["buy", "999.99000000", "0.00000000"],
                               ["buy", "999.98000000", "0.00000005"],
                               ["sell", "1000.01000000", "1.50000000"]],
                   "time": "2023-11-14T22:13:20.123456Z"})
        );
        let book = BookSnapshot {
            last_id: 13,
            event: 2,
            bids: vec![(99_998, 5)],
            asks: vec![(100_001, 150_000_000), (100_002, 1)],
            checksum: 0,
        };
        assert_eq!(
            parsed(&book_snapshot("SOL-USDT", &book)),
            json!({"type": "snapshot", "product_id": "SOL-USDT",
                   "bids": [["999.98000000", "0.00000005"]],
                   "asks": [["1000.01000000", "1.50000000"], ["1000.02000000", "0.00000001"]]})
        );
        // A lost event closes the connections that would have carried it.
        lose_book_event(&batched, "XRPUSDT");
        assert!(!batched.close.is_cancelled());
        lose_book_event(&batched, "SOLUSDT");
        assert!(batched.close.is_cancelled());
    }

    #[test]
    fn captured_frames_name_their_stream_and_requests_their_keys() {
        let cases = [
            (
                r#"{"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],"time":"2021-04-17T16:43:37.075687Z"}"#,
                Some("level2:SKL-BTC"),
            ),
            (
                r#"{"type":"snapshot","product_id":"BAND-GBP","asks":[],"bids":[]}"#,
                Some("level2:BAND-GBP"),
            ),
            (
                r#"{"type":"last_match","trade_id":1,"product_id":"NU-GBP"}"#,
                Some("matches:NU-GBP"),
            ),
            (
                r#"{"type":"subscriptions","channels":[{"name":"level2","product_ids":["BAND-GBP"]}]}"#,
                None,
            ),
            ("not json", None),
        ];
        for (payload, expected) in cases {
            assert_eq!(stream(payload).as_deref(), expected, "{payload}");
        }
        assert_eq!(stream_key("level2_batch:BTC-USD"), "level2:BTC-USD");
        assert_eq!(stream_key("matches:BTC-USD"), "matches:BTC-USD");
        let request: Value = serde_json::from_str(
            r#"{"type":"subscribe","product_ids":["ETH-USD"],"channels":[{"name":"matches","product_ids":["BTC-USD"]},"heartbeat"]}"#,
        )
        .expect("JSON");
        assert_eq!(
            request_keys(&request),
            ["matches:BTC-USD", "heartbeat:ETH-USD"]
        );
    }
}
