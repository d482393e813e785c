//! The venues' WebSocket limits, enforced on every connection and counted per venue for the
//! report ([`WsUsage`]).
//!
//! The numbers are the venues' [`WsLimits`] from `marketprism-venues`, their one definition,
//! which the collector plans by; limits a venue leaves undocumented are ours there, and the
//! simulator holds clients to them too, answering as the venue answers its documented ones.
//! The counting is the simulator's own (a rolling window per count), so a counting mistake
//! of the collector's shows up against it. What goes beyond a limit is refused as the venue
//! refuses it, as far as its docs say:
//!
//! * **Connections** per venue and window ([`WsLimits::connections`], attempts count, the
//!   refused ones too) and open at once ([`WsLimits::concurrent_connections`]): the upgrade
//!   is answered HTTP 429, as Deribit documents for its 33rd connection. So is a Binance
//!   URL naming more streams than a connection may carry, answered HTTP 400. Every client of
//!   the simulator is one IP, so the counts are per venue.
//! * **Subscribe requests** listing more arguments than [`WsLimits::args_per_request`],
//!   larger than [`WsLimits::request_bytes`], or that would take the connection past
//!   [`WsLimits::streams_per_connection`]: the venue's error reply, nothing subscribed
//!   (Binance code 2 `Invalid request: too many parameters`, OKX `60012`, Bybit
//!   `success:false` with `args size >10` on spot, Deribit a JSON-RPC error, Coinbase an
//!   `error` message).
//! * **Messages** past [`WsLimits::messages`], counted per connection or per venue as the
//!   venue counts them, every frame or requests only: the connection is closed (1008 "Too
//!   many requests", as Binance closes), after Deribit's `too_many_requests` (10028) or
//!   OKX's `60014` "Requests too frequent".

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use axum::extract::ws::Message;
use axum::http::StatusCode;
use marketprism_venues::{CountedMessages, MessageScope, Rate, WsLimits};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::dialect::{strings, Dialect};
use crate::protocol::error_reply;

/// What the simulator saw of one venue's WebSocket connections, against its limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsUsage {
    /// Connections accepted.
    pub connections: u64,
    /// Connection attempts refused: past the venue's connections per window or at once, or
    /// naming more streams than a connection may carry.
    pub refused_connections: u64,
    /// The most connection attempts within one window of the venue's connection rate.
    pub peak_connection_attempts: u64,
    /// The venue's connection attempts per window.
    pub connection_limit: u64,
    /// The most connections open at once.
    pub peak_open_connections: u64,
    /// The most streams one connection carried.
    pub peak_streams: u64,
    /// The venue's streams per connection.
    pub streams_limit: u64,
    /// The most arguments one subscribe request listed.
    pub peak_args: u64,
    /// The venue's arguments per subscribe request.
    pub args_limit: u64,
    /// The most counted messages within one window, of one connection or of every
    /// connection where the venue counts per IP.
    pub peak_messages: u64,
    /// The venue's messages per window.
    pub messages_limit: u64,
    /// Subscribe requests refused: too many arguments, too large, or past the streams a
    /// connection may carry.
    pub refused_requests: u64,
    /// Connections closed for sending too many messages.
    pub closed_for_messages: u64,
}

impl WsUsage {
    /// Everything refused: connections, requests, and connections closed for their rate.
    pub fn refusals(&self) -> u64 {
        self.refused_connections + self.refused_requests + self.closed_for_messages
    }

    fn new(limits: &WsLimits) -> Self {
        WsUsage {
            connection_limit: u64::from(limits.connections.limit),
            streams_limit: limits.streams_per_connection as u64,
            args_limit: limits.args_per_request as u64,
            messages_limit: u64::from(limits.messages.limit),
            ..WsUsage::default()
        }
    }
}

/// The limits of the venue and market a dialect speaks for.
pub(crate) fn limits_of(dialect: Dialect) -> WsLimits {
    dialect.venue().protocol(&[]).ws_limits()
}

/// How long a window of `rate` lasts, ms.
fn window_ms(rate: Rate) -> i64 {
    i64::try_from(rate.window.as_millis()).unwrap_or(i64::MAX)
}

/// Times of events within a rolling window, Unix ms.
#[derive(Debug, Default)]
struct Window(VecDeque<i64>);

impl Window {
    /// Counts an event at `now_ms` within `rate`'s window; the count, this one included.
    fn count(&mut self, rate: Rate, now_ms: i64) -> u64 {
        let start_ms = now_ms.saturating_sub(window_ms(rate));
        while self.0.front().is_some_and(|&time| time <= start_ms) {
            self.0.pop_front();
        }
        self.0.push_back(now_ms);
        self.0.len() as u64
    }
}

