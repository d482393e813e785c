//! The venues' REST limits, enforced on every REST route (a layer over the router, so routes
//! added later are covered too) and counted per venue for the report.
//!
//! Each request is weighed as its venue documents it and counted in its venue's bucket, over
//! fixed windows aligned on the Unix epoch (Binance counts per clock minute). A request that
//! would take the bucket past its limit is answered 429 with `Retry-After` (the seconds left
//! in the window); a request during that back-off, or during a ban, is answered 418 with a
//! ban of [`BAN`], as Binance does. Bybit instead answers 403 "access too frequent" and bans
//! the IP for [`BYBIT_BAN`], naming no `Retry-After`; asking during the ban renews it.
//! Refused requests are not counted against the limit.
//! Binance answers carry `X-MBX-USED-WEIGHT-1M`. The rules are restated here rather than
//! taken from the venues crate, so that a wrong rule there shows up against this one:
//!
//! * Binance spot `/api/v3/*`: 6,000 weight per minute; `depth` weighs 5, 25, 50 or 250 by
//!   `limit` (up to 100, 500, 1000, 5000), `aggTrades` 4, `exchangeInfo` 20, anything else
//!   1 (others weigh more on Binance but are not served here).
//! * Binance USDⓈ-M `/fapi/*`: 2,400 per minute; `depth` 2, 5, 10 or 20 (limit up to 50,
//!   100, 500, 1000), `aggTrades` 20, else 1 (`exchangeInfo` too); `/futures/data/*`: 1,000
//!   requests per 5 minutes.
//! * OKX `/api/v5/*`: per endpoint and 2 s, `market/books` 40, `market/history-trades` 20,
//!   each `rubik/stat` series 5, else 20 (`public/instruments` too).
//! * Bybit `/v5/*` (REST): 600 requests per 5 s.
//! * Deribit `/api/v2/*`: 20 requests per second; `public/get_instruments` 1 per second of
//!   its own.
//! * Coinbase Advanced Trade `/api/v3/brokerage/*` (public): 10 requests per second.
//! * Coinbase Exchange `/products*` (public): 10 requests per second.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::server::{lock, Shared};

/// How long a 418 bans the client, seconds (Binance's shortest ban).
pub const BAN: u64 = 120;

/// How long Bybit's 403 bans the client, seconds (its docs: wait at least 10 minutes).
pub const BYBIT_BAN: u64 = 600;

/// Binance's used-weight header.
const USED_WEIGHT: &str = "x-mbx-used-weight-1m";

/// What the simulator saw of one venue's REST traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueUsage {
    /// Requests received, answered or refused.
    pub requests: u64,
    /// Weight of the requests answered (counted against the limits).
    pub weight: u64,
    /// The most weight counted in one window of any bucket.
    pub peak_window_weight: u64,
    /// That bucket's limit per window.
    pub limit: u64,
    /// Requests answered 429.
    pub answered_429: u64,
    /// Requests answered 418 (during a 429 back-off or a ban).
    pub answered_418: u64,
    /// Requests answered 403 (Bybit's ban).
    #[serde(default)]
    pub answered_403: u64,
}

/// One bucket's count in its current window.
#[derive(Debug, Default)]
struct Window {
    index: i64,
    used: u64,
}

/// The limiter's state.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    /// Per `(venue, bucket)`: the current window.
    windows: HashMap<(&'static str, String), Window>,
    /// Per venue: no request may be sent before this time (the 429's back-off or the ban).
    back_off_until_ms: HashMap<&'static str, i64>,
    /// Per venue: what was seen.
    usage: BTreeMap<String, VenueUsage>,
}

/// A request's place in the limits.
struct Rule {
    venue: &'static str,
    bucket: String,
    limit: u64,
    window_ms: i64,
    weight: u64,
}

/// `limit` query parameter of a request, if any.
fn limit_param(query: &str) -> Option<usize> {
    query.split('&').find_map(|pair| {
        pair.strip_prefix("limit=")
            .and_then(|value| value.parse().ok())
    })
}

