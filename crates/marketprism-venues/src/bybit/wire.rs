//! Serde mirrors of Bybit v5 public WebSocket frames, field names as Bybit sends them.
//! Docs: <https://bybit-exchange.github.io/docs/v5/ws/connect>

use std::borrow::Cow;

use serde::de::{Deserializer, IgnoredAny, MapAccess};
use serde::{Deserialize, Serialize};

use crate::decimal::WireLevel;
use crate::envelope::{text, Route};

/// Every frame: a push (`topic`, `type`, `ts`, `data`) or an operation reply
/// (`{"success":true,"ret_msg":"subscribe","conn_id":"…","req_id":"1","op":"subscribe"}`).
/// Decoded in one pass with its [`Data`] (see [`crate::envelope`]).
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    /// Topic of a push, e.g. `orderbook.50.BTCUSDT`.
    pub topic: Option<Cow<'a, str>>,
    /// `snapshot` or `delta` (the key `type`).
    pub kind: Option<Cow<'a, str>>,
    /// Time the system produced the push, Unix milliseconds.
    pub ts: Option<i64>,
    /// Operation of a reply: `subscribe`, `ping`, `pong`.
    pub op: Option<Cow<'a, str>>,
    /// Whether the operation succeeded.
    pub success: Option<bool>,
    /// Bybit's message for the operation.
    pub ret_msg: Option<String>,
    /// The request id echoed from the operation.
    pub req_id: Option<Cow<'a, str>>,
}

/// The `data` of a push, of the type its topic names.
#[derive(Debug)]
pub enum Data<'a> {
    /// `publicTrade.{symbol}`.
    Trades(Vec<Trade<'a>>),
    /// `tickers.{symbol}`.
    Ticker(Ticker<'a>),
    /// `allLiquidation.{symbol}`.
    Liquidations(Vec<LiquidationRecord<'a>>),
    /// `orderbook.{depth}.{symbol}`.
    OrderBook(OrderBook<'a>),
    /// A topic MarketPrism does not record.
    Other,
}

impl<'de> Route<'de> for Envelope<'de> {
    type Payload = Data<'de>;

    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "topic" => self.topic = text(map)?,
            "type" => self.kind = text(map)?,
            "ts" => self.ts = map.next_value()?,
            "op" => self.op = text(map)?,
            "success" => self.success = map.next_value()?,
            "ret_msg" => self.ret_msg = map.next_value()?,
            "req_id" => self.req_id = text(map)?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn is_routed(&self) -> bool {
        self.topic.is_some()
    }

    fn payload<D: Deserializer<'de>>(&self, deserializer: D) -> Result<Data<'de>, D::Error> {
        // Topics are `{channel}.{parameters}`.
        let channel = self
            .topic
            .as_deref()
            .and_then(|topic| topic.split_once('.'))
            .map_or("", |(channel, _)| channel);
        Ok(match channel {
            "publicTrade" => Data::Trades(Vec::deserialize(deserializer)?),
            "tickers" => Data::Ticker(Ticker::deserialize(deserializer)?),
            "allLiquidation" => Data::Liquidations(Vec::deserialize(deserializer)?),
            "orderbook" => Data::OrderBook(OrderBook::deserialize(deserializer)?),
            _ => {
                IgnoredAny::deserialize(deserializer)?;
                Data::Other
            }
        })
    }
}

/// The `data` of `orderbook.{depth}.{symbol}`.
///
/// ```json
/// {"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>
#[derive(Debug, Deserialize)]
pub struct OrderBook<'a> {
    /// Symbol.
    #[serde(borrow)]
    pub s: Cow<'a, str>,
    /// Bids.
    #[serde(borrow)]
    pub b: Vec<WireLevel<'a>>,
    /// Asks.
    #[serde(borrow)]
    pub a: Vec<WireLevel<'a>>,
    /// Update id; `1` on a snapshot sent after a service restart.
    pub u: u64,
}

/// One trade of `publicTrade.{symbol}`.
///
/// ```json
/// {"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",
///  "i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/websocket/public/trade>
#[derive(Debug, Deserialize)]
pub struct Trade<'a> {
    /// Trade time, Unix milliseconds.
    #[serde(rename = "T")]
    pub time_ms: i64,
    /// Symbol.
    #[serde(borrow)]
    pub s: Cow<'a, str>,
    /// Taker side, `Buy` or `Sell`.
    #[serde(rename = "S", borrow)]
    pub side: Cow<'a, str>,
    /// Quantity.
    #[serde(borrow)]
    pub v: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub p: Cow<'a, str>,
    /// Trade id.
    #[serde(borrow)]
    pub i: Cow<'a, str>,
}

