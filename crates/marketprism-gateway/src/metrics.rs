//! Gateway metrics, exposed on `/metrics` under `marketprism_gateway_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of an answered request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The endpoint, e.g. `/v1/replay`.
    pub endpoint: &'static str,
    /// The HTTP status answered.
    pub status: u16,
}

/// Counters the API updates.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Requests answered, by endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Data rows replayed.
    pub replay_rows: Counter,
    /// Gap rows written among replayed rows.
    pub replay_gaps: Counter,
    /// Replays that ended early on an error after their answer started.
    pub replay_failures: Counter,
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("marketprism_gateway");
        registry.register(
            "requests",
            "API requests answered, by endpoint and status",
            self.requests.clone(),
        );
        registry.register(
            "replay_rows",
            "Data rows replayed",
            self.replay_rows.clone(),
        );
        registry.register(
            "replay_gaps",
            "Gap rows written among replayed rows",
            self.replay_gaps.clone(),
        );
        registry.register(
            "replay_failures",
            "Replays that ended early on an error after their answer started",
            self.replay_failures.clone(),
        );
    }
}
