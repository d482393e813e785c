//! What the simulator generated and delivered.
//!
//! A run with a trade count keeps everything it sent, so tests can compare every row with it.
//! A run without one (`marketprism up --sim`, days long) keeps the latest
//! [`RETAINED_FOREVER`] trades, values and requests; its counts still cover the whole run.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{RestRequest, SentDerivative};

/// Trades, derivatives values and REST requests a run without a trade count keeps, each.
pub const RETAINED_FOREVER: usize = 100_000;

/// One generated trade, as the simulator put it on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTrade {
    /// Binance symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Trade id (`t`).
    pub trade_id: u64,
    /// Price text (`p`).
    pub price: String,
    /// Quantity text (`q`).
    pub quantity: String,
    /// Whether the buyer was the maker (`m`).
    pub buyer_is_maker: bool,
    /// Trade time (`T`), Unix ms.
    pub trade_time_ms: i64,
    /// Whether the frame was written to at least one open connection.
    pub delivered: bool,
    /// Where it was written: `exchange/market` (`binance/spot`, `okx/perpetual`,
    /// `bybit/spot`, ...), with `/aggregate` for Binance `aggTrade` streams.
    #[serde(default)]
    pub venues: std::collections::BTreeSet<String>,
}

/// A connection disconnected for falling behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowConsumer {
    /// When, Unix ms.
    pub at_ms: i64,
    /// The venue's exchange (`okx`, `bybit`): a connection may carry several of its
    /// markets.
    pub exchange: String,
}

/// Counts from the report, cheap to poll during long runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// True once `count` trades were generated (or the replay ended).
    pub done: bool,
    /// Trades generated.
    pub trades_generated: u64,
    /// Trades written to at least one open connection.
    pub trades_delivered: u64,
    /// Connections accepted so far.
    pub connections: u64,
    /// Symbols trading now.
    #[serde(default)]
    pub symbols_trading: u64,
    /// Symbols delisted so far.
    #[serde(default)]
    pub symbols_delisted: u64,
}

impl Report {
    /// An empty report keeping at most `retained` trades, values and requests each (all of
    /// them when `None`).
    pub fn new(retained: Option<usize>) -> Self {
        Report {
            retained,
            ..Report::default()
        }
    }

    /// The report's counts.
    pub fn summary(&self) -> Summary {
        Summary {
            done: self.done,
            trades_generated: self.trades_dropped + self.trades.len() as u64,
            trades_delivered: self.trades_delivered,
            connections: self.connections,
            symbols_trading: self
                .listings
                .values()
                .filter(|l| l.delisted_ms.is_none())
                .count() as u64,
            symbols_delisted: self
                .listings
                .values()
                .filter(|l| l.delisted_ms.is_some())
                .count() as u64,
        }
    }

    /// Records a generated trade; the number it is known by in [`Report::mark_delivered`].
    pub(crate) fn record_trade(&mut self, trade: SimTrade) -> u64 {
        let sequence = self.trades_dropped + self.trades.len() as u64;
        self.trades.push(trade);
        self.trades_dropped += trim(&mut self.trades, self.retained, |_| {}) as u64;
        sequence
    }

    /// Records that trade `sequence` was written to a connection of `venue`.
    pub(crate) fn mark_delivered(&mut self, sequence: u64, venue: &str) {
        let Some(index) = sequence.checked_sub(self.trades_dropped) else {
            return;
        };
        if let Some(trade) = self.trades.get_mut(index as usize) {
            if !trade.delivered {
                trade.delivered = true;
                self.trades_delivered += 1;
            }
            if !trade.venues.contains(venue) {
                trade.venues.insert(venue.to_owned());
            }
        }
    }

    /// Records derivatives values sent or answered, each once however often it was sent.
    pub(crate) fn record_derivatives(&mut self, sent: impl IntoIterator<Item = SentDerivative>) {
        for value in sent {
            if self.derivatives_recorded.insert(value.clone()) {
                self.derivatives.push(value);
            }
        }
        let recorded = &mut self.derivatives_recorded;
        trim(&mut self.derivatives, self.retained, |dropped| {
            recorded.remove(dropped);
        });
    }

    /// Records an answered REST request.
    pub(crate) fn record_request(&mut self, request: RestRequest) {
        self.rest_requests.push(request);
        trim(&mut self.rest_requests, self.retained, |_| {});
    }
}

/// Drops the oldest items once `items` holds twice `retained`, down to `retained` (so the
/// copying is amortized), telling `dropping` about each; returns how many were dropped.
fn trim<T>(items: &mut Vec<T>, retained: Option<usize>, mut dropping: impl FnMut(&T)) -> usize {
    match retained {
        Some(retained) if items.len() >= retained.saturating_mul(2).max(1) => {
            let excess = items.len() - retained;
            items.drain(..excess).for_each(|item| dropping(&item));
            excess
        }
        _ => 0,
    }
}