/// The `data` of `tickers.{symbol}` (linear): a snapshot, then deltas with only the fields
/// that changed.
///
/// ```json
/// {"symbol":"BTCUSDT","markPrice":"65117.44","indexPrice":"65137.76","openInterest":"59891.732",
///  "openInterestValue":"3899996265.01","nextFundingTime":"1786320000000","fundingRate":"0.0001"}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/websocket/public/ticker>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticker<'a> {
    /// Symbol.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// Current funding rate.
    #[serde(borrow, default)]
    pub funding_rate: Option<Cow<'a, str>>,
    /// Next funding time, Unix milliseconds as a string.
    #[serde(borrow, default)]
    pub next_funding_time: Option<Cow<'a, str>>,
    /// Mark price.
    #[serde(borrow, default)]
    pub mark_price: Option<Cow<'a, str>>,
    /// Index price.
    #[serde(borrow, default)]
    pub index_price: Option<Cow<'a, str>>,
    /// Open interest in base units.
    #[serde(borrow, default)]
    pub open_interest: Option<Cow<'a, str>>,
    /// Open interest value in the quote currency.
    #[serde(borrow, default)]
    pub open_interest_value: Option<Cow<'a, str>>,
}

/// One record of `allLiquidation.{symbol}`.
///
/// ```json
/// {"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/websocket/public/all-liquidation>
#[derive(Debug, Deserialize)]
pub struct LiquidationRecord<'a> {
    /// Update time, Unix milliseconds.
    #[serde(rename = "T")]
    pub time_ms: i64,
    /// Symbol.
    #[serde(rename = "s", borrow)]
    pub symbol: Cow<'a, str>,
    /// Side of the liquidated position: `Buy` for a long.
    #[serde(rename = "S", borrow)]
    pub position_side: Cow<'a, str>,
    /// Executed size.
    #[serde(rename = "v", borrow)]
    pub quantity: Cow<'a, str>,
    /// Bankruptcy price.
    #[serde(rename = "p", borrow)]
    pub price: Cow<'a, str>,
}

/// `GET /v5/market/recent-trade`: the latest trades, newest first.
///
/// ```json
/// {"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"execId":"2100000000007764263",
///  "symbol":"BTCUSDT","price":"16618.49","size":"0.00012","side":"Buy","time":"1672052955758",
///  "isBlockTrade":false}]},"time":1672053054358}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/market/recent-trade>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentTradeAnswer<'a> {
    /// 0 on success.
    pub ret_code: i64,
    /// Bybit's message.
    #[serde(borrow, default)]
    pub ret_msg: Cow<'a, str>,
    /// The trades.
    #[serde(borrow, default)]
    pub result: RecentTradeList<'a>,
}

/// The `result` of a recent-trade answer.
#[derive(Debug, Default, Deserialize)]
pub struct RecentTradeList<'a> {
    /// Newest first.
    #[serde(borrow, default)]
    pub list: Vec<RecentTrade<'a>>,
}

/// One trade of a recent-trade answer: the `publicTrade` fields under longer names.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentTrade<'a> {
    /// Trade id, the `i` of `publicTrade`.
    #[serde(borrow)]
    pub exec_id: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub price: Cow<'a, str>,
    /// Quantity.
    #[serde(borrow)]
    pub size: Cow<'a, str>,
    /// Taker side, `Buy` or `Sell`.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// Trade time, Unix milliseconds as a string.
    #[serde(borrow)]
    pub time: Cow<'a, str>,
}

