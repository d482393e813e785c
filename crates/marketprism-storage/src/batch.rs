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

/// The rows of every table, and of `received_ms`, at one moment of a batch.
pub(crate) struct Mark {
    tables: [usize; 9],
    received: usize,
}

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
    /// When the collector received each event of the batch, Unix ms.
    pub(crate) received_ms: Vec<i64>,
    bytes: usize,
    opened_at: Option<Instant>,
}

impl Batch {
    /// Converts `event` into a row of its table, noting when the collector received it.
    pub(crate) fn push(&mut self, event: &Event) -> Result<(), RowError> {
        fn row<'a, T, R>(rows: &mut Vec<R>, value: &'a T) -> Result<(), RowError>
        where
            R: TryFrom<&'a T, Error = RowError>,
        {
            rows.push(R::try_from(value)?);
            Ok(())
        }
        let pushed = match event {
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
        };
        pushed.map(|()| self.received_ms.push(event.received_time_ms()))
    }

    /// Records that `message` contributed rows already pushed to the tables.
    pub(crate) fn add(&mut self, message: Message) {
        self.bytes += message.payload.len();
        self.opened_at.get_or_insert_with(Instant::now);
        self.messages.push(message);
    }

    /// The rows so far, for [`truncate`](Self::truncate).
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            tables: self.table_rows().map(|(_, rows)| rows),
            received: self.received_ms.len(),
        }
    }

    /// Drops the rows pushed since `mark`.
    pub(crate) fn truncate(&mut self, mark: Mark) {
        self.received_ms.truncate(mark.received);
        // The order of `table_rows`.
        let [trades, orderbooks, orderbook_deltas, funding_rates, open_interests, liquidations, volatility_indices, long_short_ratios, gaps] =
            mark.tables;
        self.trades.truncate(trades);
        self.orderbooks.truncate(orderbooks);
        self.orderbook_deltas.truncate(orderbook_deltas);
        self.funding_rates.truncate(funding_rates);
        self.open_interests.truncate(open_interests);
        self.liquidations.truncate(liquidations);
        self.volatility_indices.truncate(volatility_indices);
        self.long_short_ratios.truncate(long_short_ratios);
        self.gaps.truncate(gaps);
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