/// The simulator's account of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True once `count` trades were generated (or the replay ended).
    pub done: bool,
    /// Trades of the whole run written to at least one open connection.
    #[serde(default)]
    pub trades_delivered: u64,
    /// The oldest trades no longer in `trades`: the first one there is trade number
    /// `trades_dropped`.
    #[serde(default)]
    pub trades_dropped: u64,
    /// The generated trades in order (the latest ones in a run without a trade count).
    pub trades: Vec<SimTrade>,
    /// Times connections were dropped on command, Unix ms.
    pub disconnects_ms: Vec<i64>,
    /// Connections disconnected for falling behind, as venues drop slow consumers.
    #[serde(default)]
    pub slow_consumers: Vec<SlowConsumer>,
    /// Connections accepted so far.
    pub connections: u64,
    /// Frames written to sockets (data, replies, replayed frames).
    pub frames_sent: u64,
    /// REST requests answered or refused: polls, depth snapshots, replayed answers.
    pub rest_requests: Vec<RestRequest>,
    /// Derivatives values written to at least one open connection or answered to a poll.
    pub derivatives: Vec<SentDerivative>,
    /// Per venue, REST requests and their weight against the venue's limits, and the
    /// requests refused (429, 418).
    #[serde(default)]
    pub rest_usage: std::collections::BTreeMap<String, crate::VenueUsage>,
    /// Per venue, WebSocket connections, streams, request arguments and messages against
    /// the venue's limits, and what was refused.
    #[serde(default)]
    pub ws_usage: std::collections::BTreeMap<String, crate::WsUsage>,
    /// Every symbol listed, configured or at run time, with its listing and delisting
    /// times: every trade, book event and derivatives value of a symbol lies between them.
    #[serde(default)]
    pub listings: std::collections::BTreeMap<String, crate::SymbolListing>,
    /// The values of `derivatives`, to record each once.
    #[serde(skip)]
    derivatives_recorded: HashSet<SentDerivative>,
    /// How many of each list the report keeps.
    #[serde(skip)]
    retained: Option<usize>,
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn trade(trade_id: u64) -> SimTrade {
        SimTrade {
            symbol: "BTCUSDT".into(),
            trade_id,
            price: "1.00".into(),
            quantity: "2.00".into(),
            buyer_is_maker: false,
            trade_time_ms: 0,
            delivered: false,
            venues: BTreeSet::new(),
        }
    }

    fn value(time_ms: i64) -> SentDerivative {
        SentDerivative {
            venue: "okx/perpetual".into(),
            kind: "funding_rate".into(),
            symbol: "BTCUSDT".into(),
            time_ms,
            values: BTreeMap::from([("funding_rate".to_owned(), "0.0001".to_owned())]),
        }
    }

    #[test]
    fn a_bounded_report_keeps_the_latest_items_and_counts_the_whole_run() {
        let mut report = Report::new(Some(10));
        for trade_id in 0..1_000 {
            let sequence = report.record_trade(trade(trade_id));
            report.mark_delivered(sequence, "binance/spot");
            report.mark_delivered(sequence, "binance/spot");
        }
        assert!(
            report.trades.len() < 20,
            "{} trades kept",
            report.trades.len()
        );
        assert_eq!(
            report.summary(),
            Summary {
                done: false,
                trades_generated: 1_000,
                trades_delivered: 1_000,
                connections: 0,
                symbols_trading: 0,
                symbols_delisted: 0,
            }
        );
        let first_kept = report.trades_dropped;
        assert_eq!(report.trades[0].trade_id, first_kept);
        assert_eq!(report.trades.last().map(|t| t.trade_id), Some(999));

        // A delivery of a trade no longer kept changes nothing; one of a kept trade counts.
        let sequence = report.record_trade(trade(1_000));
        report.mark_delivered(0, "okx/spot");
        assert_eq!(report.trades_delivered, 1_000);
        report.mark_delivered(sequence, "okx/spot");
        assert_eq!(report.trades_delivered, 1_001);

        for time_ms in 0..1_000 {
            report.record_derivatives([value(time_ms), value(time_ms)]);
            report.record_request(RestRequest {
                path: "/fapi/v1/openInterest?symbol=BTCUSDT".into(),
                at_ms: time_ms,
                status: 200,
            });
        }
        assert!(report.derivatives.len() < 20);
        assert!(report.rest_requests.len() < 20);
        assert_eq!(report.derivatives.last().map(|v| v.time_ms), Some(999));
        assert_eq!(report.derivatives_recorded.len(), report.derivatives.len());
    }

    #[test]
    fn an_unbounded_report_keeps_everything_once() {
        let mut report = Report::new(None);
        for trade_id in 0..1_000 {
            report.record_trade(trade(trade_id));
        }
        report.record_derivatives([value(1), value(2), value(1)]);
        report.record_derivatives([value(2)]);
        assert_eq!(report.trades.len(), 1_000);
        assert_eq!(report.trades_dropped, 0);
        assert_eq!(
            report
                .derivatives
                .iter()
                .map(|v| v.time_ms)
                .collect::<Vec<_>>(),
            [1, 2]
        );
    }
}