/// One venue's counts.
#[derive(Debug)]
struct Venue {
    attempts: Window,
    open: u64,
    /// Messages of every connection, where the venue counts per IP.
    messages: Window,
    usage: WsUsage,
}

/// One connection's counts.
#[derive(Debug)]
struct Connection {
    dialect: Dialect,
    limits: WsLimits,
    messages: Window,
}

/// Every venue's and connection's counts.
#[derive(Debug, Default)]
pub(crate) struct WsLimiter {
    venues: BTreeMap<&'static str, Venue>,
    connections: HashMap<u64, Connection>,
}

impl WsLimiter {
    fn venue(&mut self, limits: &WsLimits) -> &mut Venue {
        self.venues.entry(limits.name).or_insert_with(|| Venue {
            attempts: Window::default(),
            open: 0,
            messages: Window::default(),
            usage: WsUsage::new(limits),
        })
    }

    /// Counts a connection attempt of `dialect` at `now_ms` naming `streams` streams in its
    /// URL; the status refusing it, if it goes beyond the venue's limits.
    pub(crate) fn admit_connection(
        &mut self,
        dialect: Dialect,
        streams: usize,
        now_ms: i64,
    ) -> Result<(), StatusCode> {
        let limits = limits_of(dialect);
        let venue = self.venue(&limits);
        let attempts = venue.attempts.count(limits.connections, now_ms);
        venue.usage.peak_connection_attempts = venue.usage.peak_connection_attempts.max(attempts);
        let refusal = if attempts > u64::from(limits.connections.limit)
            || limits
                .concurrent_connections
                .is_some_and(|most| venue.open >= most as u64)
        {
            Some(StatusCode::TOO_MANY_REQUESTS)
        } else if streams > limits.streams_per_connection {
            Some(StatusCode::BAD_REQUEST)
        } else {
            None
        };
        match refusal {
            Some(status) => {
                venue.usage.refused_connections += 1;
                Err(status)
            }
            None => Ok(()),
        }
    }

    /// Notes that client `id` of `dialect` connected, carrying `streams` streams.
    pub(crate) fn opened(&mut self, id: u64, dialect: Dialect, streams: usize) {
        let limits = limits_of(dialect);
        let venue = self.venue(&limits);
        venue.open += 1;
        venue.usage.connections += 1;
        venue.usage.peak_open_connections = venue.usage.peak_open_connections.max(venue.open);
        venue.usage.peak_streams = venue.usage.peak_streams.max(streams as u64);
        self.connections.insert(
            id,
            Connection {
                dialect,
                limits,
                messages: Window::default(),
            },
        );
    }

    /// Notes that client `id` left.
    pub(crate) fn closed(&mut self, id: u64) {
        if let Some(connection) = self.connections.remove(&id) {
            let venue = self.venue(&connection.limits);
            venue.open = venue.open.saturating_sub(1);
        }
    }

    /// Counts a frame client `id` sent at `now_ms`, if its venue counts it; `Err` when it
    /// takes the count past the venue's limit, with the frame the venue sends before closing
    /// the connection, if it sends one.
    pub(crate) fn count_frame(
        &mut self,
        id: u64,
        message: &Message,
        now_ms: i64,
    ) -> Result<(), Option<String>> {
        let Some(connection) = self.connections.get_mut(&id) else {
            return Ok(());
        };
        let counted = match (connection.limits.counted, message) {
            (CountedMessages::EveryFrame, Message::Close(_)) => false,
            (CountedMessages::EveryFrame, _) => true,
            // OKX counts subscribe, unsubscribe and login requests, not its `ping`.
            (CountedMessages::Requests, Message::Text(text)) => text.as_str() != "ping",
            (CountedMessages::Requests, _) => false,
        };
        if !counted {
            return Ok(());
        }
        let (limits, dialect) = (connection.limits, connection.dialect);
        let count = match limits.message_scope {
            MessageScope::Connection => connection.messages.count(limits.messages, now_ms),
            MessageScope::Ip => self.venue(&limits).messages.count(limits.messages, now_ms),
        };
        let usage = &mut self.venue(&limits).usage;
        usage.peak_messages = usage.peak_messages.max(count);
        if count <= u64::from(limits.messages.limit) {
            return Ok(());
        }
        usage.closed_for_messages += 1;
        Err(match dialect {
            Dialect::Deribit => Some(
                json!({"jsonrpc": "2.0", "id": null,
                       "error": {"code": 10028, "message": "too_many_requests"}})
                .to_string(),
            ),
            Dialect::Okx => Some(
                json!({"event": "error", "code": "60014", "msg": "Requests too frequent.",
                       "connId": "sim"})
                .to_string(),
            ),
            Dialect::Binance { .. }
            | Dialect::Bybit { .. }
            | Dialect::Coinbase
            | Dialect::CoinbaseExchange => None,
        })
    }

