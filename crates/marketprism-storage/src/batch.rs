//! A batch: rows per table and the messages they came from.

use std::time::Duration;

use async_nats::jetstream::Message;
use marketprism_model::Event;
use tokio::time::Instant;

use crate::rows::RowError;
use crate::tables::{registered, PendingRows};
use crate::BatchConfig;

/// The rows of every table, and of `received_ms`, at one moment of a batch.
pub(crate) struct Mark {
    tables: Vec<usize>,
    received: usize,
}

/// Rows waiting for one insert per table, and the messages to ack once they commit.
pub(crate) struct Batch {
    /// The rows of each registered table, in insert order.
    tables: Vec<Box<dyn PendingRows>>,
    pub(crate) messages: Vec<Message>,
    /// When the collector received each event of the batch, Unix ms.
    pub(crate) received_ms: Vec<i64>,
    bytes: usize,
    opened_at: Option<Instant>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            tables: registered().iter().map(|table| table.pending()).collect(),
            messages: Vec::new(),
            received_ms: Vec::new(),
            bytes: 0,
            opened_at: None,
        }
    }
}

impl Batch {
    /// Converts `event` into a row of its table, noting when the collector received it.
    pub(crate) fn push(&mut self, event: &Event) -> Result<(), RowError> {
        let data_type = event.data_type();
        let table = self
            .tables
            .iter_mut()
            .find(|table| table.data_type() == data_type)
            .ok_or(RowError::OtherTable {
                table: "(none)",
                data_type: data_type.as_str(),
            })?;
        table.push(event)?;
        self.received_ms.push(event.received_time_ms());
        Ok(())
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
            tables: self.tables.iter().map(|table| table.len()).collect(),
            received: self.received_ms.len(),
        }
    }

    /// Drops the rows pushed since `mark`.
    pub(crate) fn truncate(&mut self, mark: Mark) {
        self.received_ms.truncate(mark.received);
        for (table, rows) in self.tables.iter_mut().zip(mark.tables) {
            table.truncate(rows);
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.tables.iter().map(|table| table.len()).sum()
    }

    /// The rows of each table, in insert order.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &dyn PendingRows> {
        self.tables.iter().map(AsRef::as_ref)
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
