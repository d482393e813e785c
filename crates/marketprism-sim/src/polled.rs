//! Binance USDⓈ-M REST data that collectors poll: `premiumIndex`, `openInterest` and the
//! long/short ratio statistics, with values derived from the current second (so repeated
//! polls within a second get the same answer), and injectable rate limiting (HTTP 429 with
//! `Retry-After`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::generator::now_ms;
use crate::server::Shared;

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

/// Answers a poll, or 429 while rate limiting is injected; every request is recorded.
fn answer(shared: &Shared, path: String, body: serde_json::Value) -> Response {
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
    shared.report().rest_requests.push(RestRequest {
        path,
        at_ms: now_ms(),
        status: status.as_u16(),
    });
    if limited {
        let retry_after = shared.retry_after_s.load(Ordering::Relaxed).to_string();
        return (
            status,
            [(header::RETRY_AFTER, retry_after)],
            Json(json!({"code": -1003, "msg": "Too many requests; IP banned until later."})),
        )
            .into_response();
    }
    Json(body).into_response()
}

pub(crate) async fn premium_index(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    let symbol = query.symbol.to_ascii_uppercase();
    let now = crate::derivatives::second(&symbol, now_ms() / 1000);
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
    answer(
        &shared,
        format!("/fapi/v1/premiumIndex?symbol={symbol}"),
        body,
    )
}

pub(crate) async fn open_interest(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    let symbol = query.symbol.to_ascii_uppercase();
    let now = crate::derivatives::second(&symbol, now_ms() / 1000);
    let body = json!({
        "openInterest": now.open_interest,
        "symbol": symbol,
        "time": now.time_ms,
    });
    answer(
        &shared,
        format!("/fapi/v1/openInterest?symbol={symbol}"),
        body,
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
    let second = now_ms() / 1000;
    let symbol = query.symbol.to_ascii_uppercase();
    let long_units = 3_000 + (second + series.len() as i64).rem_euclid(4_000);
    let long = format!("0.{long_units:04}");
    let short = format!("0.{:04}", 10_000 - long_units);
    let ratio = format!("{:.4}", long_units as f64 / (10_000 - long_units) as f64);
    let body = json!([{
        "symbol": symbol,
        "longShortRatio": ratio,
        "longAccount": long,
        "shortAccount": short,
        "timestamp": (second * 1000).to_string(),
    }]);
    let period = query.period.unwrap_or_default();
    answer(
        &shared,
        format!("/futures/data/{series}?symbol={symbol}&period={period}"),
        body,
    )
}
