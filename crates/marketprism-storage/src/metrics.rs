//! Storage metrics, exposed on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label naming a ClickHouse table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct TableLabel {
    pub(crate) table: &'static str,
}

/// Counters the consumer updates.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) messages_received: Counter,
    pub(crate) messages_acked: Counter,
    pub(crate) rows_inserted: Family<TableLabel, Counter>,
    pub(crate) insert_failures: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) batch_rows: Gauge,
}

impl Metrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("marketprism_storage");
        registry.register(
            "messages_received",
            "Bus messages received",
            self.messages_received.clone(),
        );
        registry.register(
            "messages_acked",
            "Bus messages acked after their rows committed",
            self.messages_acked.clone(),
        );
        registry.register(
            "rows_inserted",
            "Rows committed to ClickHouse",
            self.rows_inserted.clone(),
        );
        registry.register(
            "insert_failures",
            "Batches whose insert failed and were redelivered",
            self.insert_failures.clone(),
        );
        registry.register(
            "dead_lettered",
            "Messages moved to the dead-letter stream",
            self.dead_lettered.clone(),
        );
        registry.register(
            "batch_rows",
            "Rows in the batch being filled",
            self.batch_rows.clone(),
        );
    }
}
