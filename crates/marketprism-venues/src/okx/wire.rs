//! Serde mirrors of OKX v5 public WebSocket frames, field names as OKX sends them.
//! Docs: <https://www.okx.com/docs-v5/en/#overview-websocket>

use std::borrow::Cow;

use serde::de::{Deserializer, IgnoredAny, MapAccess};
use serde::{Deserialize, Serialize};

use crate::decimal::WireLevel;
use crate::envelope::{text, Route};

/// The channel and instrument a frame belongs to: `{"channel":"books","instId":"BTC-USDT"}`,
/// or the channel and instrument type of a market-wide channel:
/// `{"channel":"liquidation-orders","instType":"SWAP"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Arg<'a> {
    /// Channel name.
    #[serde(borrow)]
    pub channel: Cow<'a, str>,
    /// Instrument id.
    #[serde(
        rename = "instId",
        borrow,
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inst_id: Option<Cow<'a, str>>,
    /// Instrument type, for market-wide channels.
    #[serde(
        rename = "instType",
        borrow,
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub inst_type: Option<Cow<'a, str>>,
}

impl Arg<'_> {
    /// What the channel is subscribed for: the instrument id, else the instrument type.
    pub fn target(&self) -> &str {
        self.inst_id
            .as_deref()
            .or(self.inst_type.as_deref())
            .unwrap_or_default()
    }
}

/// Every OKX frame: a push (`arg` + `data`, books add `action`), an event reply
/// (`{"event":"subscribe","arg":{...}}`, `{"event":"error","code":"60012","msg":"..."}`), or
/// the text `pong`. Decoded in one pass with its [`Data`] (see [`crate::envelope`]).
#[derive(Debug, Default)]
pub struct Envelope<'a> {
    /// `subscribe`, `unsubscribe` or `error` for replies.
    pub event: Option<Cow<'a, str>>,
    /// The subscription a push or reply concerns.
    pub arg: Option<Arg<'a>>,
    /// Book pushes: `snapshot` or `update`.
    pub action: Option<Cow<'a, str>>,
    /// Error code of an `error` reply.
    pub code: Option<Cow<'a, str>>,
    /// Error message of an `error` reply.
    pub msg: Option<Cow<'a, str>>,
}

