//! Serde mirrors of Coinbase Advanced Trade WebSocket frames, field names as Coinbase sends
//! them. Docs: <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels>

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Every frame: a channel message, or an error answering a request.
///
/// ```json
/// {"channel":"market_trades","timestamp":"2026-08-09T21:05:48.251397169Z","sequence_num":9,
///  "events":[{"type":"update","trades":[...]}]}
/// {"type":"error","message":"failure to subscribe"}
/// ```
/// The `events` are decoded once the channel is known, as [`Trades`], [`Book`] or
/// [`Subscriptions`].
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    /// `market_trades`, `l2_data` (the `level2` channel's messages), `heartbeats`,
    /// `subscriptions`, or a channel MarketPrism does not record (`ticker`, `candles`, ...).
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// When Coinbase sent the message.
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
    /// The message's number on this connection, across every channel.
    #[serde(default)]
    pub sequence_num: Option<u64>,
    /// The channel's events.
    #[serde(borrow, default)]
    pub events: Option<&'a RawValue>,
    /// `error` on an error frame.
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// The error's explanation.
    #[serde(default)]
    pub message: Option<String>,
}

/// One event of `market_trades`: the latest trades on subscription (`snapshot`), then each
/// new trade (`update`); either lists the newest first.
///
/// ```json
/// {"type":"update","trades":[{"product_id":"BTC-USD","trade_id":"1068572091",
///  "price":"65083.67","size":"0.01034361","time":"2026-08-09T21:05:48.167634Z","side":"SELL"}]}
/// ```
#[derive(Debug, Deserialize)]
pub struct Trades<'a> {
    /// The trades.
    #[serde(borrow)]
    pub trades: Vec<Trade<'a>>,
}

/// One trade of `market_trades`.
#[derive(Debug, Deserialize)]
pub struct Trade<'a> {
    /// Product id, e.g. `BTC-USD`.
    #[serde(borrow)]
    pub product_id: Cow<'a, str>,
    /// Trade id, a per-product counter written as text.
    #[serde(borrow)]
    pub trade_id: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub price: Cow<'a, str>,
    /// Quantity in base units.
    #[serde(borrow)]
    pub size: Cow<'a, str>,
    /// Execution time.
    #[serde(borrow)]
    pub time: Cow<'a, str>,
    /// The side of the resting (maker) order, `BUY` or `SELL`: a `SELL` trade at the ask was
    /// an aggressive buy.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
}

/// The one event of an `l2_data` message: the whole book on subscription (`snapshot`), then
/// the levels that changed (`update`), absolute quantities, `0` removing a level.
///
/// ```json
/// {"type":"update","product_id":"BTC-USD","updates":[{"side":"offer",
///  "event_time":"2026-08-09T21:05:48.264069Z","price_level":"65106.54","new_quantity":"0.15361938"}]}
/// ```
#[derive(Debug, Deserialize)]
pub struct Book<'a> {
    /// `snapshot` or `update`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// Product id.
    #[serde(borrow)]
    pub product_id: Cow<'a, str>,
    /// The levels.
    #[serde(borrow)]
    pub updates: Vec<Level<'a>>,
}

/// One level of an `l2_data` event.
#[derive(Debug, Deserialize)]
pub struct Level<'a> {
    /// `bid` or `offer`.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// When the level changed.
    #[serde(borrow)]
    pub event_time: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub price_level: Cow<'a, str>,
    /// The level's quantity from now on; `0` removes it.
    #[serde(borrow)]
    pub new_quantity: Cow<'a, str>,
}

/// The event of a `subscriptions` message: every subscription of the connection after a
/// request, by channel.
///
/// ```json
/// {"subscriptions":{"heartbeats":["heartbeats"],"level2":["BTC-USD"],"market_trades":["BTC-USD"]}}
/// ```
#[derive(Debug, Deserialize)]
pub struct Subscriptions<'a> {
    /// Product ids per channel.
    #[serde(borrow)]
    pub subscriptions: HashMap<Cow<'a, str>, Vec<Cow<'a, str>>>,
}

/// A `subscribe` or `unsubscribe` request: one channel per request.
///
/// ```json
/// {"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}
/// ```
/// Docs: <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-overview>
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// `subscribe` or `unsubscribe`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Products; none for `heartbeats`.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub product_ids: &'a [String],
    /// The channel.
    pub channel: &'static str,
}

/// `GET /api/v3/brokerage/market/products`: every product, of which the ids, assets, states
/// and aliases are read, and whether the list is complete.
///
/// ```json
/// {"products":[{"product_id":"BTC-USD","status":"online","trading_disabled":false,"alias":"",
///  ...}],"num_products":920,"pagination":{"next_cursor":"","has_next":false,...}}
/// ```
/// Docs: <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/list-public-products>
#[derive(Debug, Deserialize)]
pub struct ProductsAnswer<'a> {
    /// The products.
    #[serde(borrow)]
    pub products: Vec<Product<'a>>,
    /// Paging; absent when the answer is not paged.
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// One product of a products answer.
#[derive(Debug, Deserialize)]
pub struct Product<'a> {
    /// Product id, e.g. `BTC-USD`.
    #[serde(borrow)]
    pub product_id: Cow<'a, str>,
    /// `online` while it trades; `delisted`, `offline` otherwise.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// True while trading is halted.
    #[serde(default)]
    pub trading_disabled: bool,
    /// True while the product is disabled.
    #[serde(default)]
    pub is_disabled: bool,
    /// Base currency, e.g. `BTC`.
    #[serde(borrow)]
    pub base_currency_id: Cow<'a, str>,
    /// Quote currency, e.g. `USD`.
    #[serde(borrow)]
    pub quote_currency_id: Cow<'a, str>,
    /// The product whose data this one shares (`BTC-USDC` is an alias of `BTC-USD`); empty
    /// for a product of its own.
    #[serde(borrow, default)]
    pub alias: Cow<'a, str>,
}

/// The paging of a products answer.
#[derive(Debug, Deserialize)]
pub struct Pagination {
    /// True when another page follows.
    #[serde(default)]
    pub has_next: bool,
}
