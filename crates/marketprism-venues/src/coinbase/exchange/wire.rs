//! Serde mirrors of Coinbase Exchange WebSocket frames, field names as Coinbase sends them.
//! Every frame names its kind in `type`.
//! Docs: <https://docs.cdp.coinbase.com/exchange/websocket-feed/channels>

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::decimal::WireLevel;

/// Every frame, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame<'a> {
    /// A trade of `matches`.
    Match(#[serde(borrow)] Match<'a>),
    /// The latest trade, sent once on subscribing to `matches`.
    LastMatch(#[serde(borrow)] Match<'a>),
    /// The book on subscribing to `level2` or `level2_batch`.
    Snapshot(#[serde(borrow)] Snapshot<'a>),
    /// Levels that changed.
    L2update(#[serde(borrow)] L2Update<'a>),
    /// The connection's subscriptions after a request.
    Subscriptions,
    /// A refused request.
    Error(Error),
    /// A frame of another channel (`heartbeat`, `ticker`, ...).
    #[serde(other)]
    Other,
}

/// A `match` (or `last_match`).
///
/// ```json
/// {"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16",
///  "taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985",
///  "price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,
///  "time":"2021-04-17T16:43:37.089723Z"}
/// ```
#[derive(Debug, Deserialize)]
pub struct Match<'a> {
    /// Trade id, a per-product counter.
    pub trade_id: u64,
    /// The maker order's side, `buy` or `sell`.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// Quantity in base units.
    #[serde(borrow)]
    pub size: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub price: Cow<'a, str>,
    /// Product id.
    #[serde(borrow)]
    pub product_id: Cow<'a, str>,
    /// Execution time.
    #[serde(borrow)]
    pub time: Cow<'a, str>,
}

/// A `snapshot`: the whole book, without a time or an id.
///
/// ```json
/// {"type":"snapshot","product_id":"BAND-GBP","asks":[["14.8024","12.77"]],"bids":[["14.7550","3.15"]]}
/// ```
#[derive(Debug, Deserialize)]
pub struct Snapshot<'a> {
    /// Product id.
    #[serde(borrow)]
    pub product_id: Cow<'a, str>,
    /// Asks, best first.
    #[serde(borrow)]
    pub asks: Vec<WireLevel<'a>>,
    /// Bids, best first.
    #[serde(borrow)]
    pub bids: Vec<WireLevel<'a>>,
}

/// An `l2update`: absolute sizes of the levels that changed, `0` removing one.
///
/// ```json
/// {"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],
///  "time":"2021-04-17T16:43:37.075687Z"}
/// ```
#[derive(Debug, Deserialize)]
pub struct L2Update<'a> {
    /// Product id.
    #[serde(borrow)]
    pub product_id: Cow<'a, str>,
    /// `[side, price, size]`, side `buy` (bid) or `sell` (ask).
    #[serde(borrow)]
    pub changes: Vec<(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>)>,
    /// When the levels changed.
    #[serde(borrow)]
    pub time: Cow<'a, str>,
}

/// An `error`.
///
/// ```json
/// {"type":"error","message":"Failed to subscribe","reason":"level2, level3, and full channels now require authentication"}
/// ```
#[derive(Debug, Deserialize)]
pub struct Error {
    /// What failed.
    #[serde(default)]
    pub message: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A `subscribe` or `unsubscribe` request, each channel with its products.
///
/// ```json
/// {"type":"subscribe","channels":[{"name":"matches","product_ids":["BTC-USD"]},
///  {"name":"heartbeat","product_ids":["BTC-USD"]}]}
/// ```
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// `subscribe` or `unsubscribe`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Channels.
    pub channels: &'a [ChannelRequest],
}

/// One channel of a [`Request`].
#[derive(Debug, Serialize)]
pub struct ChannelRequest {
    /// The channel.
    pub name: &'static str,
    /// Its products.
    pub product_ids: Vec<String>,
}

/// One product of `GET /products`, of which the id, assets and states are read.
///
/// ```json
/// {"id":"BTC-USD","base_currency":"BTC","quote_currency":"USD",...,"trading_disabled":false,
///  "status":"online","status_message":""}
/// ```
/// Docs: <https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-all-known-trading-pairs>
#[derive(Debug, Deserialize)]
pub struct Product<'a> {
    /// Product id, e.g. `BTC-USD`.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// `online` while it trades.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// Base currency, e.g. `BTC`.
    #[serde(borrow)]
    pub base_currency: Cow<'a, str>,
    /// Quote currency, e.g. `USD`.
    #[serde(borrow)]
    pub quote_currency: Cow<'a, str>,
    /// True while trading is halted.
    #[serde(default)]
    pub trading_disabled: bool,
}
