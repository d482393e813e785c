//! REST data that collectors poll: Binance USDⓈ-M `premiumIndex`, `openInterest` and
//! long/short ratio statistics, OKX rubik long/short ratios, Bybit's `account-ratio` and
//! Deribit's volatility-index history. Values derive from the current second (so repeated
//! polls within a second get the same answer) and every value answered is recorded in the
//! report; rate limiting (HTTP 429 with `Retry-After`) can be injected.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::derivatives::{Second, SentDerivative};
use crate::server::Shared;
use marketprism_model::now_ms;

/// A REST request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestRequest {
    /// Path and query.
    pub path: String,
    /// Local time of the request, Unix ms.
    pub at_ms: i64,
    /// HTTP status of the answer.
    pub status: u16,
}

#[derive(Deserialize)]
pub(crate) struct SymbolQuery {
    symbol: String,
    #[serde(default)]
    period: Option<String>,
}

/// A period in Binance notation, as the report records it: OKX `1H` → `1h`, Bybit
/// `5min` → `5m`.
fn binance_notation(period: &str) -> String {
    period.replace("min", "m").to_ascii_lowercase()
}

/// The long and short account shares of a long/short series in one second.
struct Shares {
    time_ms: i64,
    long: String,
    short: String,
    /// Long over short, to four decimals.
    ratio: String,
}

fn shares(symbol: &str, series: &str, second: i64) -> Shares {
    let seed = symbol.len() as i64 * 7 + series.len() as i64;
    let long_units = 3_000 + (second + seed).rem_euclid(4_000);
    Shares {
        time_ms: second * 1000,
        long: format!("0.{long_units:04}"),
        short: format!("0.{:04}", 10_000 - long_units),
        ratio: format!("{:.4}", long_units as f64 / (10_000 - long_units) as f64),
    }
}

/// A long/short value answered to a poll, as the report records it.
fn ratio_sent(
    venue: &str,
    kind: &str,
    symbol: &str,
    period: &str,
    time_ms: i64,
    values: &[(&str, &str)],
) -> SentDerivative {
    let period = binance_notation(period);
    let mut all = vec![("kind", kind), ("period", period.as_str())];
    all.extend_from_slice(values);
    SentDerivative::new(venue, "long_short_ratio", symbol, time_ms, &all)
}

/// Rate limiting to inject: the next `requests` polls get 429.
#[derive(Deserialize)]
pub(crate) struct RateLimit {
    requests: u64,
    retry_after_s: u64,
}

pub(crate) async fn rate_limit(
    State(shared): State<Arc<Shared>>,
    Json(limit): Json<RateLimit>,
) -> Json<serde_json::Value> {
    shared.rate_limited.store(limit.requests, Ordering::Relaxed);
    shared
        .retry_after_s
        .store(limit.retry_after_s, Ordering::Relaxed);
    Json(json!({ "requests": limit.requests }))
}

/// A value in `[low, low + span)` that changes every second and per symbol.
pub(crate) fn value(symbol: &str, second: i64, low: i64, span: i64, scale: u32) -> String {
    let seed = symbol.bytes().fold(second, |acc, byte| {
        acc.wrapping_mul(31).wrapping_add(i64::from(byte))
    });
    let units = low + seed.rem_euclid(span);
    let divisor = 10_i64.pow(scale);
    format!(
        "{}.{:0width$}",
        units / divisor,
        units % divisor,
        width = scale as usize
    )
}

/// Answers a poll with `body`, or 429 while rate limiting is injected. Every request is
/// recorded, and the values `sent` are recorded when they were answered.
fn answer(
    shared: &Shared,
    path: String,
    body: serde_json::Value,
    sent: impl IntoIterator<Item = SentDerivative>,
) -> Response {
    if let Some(limited) = rate_limited(shared, path) {
        return limited;
    }
    shared.report().record_derivatives(sent);
    Json(body).into_response()
}

