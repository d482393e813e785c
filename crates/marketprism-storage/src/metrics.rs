//! Storage metrics, exposed on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Label naming a ClickHouse table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct TableLabel {
    pub(crate) table: &'static str,
}

/// Upper bounds (seconds) of the commit-latency buckets: 1 ms to 30 s, every 100 ms up to a
/// second, where batches normally commit, so that quantiles interpolated inside a bucket stay
/// close to the truth.
const LATENCY_BUCKETS: [f64; 22] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5,
    2.0, 5.0, 10.0, 20.0, 30.0,
];

/// Counters the consumer updates.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub(crate) messages_received: Counter,
    pub(crate) messages_acked: Counter,
    pub(crate) rows_inserted: Family<TableLabel, Counter>,
    pub(crate) insert_failures: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) batch_rows: Gauge,
    /// From the collector receiving an event to its row committing, seconds.
    pub(crate) commit_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            messages_received: Counter::default(),
            messages_acked: Counter::default(),
            rows_inserted: Family::default(),
            insert_failures: Counter::default(),
            dead_lettered: Counter::default(),
            batch_rows: Gauge::default(),
            commit_latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
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
            "Messages, or events of a message, moved to the dead-letter stream",
            self.dead_lettered.clone(),
        );
        registry.register(
            "batch_rows",
            "Rows in the batch being filled",
            self.batch_rows.clone(),
        );
        registry.register(
            "commit_latency_seconds",
            "Time from the collector receiving an event to its row committing in ClickHouse",
            self.commit_latency.clone(),
        );
    }
}