    /// Checks a text frame of client `id`, which carries `streams`, against its venue's
    /// request limits; `Err` with the venue's refusal when the frame is a subscribe request
    /// beyond them.
    pub(crate) fn admit_request(
        &mut self,
        id: u64,
        streams: &BTreeSet<String>,
        text: &str,
    ) -> Result<(), String> {
        let Some(connection) = self.connections.get(&id) else {
            return Ok(());
        };
        let (limits, dialect) = (connection.limits, connection.dialect);
        let Ok(request) = serde_json::from_str::<Value>(text) else {
            return Ok(());
        };
        let Some((args, keys)) = subscribe_request(dialect, &request) else {
            return Ok(());
        };
        let usage = &mut self.venue(&limits).usage;
        usage.peak_args = usage.peak_args.max(args as u64);
        let added: BTreeSet<&String> = keys.iter().filter(|key| !streams.contains(*key)).collect();
        let reason = if args > limits.args_per_request {
            match dialect {
                Dialect::Binance { .. } => "too many parameters".to_owned(),
                Dialect::Bybit { .. } => format!("args size >{}", limits.args_per_request),
                Dialect::Okx | Dialect::Deribit | Dialect::Coinbase | Dialect::CoinbaseExchange => {
                    format!(
                        "more than {} arguments in one request",
                        limits.args_per_request
                    )
                }
            }
        } else if limits.request_bytes.is_some_and(|most| text.len() > most) {
            format!(
                "the request's {} bytes exceed {}",
                text.len(),
                limits.request_bytes.unwrap_or_default()
            )
        } else if streams.len() + added.len() > limits.streams_per_connection {
            format!(
                "a connection carries at most {} streams",
                limits.streams_per_connection
            )
        } else {
            return Ok(());
        };
        usage.refused_requests += 1;
        Err(refusal(dialect, &request, &reason))
    }

    /// Notes that client `id` now carries `streams` streams.
    pub(crate) fn note_streams(&mut self, id: u64, streams: usize) {
        if let Some(limits) = self
            .connections
            .get(&id)
            .map(|connection| connection.limits)
        {
            let usage = &mut self.venue(&limits).usage;
            usage.peak_streams = usage.peak_streams.max(streams as u64);
        }
    }

    /// What was seen per venue.
    pub(crate) fn usage(&self) -> BTreeMap<String, WsUsage> {
        self.venues
            .iter()
            .map(|(name, venue)| ((*name).to_owned(), venue.usage.clone()))
            .collect()
    }
}