/// Records a REST request to `path`; the 429 answer to give instead while rate limiting is
/// injected.
pub(crate) fn rate_limited(shared: &Shared, path: String) -> Option<Response> {
    let limited = shared
        .rate_limited
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    let status = if limited {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    shared.report().record_request(RestRequest {
        path,
        at_ms: now_ms(),
        status: status.as_u16(),
    });
    limited.then(|| {
        let retry_after = shared.retry_after_s.load(Ordering::Relaxed).to_string();
        (
            status,
            [(header::RETRY_AFTER, retry_after)],
            Json(json!({"code": -1003, "msg": "Too many requests; IP banned until later."})),
        )
            .into_response()
    })
}

/// The polled symbol in upper case and its simulated derivatives market this second.
fn symbol_now(query: &SymbolQuery) -> (String, Second) {
    let symbol = query.symbol.to_ascii_uppercase();
    let now = crate::derivatives::second(&symbol, now_ms() / 1000);
    (symbol, now)
}

/// Answers a Binance USDⓈ-M `/fapi/v1/{endpoint}?symbol={symbol}` poll with `body`, which
/// carries the `kind` values `values` at `time_ms`.
fn answer_binance_perpetual(
    shared: &Shared,
    endpoint: &str,
    symbol: &str,
    body: serde_json::Value,
    kind: &str,
    time_ms: i64,
    values: &[(&str, &str)],
) -> Response {
    let sent = SentDerivative::new("binance/perpetual", kind, symbol, time_ms, values);
    answer(
        shared,
        format!("/fapi/v1/{endpoint}?symbol={symbol}"),
        body,
        [sent],
    )
}

pub(crate) async fn premium_index(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    let (symbol, now) = symbol_now(&query);
    let body = json!({
        "symbol": symbol,
        "markPrice": now.mark_price,
        "indexPrice": now.index_price,
        "estimatedSettlePrice": now.index_price,
        "lastFundingRate": now.funding_rate,
        "interestRate": "0.00010000",
        "nextFundingTime": now.next_funding_ms,
        "time": now.time_ms,
    });
    answer_binance_perpetual(
        &shared,
        "premiumIndex",
        &symbol,
        body,
        "funding_rate",
        now.time_ms,
        &now.funding_values(),
    )
}

pub(crate) async fn open_interest(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    let (symbol, now) = symbol_now(&query);
    let body = json!({
        "openInterest": now.open_interest,
        "symbol": symbol,
        "time": now.time_ms,
    });
    answer_binance_perpetual(
        &shared,
        "openInterest",
        &symbol,
        body,
        "open_interest",
        now.time_ms,
        &[("open_interest", now.open_interest.as_str())],
    )
}

/// `/futures/data/{topLongShortPositionRatio,topLongShortAccountRatio,globalLongShortAccountRatio}`:
/// the latest value of the period (timestamps on whole seconds here, so tests see new ones).
pub(crate) async fn long_short_ratio(
    State(shared): State<Arc<Shared>>,
    Path(series): Path<String>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    let known = [
        "topLongShortPositionRatio",
        "topLongShortAccountRatio",
        "globalLongShortAccountRatio",
    ];
    if !known.contains(&series.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let kind = match series.as_str() {
        "topLongShortPositionRatio" => "top_positions",
        "topLongShortAccountRatio" => "top_accounts",
        "globalLongShortAccountRatio" => "all_accounts",
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let symbol = query.symbol.to_ascii_uppercase();
    let now = shares(&symbol, &series, now_ms() / 1000);
    let body = json!([{
        "symbol": symbol,
        "longShortRatio": now.ratio,
        "longAccount": now.long,
        "shortAccount": now.short,
        "timestamp": now.time_ms.to_string(),
    }]);
    let period = query.period.unwrap_or_default();
    let sent = ratio_sent(
        "binance/perpetual",
        kind,
        &symbol,
        &period,
        now.time_ms,
        &[
            ("ratio", &now.ratio),
            ("long_share", &now.long),
            ("short_share", &now.short),
        ],
    );
    answer(
        &shared,
        format!("/futures/data/{series}?symbol={symbol}&period={period}"),
        body,
        [sent],
    )
}

#[derive(Deserialize)]
pub(crate) struct RubikQuery {
    #[serde(default, rename = "instId")]
    inst_id: Option<String>,
    #[serde(default)]
    ccy: Option<String>,
    #[serde(default)]
    period: String,
}

/// OKX `/api/v5/rubik/stat/contracts/{series}`: the top-trader account and position ratios
/// per swap (`instId`), the all-account ratio per currency (`ccy`).
pub(crate) async fn okx_long_short_ratio(
    State(shared): State<Arc<Shared>>,
    Path(series): Path<String>,
    Query(query): Query<RubikQuery>,
) -> Response {
    let (kind, symbol) = match (series.as_str(), &query.inst_id, &query.ccy) {
        ("long-short-account-ratio-contract-top-trader", Some(inst_id), _) => (
            "top_accounts",
            inst_id.trim_end_matches("-SWAP").replace('-', ""),
        ),
        ("long-short-position-ratio-contract-top-trader", Some(inst_id), _) => (
            "top_positions",
            inst_id.trim_end_matches("-SWAP").replace('-', ""),
        ),
        ("long-short-account-ratio", _, Some(currency)) => ("all_accounts", currency.clone()),
        _ => {
            return Json(json!({"code": "51000", "msg": "Parameter instId error", "data": []}))
                .into_response()
        }
    };
    let now = shares(&symbol, &series, now_ms() / 1000);
    let body = json!({"code": "0", "msg": "",
                      "data": [[now.time_ms.to_string(), now.ratio]]});
    let target = query
        .inst_id
        .as_ref()
        .or(query.ccy.as_ref())
        .cloned()
        .unwrap_or_default();
    let sent = ratio_sent(
        "okx/perpetual",
        kind,
        &symbol,
        &query.period,
        now.time_ms,
        &[("ratio", &now.ratio)],
    );
    answer(
        &shared,
        format!(
            "/api/v5/rubik/stat/contracts/{series}?{target}&period={}",
            query.period
        ),
        body,
        [sent],
    )
}

#[derive(Deserialize)]
pub(crate) struct AccountRatioQuery {
    category: String,
    symbol: String,
    period: String,
}

/// Bybit `/v5/market/account-ratio`: the shares of accounts long and short.
pub(crate) async fn bybit_account_ratio(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<AccountRatioQuery>,
) -> Response {
    if query.category != "linear" {
        return Json(
            json!({"retCode": 10001, "retMsg": "category only support linear or inverse",
                           "result": {}, "retExtInfo": {}, "time": now_ms()}),
        )
        .into_response();
    }
    let symbol = query.symbol.to_ascii_uppercase();
    let now = shares(&symbol, "account-ratio", now_ms() / 1000);
    let body = json!({"retCode": 0, "retMsg": "OK",
        "result": {"list": [{"symbol": symbol, "buyRatio": now.long, "sellRatio": now.short,
                             "timestamp": now.time_ms.to_string()}]},
        "retExtInfo": {}, "time": now_ms()});
    let sent = ratio_sent(
        "bybit/perpetual",
        "all_accounts",
        &symbol,
        &query.period,
        now.time_ms,
        &[("long_share", &now.long), ("short_share", &now.short)],
    );
    answer(
        &shared,
        format!(
            "/v5/market/account-ratio?symbol={symbol}&period={}",
            query.period
        ),
        body,
        [sent],
    )
}

#[derive(Deserialize)]
pub(crate) struct VolatilityHistoryQuery {
    currency: String,
    start_timestamp: i64,
    end_timestamp: i64,
    resolution: String,
}

/// Candles per answer, as Deribit caps them.
const MAX_CANDLES: i64 = 1_000;

/// Deribit `/api/v2/public/get_volatility_index_data`: DVOL candles, oldest first, each
/// opening at the value the stream sent at its start.
pub(crate) async fn volatility_history(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<VolatilityHistoryQuery>,
) -> Response {
    let step_ms = match query.resolution.as_str() {
        "1D" => 86_400_000,
        seconds => match seconds.parse::<i64>() {
            Ok(seconds @ (1 | 60 | 3600 | 43200)) => seconds * 1000,
            _ => {
                return Json(json!({"jsonrpc": "2.0", "error": {"code": -32602,
                    "message": "Invalid params", "data": {"param": "resolution"}}}))
                .into_response()
            }
        },
    };
    let currency = query.currency.to_ascii_uppercase();
    let last = query.end_timestamp.div_euclid(step_ms) * step_ms;
    let first = (last - (MAX_CANDLES - 1) * step_ms)
        .max(query.start_timestamp.div_euclid(step_ms) * step_ms + step_ms);
    let starts: Vec<i64> = (0..)
        .map(|index| first + index * step_ms)
        .take_while(|start| *start <= last)
        .collect();
    let candles: Vec<String> = starts
        .iter()
        .map(|start| {
            let value = crate::derivatives::volatility(&currency, *start);
            format!("[{start},{value},{value},{value},{value}]")
        })
        .collect();
    let body: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"jsonrpc":"2.0","result":{{"data":[{}],"continuation":null}}}}"#,
        candles.join(",")
    ))
    .unwrap_or(serde_json::Value::Null);
    let sent = starts.iter().map(|start| {
        let value = crate::derivatives::volatility(&currency, *start);
        SentDerivative::new(
            "deribit/options",
            "volatility_index",
            &currency,
            *start,
            &[("value", value.as_str())],
        )
    });
    answer(
        &shared,
        format!(
            "/api/v2/public/get_volatility_index_data?currency={currency}&resolution={}",
            query.resolution
        ),
        body,
        sent,
    )
}