/// `GET /v5/market/account-ratio`.
///
/// ```json
/// {"retCode":0,"retMsg":"OK","result":{"list":[{"symbol":"BTCUSDT","buyRatio":"0.5","sellRatio":"0.5","timestamp":"1695772800000"}]}}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/market/long-short-ratio>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRatioAnswer<'a> {
    /// 0 on success.
    pub ret_code: i64,
    /// Bybit's message.
    #[serde(borrow, default)]
    pub ret_msg: Cow<'a, str>,
    /// The entries.
    #[serde(borrow, default)]
    pub result: AccountRatioList<'a>,
}

/// The `result` of an account-ratio answer.
#[derive(Debug, Default, Deserialize)]
pub struct AccountRatioList<'a> {
    /// Newest first.
    #[serde(borrow, default)]
    pub list: Vec<AccountRatio<'a>>,
}

/// One account-ratio entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountRatio<'a> {
    /// Share of accounts long.
    #[serde(borrow)]
    pub buy_ratio: Cow<'a, str>,
    /// Share of accounts short.
    #[serde(borrow)]
    pub sell_ratio: Cow<'a, str>,
    /// Start of the period, Unix milliseconds as a string.
    #[serde(borrow)]
    pub timestamp: Cow<'a, str>,
}

/// `GET /v5/market/instruments-info?category=spot` (or `linear`): the category's instruments,
/// of which the symbols, states, contract types, coins and times are read. Linear lists come in pages
/// (`nextPageCursor` names the next one); spot lists come whole.
///
/// ```json
/// {"retCode":0,"retMsg":"OK","result":{"category":"linear","list":[{"symbol":"BTCUSDT",
///  "contractType":"LinearPerpetual","status":"Trading","baseCoin":"BTC","quoteCoin":"USDT",...}],
///  "nextPageCursor":""},"retExtInfo":{},"time":1786310817197}
/// ```
/// Docs: <https://bybit-exchange.github.io/docs/v5/market/instrument>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentsInfoAnswer<'a> {
    /// 0 on success.
    pub ret_code: i64,
    /// Bybit's message.
    #[serde(borrow, default)]
    pub ret_msg: Cow<'a, str>,
    /// The instruments.
    #[serde(borrow, default)]
    pub result: InstrumentsInfoList<'a>,
}

/// The `result` of an instruments-info answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentsInfoList<'a> {
    /// The instruments of this page.
    #[serde(borrow, default)]
    pub list: Vec<InstrumentInfo<'a>>,
    /// The cursor of the next page; empty or absent on the last.
    #[serde(borrow, default)]
    pub next_page_cursor: Option<Cow<'a, str>>,
}

/// One instrument of an instruments-info answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentInfo<'a> {
    /// Symbol, e.g. `BTCUSDT`, `BTCPERP`, `BTCUSDT-14AUG26`.
    #[serde(borrow)]
    pub symbol: Cow<'a, str>,
    /// `Trading` while it trades; `PreLaunch`, `Delivering` or `Closed` otherwise.
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    /// Linear only: `LinearPerpetual` or `LinearFutures`.
    #[serde(borrow, default)]
    pub contract_type: Option<Cow<'a, str>>,
    /// Base coin, e.g. `BTC`.
    #[serde(borrow)]
    pub base_coin: Cow<'a, str>,
    /// Quote coin, e.g. `USDT`.
    #[serde(borrow)]
    pub quote_coin: Cow<'a, str>,
    /// Linear only: the settlement coin, e.g. `USDT`, `USDC`.
    #[serde(borrow, default)]
    pub settle_coin: Option<Cow<'a, str>>,
    /// Linear only: when it was launched, Unix milliseconds as a string.
    #[serde(borrow, default)]
    pub launch_time: Option<Cow<'a, str>>,
    /// Linear only: when a dated future delivers, Unix milliseconds as a string; `0` for
    /// perpetuals.
    #[serde(borrow, default)]
    pub delivery_time: Option<Cow<'a, str>>,
}

/// A `subscribe` operation: `{"op":"subscribe","args":["orderbook.50.BTCUSDT"],"req_id":"1"}`.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// `subscribe`.
    pub op: &'static str,
    /// Topics.
    pub args: &'a [String],
    /// Request id, echoed in the reply.
    pub req_id: String,
}