/// The records of a push, of the type its channel names.
#[derive(Debug)]
pub enum Data<'a> {
    /// `trades`.
    Trades(Vec<Trade<'a>>),
    /// `funding-rate`.
    FundingRates(Vec<FundingRate<'a>>),
    /// `open-interest`.
    OpenInterest(Vec<OpenInterest<'a>>),
    /// `liquidation-orders`.
    Liquidations(Vec<LiquidationOrders<'a>>),
    /// `books`, `books5`, `books-l2-tbt`, ...: one book message.
    Books(Vec<Book<'a>>),
    /// A channel MarketPrism does not record.
    Other,
}

impl<'de> Route<'de> for Envelope<'de> {
    type Payload = Data<'de>;

    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        match key {
            "event" => self.event = text(map)?,
            "arg" => self.arg = map.next_value()?,
            "action" => self.action = text(map)?,
            "code" => self.code = text(map)?,
            "msg" => self.msg = text(map)?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn is_routed(&self) -> bool {
        self.arg.is_some()
    }

    fn payload<D: Deserializer<'de>>(&self, deserializer: D) -> Result<Data<'de>, D::Error> {
        let channel = self.arg.as_ref().map_or("", |arg| arg.channel.as_ref());
        Ok(match channel {
            "trades" => Data::Trades(Vec::deserialize(deserializer)?),
            "funding-rate" => Data::FundingRates(Vec::deserialize(deserializer)?),
            "open-interest" => Data::OpenInterest(Vec::deserialize(deserializer)?),
            "liquidation-orders" => Data::Liquidations(Vec::deserialize(deserializer)?),
            books if books.starts_with("books") => Data::Books(Vec::deserialize(deserializer)?),
            _ => {
                IgnoredAny::deserialize(deserializer)?;
                Data::Other
            }
        })
    }
}

/// One record of the `trades` channel.
///
/// ```json
/// {"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897"}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-trades-channel>
#[derive(Debug, Deserialize)]
pub struct Trade<'a> {
    /// Instrument id.
    #[serde(rename = "instId", borrow)]
    pub inst_id: Cow<'a, str>,
    /// Trade id.
    #[serde(rename = "tradeId", borrow)]
    pub trade_id: Cow<'a, str>,
    /// Price.
    #[serde(borrow)]
    pub px: Cow<'a, str>,
    /// Quantity (contracts for derivatives).
    #[serde(borrow)]
    pub sz: Cow<'a, str>,
    /// Taker side, `buy` or `sell`.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// Trade time, Unix milliseconds as a string.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
}

/// One record of the `funding-rate` channel.
///
/// ```json
/// {"fundingRate":"0.0001515","fundingTime":"1700726400000","instId":"BTC-USD-SWAP",
///  "instType":"SWAP","nextFundingRate":"","nextFundingTime":"1700755200000","ts":"1700724675402"}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#public-data-websocket-funding-rate-channel>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FundingRate<'a> {
    /// Instrument id.
    #[serde(borrow)]
    pub inst_id: Cow<'a, str>,
    /// Current funding rate.
    #[serde(borrow)]
    pub funding_rate: Cow<'a, str>,
    /// Settlement time of the current rate, Unix milliseconds as a string.
    #[serde(borrow)]
    pub funding_time: Cow<'a, str>,
    /// Forecast rate of the next period; empty when not published.
    #[serde(borrow, default)]
    pub next_funding_rate: Option<Cow<'a, str>>,
    /// Push time, Unix milliseconds as a string.
    #[serde(borrow, default)]
    pub ts: Option<Cow<'a, str>>,
}

/// One record of the `open-interest` channel.
///
/// ```json
/// {"instId":"LTC-USD-SWAP","instType":"SWAP","oi":"5000","oiCcy":"555.55","oiUsd":"50000","ts":"1597026383085"}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#public-data-websocket-open-interest-channel>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenInterest<'a> {
    /// Instrument id.
    #[serde(borrow)]
    pub inst_id: Cow<'a, str>,
    /// Open interest in contracts.
    #[serde(borrow)]
    pub oi: Cow<'a, str>,
    /// Open interest in USD, when sent.
    #[serde(borrow, default)]
    pub oi_usd: Option<Cow<'a, str>>,
    /// Data time, Unix milliseconds as a string.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
}

/// One record of the `liquidation-orders` channel: the liquidations of one instrument.
///
/// ```json
/// {"details":[{"bkLoss":"0","bkPx":"0.007831","ccy":"","posSide":"short","side":"buy",
///   "sz":"13","ts":"1692266434010"}],"instFamily":"IOST-USDT","instId":"IOST-USDT-SWAP",
///  "instType":"SWAP","uly":"IOST-USDT"}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#public-data-websocket-liquidation-orders-channel>
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidationOrders<'a> {
    /// Instrument id.
    #[serde(borrow)]
    pub inst_id: Cow<'a, str>,
    /// The liquidation orders.
    #[serde(borrow)]
    pub details: Vec<LiquidationDetail<'a>>,
}

/// One liquidation order of a `liquidation-orders` record.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiquidationDetail<'a> {
    /// Order side: `sell` liquidates a long position.
    #[serde(borrow)]
    pub side: Cow<'a, str>,
    /// Bankruptcy price.
    #[serde(borrow)]
    pub bk_px: Cow<'a, str>,
    /// Quantity (contracts for derivatives).
    #[serde(borrow)]
    pub sz: Cow<'a, str>,
    /// Liquidation time, Unix milliseconds as a string.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
}

/// A rubik statistics answer: `{"code":"0","msg":"","data":[["1701417600000","1.25"]]}`,
/// newest first.
/// Docs: <https://www.okx.com/docs-v5/en/#trading-statistics-rest-api-get-contract-long-short-ratio>
#[derive(Debug, Deserialize)]
pub struct RubikAnswer<'a> {
    /// `0` on success.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// The error message otherwise.
    #[serde(borrow, default)]
    pub msg: Cow<'a, str>,
    /// `[timestamp, ratio]` pairs.
    #[serde(borrow, default)]
    pub data: Vec<[Cow<'a, str>; 2]>,
}

