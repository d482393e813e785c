//! A batch: rows per table and the messages they came from.

use std::time::Duration;

use async_nats::jetstream::Message;
use marketprism_model::Event;
use tokio::time::Instant;

use crate::rows::{
    FundingRateRow, GapRow, LiquidationRow, LongShortRatioRow, OpenInterestRow, OrderBookDeltaRow,
    OrderBookRow, RowError, TradeRow, VolatilityIndexRow,
};
use crate::BatchConfig;

/// Rows waiting for one insert per table, and the messages to ack once they commit.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) trades: Vec<TradeRow>,
    pub(crate) orderbooks: Vec<OrderBookRow>,
    pub(crate) orderbook_deltas: Vec<OrderBookDeltaRow>,
    pub(crate) funding_rates: Vec<FundingRateRow>,
    pub(crate) open_interests: Vec<OpenInterestRow>,
    pub(crate) liquidations: Vec<LiquidationRow>,
    pub(crate) volatility_indices: Vec<VolatilityIndexRow>,
    pub(crate) long_short_ratios: Vec<LongShortRatioRow>,
    pub(crate) gaps: Vec<GapRow>,
    pub(crate) messages: Vec<Message>,
    /// When the collector received each message's event, Unix ms (same order as `messages`).
    pub(crate) received_ms: Vec<i64>,
    bytes: usize,
    opened_at: Option<Instant>,
}

impl Batch {
    /// Converts `event` into a row of its table.
    pub(crate) fn push(&mut self, event: &Event) -> Result<(), RowError> {
        fn row<'a, T, R>(rows: &mut Vec<R>, value: &'a T) -> Result<(), RowError>
        where
            R: TryFrom<&'a T, Error = RowError>,
        {
            rows.push(R::try_from(value)?);
            Ok(())
        }
        match event {
            Event::Trade(trade) => row(&mut self.trades, trade),
            Event::OrderBook(book) => row(&mut self.orderbooks, book),
            Event::OrderBookDelta(delta) => row(&mut self.orderbook_deltas, delta),
            Event::FundingRate(rate) => row(&mut self.funding_rates, rate),
            Event::OpenInterest(interest) => row(&mut self.open_interests, interest),
            Event::Liquidation(liquidation) => row(&mut self.liquidations, liquidation),
            Event::VolatilityIndex(index) => row(&mut self.volatility_indices, index),
            Event::LongShortRatio(ratio) => row(&mut self.long_short_ratios, ratio),
            Event::Gap(gap) => {
                self.gaps.push(GapRow::from(gap));
                Ok(())
            }
        }
    }

    /// Records that `message`, whose event the collector received at `received_ms`,
    /// contributed a row already pushed to a table vector.
    pub(crate) fn add(&mut self, message: Message, received_ms: i64) {
        self.bytes += message.payload.len();
        self.opened_at.get_or_insert_with(Instant::now);
        self.messages.push(message);
        self.received_ms.push(received_ms);
    }

    pub(crate) fn rows(&self) -> usize {
        self.table_rows().iter().map(|(_, rows)| rows).sum()
    }

    /// Rows per table, in insert order.
    pub(crate) fn table_rows(&self) -> [(&'static str, usize); 9] {
        [
            ("trades", self.trades.len()),
            ("orderbooks", self.orderbooks.len()),
            ("orderbook_deltas", self.orderbook_deltas.len()),
            ("funding_rates", self.funding_rates.len()),
            ("open_interests", self.open_interests.len()),
            ("liquidations", self.liquidations.len()),
            ("volatility_indices", self.volatility_indices.len()),
            ("long_short_ratios", self.long_short_ratios.len()),
            ("gaps", self.gaps.len()),
        ]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub(crate) fn is_full(&self, limits: &BatchConfig) -> bool {
        self.rows() >= limits.max_rows || self.bytes >= limits.max_bytes
    }

    /// When the batch must be flushed even if not full.
    pub(crate) fn deadline(&self, max_wait: Duration) -> Option<Instant> {
        self.opened_at.map(|opened| opened + max_wait)
    }
}
