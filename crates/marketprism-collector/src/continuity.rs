//! Trade continuity. Where a venue numbers an instrument's trades without holes (Binance trade
//! and aggregate ids, Deribit `trade_seq`), a jump in that counter is a `trade_id_gap` naming
//! the ids that never arrived, whatever the cause: a reconnect, a venue that dropped messages,
//! or a frame lost on the way.

use std::collections::HashMap;

use marketprism_model::{Gap, GapReason, GapState, IdRange, Symbol, Trade};
use serde::{Deserialize, Serialize};

/// The last counter seen per trade stream: an instrument's single trades and its aggregates
/// are numbered apart.
#[derive(Debug, Default)]
pub(crate) struct TradeContinuity {
    last: HashMap<Symbol, Streams>,
}

/// The last trade seen of an instrument's single (`[0]`) and aggregated (`[1]`) trades.
pub(crate) type Streams = [Option<Seen>; 2];

/// A trade counter and the venue time of its trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seen {
    /// The venue's trade counter.
    pub(crate) sequence: u64,
    /// The trade's venue time, Unix milliseconds.
    pub(crate) exchange_time_ms: i64,
}

impl TradeContinuity {
    /// The last counters seen of `symbol`'s trade streams.
    pub(crate) fn streams(&self, symbol: &Symbol) -> Streams {
        self.last.get(symbol).copied().unwrap_or_default()
    }

    /// Continues `symbol`'s counters from `streams`, as a previous process left them.
    pub(crate) fn restore(&mut self, symbol: Symbol, streams: Streams) {
        self.last.insert(symbol, streams);
    }

    /// Forgets `symbol`'s counters: the connection no longer carries it.
    pub(crate) fn forget(&mut self, symbol: &Symbol) {
        self.last.remove(symbol);
    }

    /// Notes `trade` and returns the gap before it when its counter skipped ids. A counter
    /// seen before, or older than the last, is not a gap: venues resend recent trades after
    /// a resubscribe.
    pub(crate) fn observe(&mut self, trade: &Trade) -> Option<Gap> {
        let sequence = trade.sequence?;
        let now = Seen {
            sequence,
            exchange_time_ms: trade.exchange_time_ms,
        };
        let streams = match self.last.get_mut(&trade.symbol) {
            Some(streams) => streams,
            None => self.last.entry(trade.symbol.clone()).or_default(),
        };
        let slot = &mut streams[usize::from(trade.aggregated)];
        let Some(last) = *slot else {
            *slot = Some(now);
            return None;
        };
        if sequence <= last.sequence {
            return None;
        }
        *slot = Some(now);
        (sequence > last.sequence + 1).then(|| Gap {
            exchange: trade.exchange,
            market_type: trade.market_type,
            symbol: trade.symbol.clone(),
            from_ms: last.exchange_time_ms,
            to_ms: trade.exchange_time_ms,
            reason: GapReason::TradeIdGap,
            received_time_ms: trade.received_time_ms,
            missing_ids: Some(IdRange {
                first: last.sequence + 1,
                last: sequence - 1,
                aggregated: trade.aggregated,
            }),
            state: GapState::default(),
            collector: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use marketprism_model::{Exchange, MarketType, Side};

    use marketprism_model::TradeSource;

    use super::*;

    fn trade(symbol: &str, aggregated: bool, sequence: Option<u64>, time_ms: i64) -> Trade {
        Trade {
            exchange: Exchange::Binance,
            market_type: MarketType::Spot,
            symbol: symbol.parse().expect("valid"),
            trade_id: sequence.unwrap_or_default().to_string().into(),
            aggregated,
            price: "100".parse().expect("valid"),
            quantity: "1".parse().expect("valid"),
            side: Side::Buy,
            exchange_time_ms: time_ms,
            received_time_ms: time_ms + 5,
            sequence,
            source: TradeSource::Ws,
        }
    }

    #[test]
    fn a_jump_names_the_missing_ids_and_the_times_around_them() {
        let mut continuity = TradeContinuity::default();
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(10), 1_000)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(11), 1_001)),
            None
        );
        let gap = continuity
            .observe(&trade("BTC-USDT", false, Some(15), 1_009))
            .expect("ids 12 to 14 are missing");
        assert_eq!(gap.reason, GapReason::TradeIdGap);
        assert_eq!(
            gap.missing_ids,
            Some(IdRange {
                first: 12,
                last: 14,
                aggregated: false,
            })
        );
        assert_eq!((gap.from_ms, gap.to_ms), (1_001, 1_009));
        assert_eq!(gap.received_time_ms, 1_014);
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(16), 1_010)),
            None
        );
    }

    #[test]
    fn repeats_and_late_trades_are_not_gaps() {
        let mut continuity = TradeContinuity::default();
        continuity.observe(&trade("BTC-USDT", false, Some(10), 1_000));
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(10), 1_000)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(8), 990)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(11), 1_001)),
            None
        );
    }

    #[test]
    fn streams_are_counted_apart_and_unnumbered_trades_ignored() {
        let mut continuity = TradeContinuity::default();
        continuity.observe(&trade("BTC-USDT", false, Some(10), 1_000));
        // Aggregates and another instrument have counters of their own.
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", true, Some(500), 1_000)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("ETH-USDT", false, Some(90), 1_000)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", true, Some(501), 1_001)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, None, 1_002)),
            None
        );
        assert_eq!(
            continuity.observe(&trade("BTC-USDT", false, Some(11), 1_003)),
            None
        );
    }
}