/// For a subscribe request of `dialect`: the arguments it lists and the streams they name,
/// as the connection keys them (Binance stream names, OKX `channel:instId`, Bybit topics,
/// Deribit channels, Coinbase `channel:product` or `heartbeats`); `None` for anything else.
fn subscribe_request(dialect: Dialect, request: &Value) -> Option<(usize, Vec<String>)> {
    let keys = match dialect {
        Dialect::Binance { .. } if request["method"] == "SUBSCRIBE" => strings(&request["params"]),
        Dialect::Bybit { .. } if request["op"] == "subscribe" => strings(&request["args"]),
        Dialect::Deribit if request["method"] == "public/subscribe" => {
            strings(&request["params"]["channels"])
        }
        Dialect::Okx if request["op"] == "subscribe" => request["args"]
            .as_array()
            .map(|args| {
                args.iter()
                    .map(|arg| {
                        let target = arg["instId"].as_str().or(arg["instType"].as_str());
                        format!(
                            "{}:{}",
                            arg["channel"].as_str().unwrap_or_default(),
                            target.unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Dialect::Coinbase if request["type"] == "subscribe" => {
            let channel = request["channel"].as_str().unwrap_or_default();
            let products = strings(&request["product_ids"]);
            if channel == "heartbeats" {
                return Some((0, vec![channel.to_owned()]));
            }
            products
                .iter()
                .map(|product| format!("{channel}:{product}"))
                .collect()
        }
        Dialect::CoinbaseExchange if request["type"] == "subscribe" => {
            crate::coinbase_exchange::request_keys(request)
        }
        _ => return None,
    };
    Some((keys.len(), keys))
}

/// `dialect`'s error reply to `request`, refused for `reason`.
fn refusal(dialect: Dialect, request: &Value, reason: &str) -> String {
    match dialect {
        Dialect::Binance { .. } => {
            error_reply(2, &format!("Invalid request: {reason}"), &request["id"])
        }
        Dialect::Okx => json!({"event": "error", "code": "60012",
                               "msg": format!("Invalid request: {reason}"), "connId": "sim"})
        .to_string(),
        Dialect::Bybit { .. } => json!({"success": false, "ret_msg": reason, "conn_id": "sim",
                                        "req_id": request["req_id"], "op": "subscribe"})
        .to_string(),
        Dialect::Deribit => json!({"jsonrpc": "2.0", "id": request["id"],
                                   "error": {"code": -32602, "message": "Invalid params",
                                             "data": {"param": "channels", "reason": reason}}})
        .to_string(),
        Dialect::Coinbase => json!({"type": "error", "message": reason}).to_string(),
        Dialect::CoinbaseExchange => {
            json!({"type": "error", "message": "Failed to subscribe", "reason": reason}).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const BINANCE: Dialect = Dialect::Binance { futures: false };

    /// A moment, Unix ms.
    const NOW: i64 = 1_700_000_000_000;

    fn subscribe(names: impl IntoIterator<Item = String>) -> String {
        json!({"method": "SUBSCRIBE", "params": names.into_iter().collect::<Vec<_>>(), "id": 7})
            .to_string()
    }

    fn streams(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|index| format!("s{index}usdt@trade")).collect()
    }

    #[test]
    fn binance_refuses_a_subscription_past_1024_streams_and_too_many_parameters() {
        let mut limiter = WsLimiter::default();
        limiter.opened(1, BINANCE, 0);
        let mut held: BTreeSet<String> = streams(0..1_000).into_iter().collect();
        assert_eq!(
            limiter.admit_request(1, &held, &subscribe(streams(1_000..1_024))),
            Ok(())
        );
        held.extend(streams(1_000..1_024));
        limiter.note_streams(1, held.len());
        // Already held streams cost nothing more; a new one is one too many.
        assert_eq!(
            limiter.admit_request(1, &held, &subscribe(streams(0..5))),
            Ok(())
        );
        let refused = limiter
            .admit_request(1, &held, &subscribe(streams(1_024..1_025)))
            .expect_err("past 1024");
        let reply: Value = serde_json::from_str(&refused).expect("JSON");
        assert_eq!(
            (reply["error"]["code"].as_i64(), reply["id"].as_i64()),
            (Some(2), Some(7))
        );
        // More names in one request than a request may list.
        let refused = limiter
            .admit_request(1, &BTreeSet::new(), &subscribe(streams(0..101)))
            .expect_err("101 parameters");
        assert!(refused.contains("too many parameters"), "{refused}");
        let usage = &limiter.usage()["binance_spot"];
        assert_eq!(
            (usage.peak_streams, usage.refused_requests, usage.peak_args),
            (1_024, 2, 101)
        );
        // Not a subscription: not judged.
        let list = json!({"method": "LIST_SUBSCRIPTIONS", "id": 8}).to_string();
        assert_eq!(limiter.admit_request(1, &held, &list), Ok(()));
    }

    #[test]
    fn bybit_spot_refuses_more_than_ten_topics_in_one_subscribe() {
        let mut limiter = WsLimiter::default();
        let spot = Dialect::Bybit { linear: false };
        limiter.opened(1, spot, 0);
        let topics = |count: usize| -> String {
            let args: Vec<String> = (0..count)
                .map(|index| format!("publicTrade.S{index}USDT"))
                .collect();
            json!({"op": "subscribe", "args": args, "req_id": "3"}).to_string()
        };
        assert_eq!(
            limiter.admit_request(1, &BTreeSet::new(), &topics(10)),
            Ok(())
        );
        let refused = limiter
            .admit_request(1, &BTreeSet::new(), &topics(11))
            .expect_err("11 topics");
        let reply: Value = serde_json::from_str(&refused).expect("JSON");
        assert_eq!(reply["success"], false);
        assert_eq!(reply["ret_msg"], "args size >10");
        assert_eq!(reply["req_id"], "3");
        // Linear takes more per request.
        limiter.opened(2, Dialect::Bybit { linear: true }, 0);
        assert_eq!(
            limiter.admit_request(2, &BTreeSet::new(), &topics(11)),
            Ok(())
        );
    }

    #[test]
    fn a_connection_past_its_message_rate_is_closed_and_pongs_count_on_binance() {
        let mut limiter = WsLimiter::default();
        limiter.opened(1, BINANCE, 0);
        let text = Message::text("{}");
        let pong = Message::Pong(Default::default());
        for (offset, message) in [
            (0, &text),
            (100, &pong),
            (200, &text),
            (300, &text),
            (400, &pong),
        ] {
            assert_eq!(limiter.count_frame(1, message, NOW + offset), Ok(()));
        }
        // A sixth within the second closes the connection, with no frame first.
        assert_eq!(limiter.count_frame(1, &text, NOW + 999), Err(None));
        // A second later the window has room again.
        let mut limiter = WsLimiter::default();
        limiter.opened(1, BINANCE, 0);
        for offset in 0..20 {
            assert_eq!(limiter.count_frame(1, &text, NOW + offset * 200), Ok(()));
        }
        let usage = &limiter.usage()["binance_spot"];
        assert_eq!(
            (
                usage.peak_messages,
                usage.messages_limit,
                usage.closed_for_messages
            ),
            (5, 5, 0)
        );
    }

    #[test]
    fn okx_counts_requests_not_pings_and_answers_60014() {
        let mut limiter = WsLimiter::default();
        limiter.opened(1, Dialect::Okx, 0);
        let request = Message::text(r#"{"op":"subscribe","args":[]}"#);
        let ping = Message::text("ping");
        for offset in 0..480 {
            assert_eq!(limiter.count_frame(1, &request, NOW + offset), Ok(()));
            assert_eq!(limiter.count_frame(1, &ping, NOW + offset), Ok(()));
        }
        let farewell = limiter
            .count_frame(1, &request, NOW + 1_000)
            .expect_err("the 481st request within the hour");
        assert!(farewell.is_some_and(|frame| frame.contains("60014")));
    }

    #[test]
    fn deribit_counts_every_connection_of_the_ip_and_answers_10028() {
        let mut limiter = WsLimiter::default();
        limiter.opened(1, Dialect::Deribit, 0);
        limiter.opened(2, Dialect::Deribit, 0);
        let text = Message::text("{}");
        for index in 0..20 {
            assert_eq!(limiter.count_frame(1 + index % 2, &text, NOW), Ok(()));
        }
        let farewell = limiter.count_frame(2, &text, NOW).expect_err("the 21st");
        assert!(farewell.is_some_and(|frame| frame.contains("10028")));
    }

    #[test]
    fn connections_past_the_venue_s_rate_or_concurrency_are_refused() {
        let mut limiter = WsLimiter::default();
        let rate = limits_of(Dialect::Okx).connections;
        assert_eq!(rate.limit, 3);
        for index in 0..3 {
            assert_eq!(
                limiter.admit_connection(Dialect::Okx, 0, NOW + index),
                Ok(())
            );
        }
        assert_eq!(
            limiter.admit_connection(Dialect::Okx, 0, NOW + 10),
            Err(StatusCode::TOO_MANY_REQUESTS)
        );
        // A window later, in again.
        assert_eq!(
            limiter.admit_connection(Dialect::Okx, 0, NOW + 10 + window_ms(rate)),
            Ok(())
        );
        // Deribit: at most 32 open at once.
        let mut limiter = WsLimiter::default();
        for id in 0..32 {
            let at = NOW + i64::try_from(id).unwrap_or_default() * 1_000;
            assert_eq!(limiter.admit_connection(Dialect::Deribit, 0, at), Ok(()));
            limiter.opened(id, Dialect::Deribit, 0);
        }
        let later = NOW + 60_000;
        assert_eq!(
            limiter.admit_connection(Dialect::Deribit, 0, later),
            Err(StatusCode::TOO_MANY_REQUESTS)
        );
        limiter.closed(0);
        assert_eq!(
            limiter.admit_connection(Dialect::Deribit, 0, later + 1),
            Ok(())
        );
        // Binance: a URL naming more streams than a connection carries.
        assert_eq!(
            limiter.admit_connection(BINANCE, 1_025, NOW),
            Err(StatusCode::BAD_REQUEST)
        );
        let usage = &limiter.usage()["deribit"];
        assert_eq!(
            (usage.refused_connections, usage.peak_open_connections),
            (1, 32)
        );
    }

    #[test]
    fn the_limits_are_the_venues_crate_s() {
        assert_eq!(limits_of(BINANCE).streams_per_connection, 1024);
        assert_eq!(
            limits_of(Dialect::Binance { futures: true }).messages.limit,
            10
        );
        assert_eq!(
            limits_of(Dialect::Bybit { linear: false }).args_per_request,
            10
        );
        assert_eq!(
            limits_of(Dialect::Okx).messages.window,
            Duration::from_secs(3600)
        );
    }
}