/// The rule a REST request falls under; `None` for what is not a venue REST route.
fn rule(path: &str, query: &str) -> Option<Rule> {
    const MINUTE: i64 = 60_000;
    let depth = limit_param(query).unwrap_or(100);
    let rule = |venue, bucket: &str, limit, window_ms, weight| {
        Some(Rule {
            venue,
            bucket: bucket.to_owned(),
            limit,
            window_ms,
            weight,
        })
    };
    if path.starts_with("/api/v3/brokerage/") {
        return rule("coinbase", "public", 10, 1_000, 1);
    }
    if path == "/products" || path.starts_with("/products/") {
        return rule("coinbase_exchange", "public", 10, 1_000, 1);
    }
    if path.starts_with("/api/v3/") || path.starts_with("/api/v1/") {
        let weight = match path.rsplit('/').next() {
            Some("depth") => match depth {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            },
            Some("aggTrades") => 4,
            Some("exchangeInfo") => 20,
            _ => 1,
        };
        return rule("binance_spot", "weight", 6_000, MINUTE, weight);
    }
    if path.starts_with("/futures/data/") {
        return rule("binance_usdm", "futures_data", 1_000, 5 * MINUTE, 1);
    }
    if path.starts_with("/fapi/") {
        let weight = match path.rsplit('/').next() {
            Some("depth") => match depth {
                0..=50 => 2,
                51..=100 => 5,
                101..=500 => 10,
                _ => 20,
            },
            Some("aggTrades") => 20,
            _ => 1,
        };
        return rule("binance_usdm", "weight", 2_400, MINUTE, weight);
    }
    if let Some(endpoint) = path.strip_prefix("/api/v5/") {
        let limit = if endpoint == "market/books" {
            40
        } else if endpoint.starts_with("rubik/stat/") {
            5
        } else {
            20
        };
        return rule("okx", endpoint, limit, 2_000, 1);
    }
    if path.starts_with("/v5/") && !path.starts_with("/v5/public/") {
        return rule("bybit", "ip", 600, 5_000, 1);
    }
    if path == "/api/v2/public/get_instruments" {
        return rule("deribit", "get_instruments", 1, 1_000, 1);
    }
    if path.starts_with("/api/v2/") {
        return rule("deribit", "requests", 20, 1_000, 1);
    }
    None
}

impl Limits {
    /// Counts a request at `now_ms`; `Err` carries the refusal's status and `Retry-After`
    /// (if it names one), `Ok` the weight now used in the bucket's window.
    fn admit(&mut self, rule: &Rule, now_ms: i64) -> Result<u64, (StatusCode, Option<u64>)> {
        let usage = self.usage.entry(rule.venue.to_owned()).or_default();
        usage.requests += 1;
        let back_off = self.back_off_until_ms.entry(rule.venue).or_insert(i64::MIN);
        let bybit = rule.venue == "bybit";
        let index = now_ms.div_euclid(rule.window_ms);
        let window = self
            .windows
            .entry((rule.venue, rule.bucket.clone()))
            .or_default();
        if window.index != index {
            *window = Window { index, used: 0 };
        }
        if bybit && (now_ms < *back_off || window.used + rule.weight > rule.limit) {
            usage.answered_403 += 1;
            *back_off = now_ms + (BYBIT_BAN as i64) * 1000;
            return Err((StatusCode::FORBIDDEN, None));
        }
        if now_ms < *back_off {
            // Asking again during the back-off earns a ban.
            usage.answered_418 += 1;
            *back_off = now_ms + (BAN as i64) * 1000;
            return Err((StatusCode::IM_A_TEAPOT, Some(BAN)));
        }
        if window.used + rule.weight > rule.limit {
            let window_end = (index + 1) * rule.window_ms;
            *back_off = window_end;
            usage.answered_429 += 1;
            let retry_after = u64::try_from((window_end - now_ms + 999) / 1000).unwrap_or(1);
            return Err((StatusCode::TOO_MANY_REQUESTS, Some(retry_after)));
        }
        window.used += rule.weight;
        usage.weight += rule.weight;
        if window.used > usage.peak_window_weight {
            usage.peak_window_weight = window.used;
            usage.limit = rule.limit;
        }
        Ok(window.used)
    }

    /// What was seen per venue.
    pub(crate) fn usage(&self) -> BTreeMap<String, VenueUsage> {
        self.usage.clone()
    }
}

