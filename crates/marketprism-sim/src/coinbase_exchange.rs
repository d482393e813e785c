//! Coinbase Exchange framing (`wss://ws-feed.exchange.coinbase.com`, formerly Coinbase Pro,
//! served at `/ws-feed`), for replays only: the simulator generates no Exchange data, so
//! outside a replay every subscribe request is refused.
//!
//! A subscribe or unsubscribe request names channels with their products
//! (`{"type":"subscribe","channels":[{"name":"matches","product_ids":["BTC-USD"]}]}`, or
//! channel names with top-level `product_ids`) and is answered by a `subscriptions` message
//! listing every subscription of the connection. A captured frame names its kind in `type`
//! and its product in `product_id`: `match` and `last_match` belong to `matches`, `snapshot`
//! and `l2update` to `level2`, whose batched form `level2_batch` sends the same messages.
//!
//! Written from Coinbase's documentation and the capture `coinbase.20210417T1643Z`,
//! independently of the collector's parsers.
//! Docs: <https://docs.cdp.coinbase.com/exchange/websocket-feed/overview>

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::dialect::strings;
use crate::server::{Client, Outbound, Shared};

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

/// Answers a request of `client`: during a replay, subscribes or unsubscribes what it names
/// and answers with the connection's subscriptions; otherwise refuses it.
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
    if shared.replay.is_none() {
        return error(
            client,
            "the simulator serves Coinbase Exchange captures only",
        );
    }
    let keys = request_keys(&request);
    match request["type"].as_str() {
        Some("subscribe") => client.streams.extend(keys),
        Some("unsubscribe") => {
            for key in &keys {
                client.streams.remove(key);
            }
        }
        _ => return error(client, "unknown request type"),
    }
    shared.streams_changed();
    let answer = subscriptions(client);
    reply(client, answer);
}

#[cfg(test)]
mod tests {
    use super::*;

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