/// `GET /api/v5/market/history-trades`: trades newest first, each a [`Trade`] record (with a
/// `source` field this mirror skips).
///
/// ```json
/// {"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"0.00001",
///  "px":"29963.2","source":"0","tradeId":"242720720","ts":"1654161646974"}]}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades-history>
#[derive(Debug, Deserialize)]
pub struct HistoryTradesAnswer<'a> {
    /// `0` on success.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// The error message otherwise.
    #[serde(borrow, default)]
    pub msg: Cow<'a, str>,
    /// The trades, newest first.
    #[serde(borrow, default)]
    pub data: Vec<Trade<'a>>,
}

/// `GET /api/v5/public/instruments?instType=SPOT` (or `SWAP`, ...): every instrument of the
/// type, of which the ids, states, assets, times and option terms are read.
///
/// ```json
/// {"code":"0","msg":"","data":[{"alias":"","baseCcy":"BTC","instId":"BTC-USDT",
///  "instType":"SPOT","quoteCcy":"USDT","state":"live","tickSz":"0.1",...}]}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments>
#[derive(Debug, Deserialize)]
pub struct InstrumentsAnswer<'a> {
    /// `0` on success.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// The error message otherwise.
    #[serde(borrow, default)]
    pub msg: Cow<'a, str>,
    /// The instruments.
    #[serde(borrow, default)]
    pub data: Vec<Instrument<'a>>,
}

/// One instrument of an instruments answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instrument<'a> {
    /// Instrument id, e.g. `BTC-USDT`, `BTC-USDT-SWAP`.
    #[serde(borrow)]
    pub inst_id: Cow<'a, str>,
    /// `live` while it trades; `suspend`, `preopen` or `test` otherwise.
    #[serde(borrow)]
    pub state: Cow<'a, str>,
    /// Spot: base currency, e.g. `BTC`; empty for derivatives.
    #[serde(borrow, default)]
    pub base_ccy: Cow<'a, str>,
    /// Spot: quote currency, e.g. `USDT`; empty for derivatives.
    #[serde(borrow, default)]
    pub quote_ccy: Cow<'a, str>,
    /// Derivatives: the underlying, e.g. `BTC-USD`; empty for spot.
    #[serde(borrow, default)]
    pub uly: Cow<'a, str>,
    /// Derivatives: the instrument family, e.g. `BTC-USD` (newer answers only).
    #[serde(borrow, default)]
    pub inst_family: Cow<'a, str>,
    /// Derivatives: the settlement currency, e.g. `BTC`, `USDT`; empty for spot.
    #[serde(borrow, default)]
    pub settle_ccy: Cow<'a, str>,
    /// When it was listed, Unix milliseconds as a string; empty when unknown.
    #[serde(borrow, default)]
    pub list_time: Cow<'a, str>,
    /// Futures and options: expiry, Unix milliseconds as a string; empty otherwise.
    #[serde(borrow, default)]
    pub exp_time: Cow<'a, str>,
    /// Options: strike price; empty otherwise.
    #[serde(borrow, default)]
    pub stk: Cow<'a, str>,
    /// Options: `C` (call) or `P` (put); empty otherwise.
    #[serde(borrow, default)]
    pub opt_type: Cow<'a, str>,
}

/// One record of the `books` family (`books`, `books-l2-tbt`, `books50-l2-tbt`).
///
/// ```json
/// {"asks":[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],
///  "ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}
/// ```
/// Docs: <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel>
#[derive(Debug, Deserialize)]
pub struct Book<'a> {
    /// Ask levels `[price, size, deprecated, orders]`.
    #[serde(borrow)]
    pub asks: Vec<WireLevel<'a>>,
    /// Bid levels.
    #[serde(borrow)]
    pub bids: Vec<WireLevel<'a>>,
    /// Book time, Unix milliseconds as a string.
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    /// CRC32 of the top 25 levels after this message; absent or 0 when not sent.
    #[serde(default)]
    pub checksum: Option<i64>,
    /// Sequence id of this message (absent in frames before 2022-06).
    #[serde(rename = "seqId", default)]
    pub seq_id: Option<i64>,
    /// Sequence id of the previous message, `-1` on a snapshot.
    #[serde(rename = "prevSeqId", default)]
    pub prev_seq_id: Option<i64>,
}

/// A `subscribe` request: `{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}`.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    /// `subscribe`.
    pub op: &'static str,
    /// The subscriptions.
    pub args: Vec<Arg<'a>>,
}