/// The layer's function: counts and limits every venue REST request, passes the others.
pub(crate) async fn enforce(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let is_upgrade = request.headers().contains_key(header::UPGRADE);
    let uri = request.uri().clone();
    let rule = rule(uri.path(), uri.query().unwrap_or_default());
    let Some(rule) = rule.filter(|_| !is_upgrade) else {
        return next.run(request).await;
    };
    let now = marketprism_model::now_ms();
    let admitted = lock(&shared.limits).admit(&rule, now);
    let binance = rule.venue.starts_with("binance");
    let used_weight = |used: u64| HeaderValue::from(used);
    match admitted {
        Ok(used) => {
            let mut response = next.run(request).await;
            if binance && rule.bucket == "weight" {
                response
                    .headers_mut()
                    .insert(USED_WEIGHT, used_weight(used));
            }
            response
        }
        Err((status, retry_after)) => {
            tracing::warn!(venue = rule.venue, %status, ?retry_after, path = uri.path(), "REST request over the venue's limit.");
            shared.report().record_request(crate::RestRequest {
                path: uri.to_string(),
                at_ms: now,
                status: status.as_u16(),
            });
            let mut response = if status == StatusCode::FORBIDDEN {
                (status, "403 Forbidden: access too frequent").into_response()
            } else {
                (
                    status,
                    Json(serde_json::json!({"code": -1003, "msg": "Too many requests."})),
                )
                    .into_response()
            };
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            if binance {
                response
                    .headers_mut()
                    .insert(USED_WEIGHT, used_weight(rule.limit));
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_weighed_as_the_venues_document() {
        let weight = |path, query| rule(path, query).map(|rule| (rule.venue, rule.weight));
        assert_eq!(
            weight("/api/v3/depth", "symbol=X&limit=1000"),
            Some(("binance_spot", 50))
        );
        assert_eq!(
            weight("/api/v3/depth", "symbol=X&limit=5000"),
            Some(("binance_spot", 250))
        );
        assert_eq!(
            weight("/fapi/v1/depth", "symbol=X&limit=1000"),
            Some(("binance_usdm", 20))
        );
        assert_eq!(
            weight("/fapi/v1/premiumIndex", "symbol=X"),
            Some(("binance_usdm", 1))
        );
        assert_eq!(weight("/v5/market/account-ratio", ""), Some(("bybit", 1)));
        assert_eq!(
            weight("/api/v3/brokerage/market/products", ""),
            Some(("coinbase", 1))
        );
        assert_eq!(weight("/products", ""), Some(("coinbase_exchange", 1)));
        // The instrument lists.
        assert_eq!(
            weight("/api/v3/exchangeInfo", ""),
            Some(("binance_spot", 20))
        );
        assert_eq!(
            weight("/fapi/v1/exchangeInfo", ""),
            Some(("binance_usdm", 1))
        );
        assert_eq!(
            weight("/api/v5/public/instruments", "instType=SWAP"),
            Some(("okx", 1))
        );
        assert_eq!(
            weight("/v5/market/instruments-info", "category=linear"),
            Some(("bybit", 1))
        );
        let instruments = rule("/api/v2/public/get_instruments", "currency=any&kind=future")
            .expect("a Deribit route");
        assert_eq!(
            (
                instruments.bucket.as_str(),
                instruments.limit,
                instruments.weight
            ),
            ("get_instruments", 1, 1)
        );
        let okx = rule("/api/v5/public/instruments", "instType=SPOT").expect("an OKX route");
        assert_eq!((okx.bucket.as_str(), okx.limit), ("public/instruments", 20));
        assert_eq!(weight("/v5/public/spot", ""), None);
        assert_eq!(weight("/control/report", ""), None);
    }

    #[test]
    fn over_the_limit_answers_429_then_418_during_the_back_off() {
        let mut limits = Limits::default();
        let depth = rule("/api/v3/depth", "limit=5000").expect("rule");
        let minute = 1_700_000_040_000;
        for _ in 0..24 {
            limits.admit(&depth, minute + 1).expect("within 6,000");
        }
        assert_eq!(
            limits.admit(&depth, minute + 10_000),
            Err((StatusCode::TOO_MANY_REQUESTS, Some(50)))
        );
        assert_eq!(
            limits.admit(&depth, minute + 20_000),
            Err((StatusCode::IM_A_TEAPOT, Some(BAN)))
        );
        // Banned past the window's end.
        assert!(limits.admit(&depth, minute + 60_000).is_err());
        let usage = &limits.usage()["binance_spot"];
        assert_eq!(
            (
                usage.requests,
                usage.weight,
                usage.peak_window_weight,
                usage.limit
            ),
            (27, 6_000, 6_000, 6_000)
        );
        assert_eq!((usage.answered_429, usage.answered_418), (1, 2));
    }

    #[test]
    fn bybit_over_the_limit_answers_403_and_renews_the_ban_when_asked_again() {
        let mut limits = Limits::default();
        let recent = rule("/v5/market/recent-trade", "limit=1000").expect("rule");
        let window = 1_700_000_040_000;
        for _ in 0..600 {
            limits.admit(&recent, window + 1).expect("within 600");
        }
        let banned = Err((StatusCode::FORBIDDEN, None));
        assert_eq!(limits.admit(&recent, window + 2), banned);
        // Long after the window ended, the ban holds, and asking renews it.
        let later = window + 2 + (BYBIT_BAN as i64 - 1) * 1000;
        assert_eq!(limits.admit(&recent, later), banned);
        assert_eq!(limits.admit(&recent, later + 2_000), banned);
        assert!(limits
            .admit(&recent, later + 2_000 + (BYBIT_BAN as i64) * 1000)
            .is_ok());
        let usage = &limits.usage()["bybit"];
        assert_eq!(
            (usage.answered_403, usage.answered_429, usage.answered_418),
            (3, 0, 0)
        );
    }
}
