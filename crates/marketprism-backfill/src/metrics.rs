//! Backfill metrics, exposed on `/metrics`: gaps by the status their fill gave them, trades
//! recovered, history pages fetched and the gaps being filled.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label naming a gap status (`filled`, `partial`, `unfillable`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub(crate) status: &'static str,
}

/// Counters the service updates.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    /// Gaps given a final status, by status.
    pub(crate) gaps: Family<StatusLabel, Counter>,
    /// Gap events that need no fill: book gaps and statuses already decided.
    pub(crate) gaps_skipped: Counter,
    /// Gaps being filled now.
    pub(crate) gaps_in_progress: Gauge,
    /// Trades recovered and published.
    pub(crate) trades_recovered: Counter,
    /// History pages fetched.
    pub(crate) pages: Counter,
    /// History requests answered with a rate limit.
    pub(crate) rate_limited: Counter,
    /// History requests that failed otherwise.
    pub(crate) request_failures: Counter,
    /// Gaps left for redelivery after their history stayed unavailable.
    pub(crate) gaps_retried: Counter,
    /// REST requests, weight spent, budget waits and rate-limit answers per venue.
    pub(crate) rest: marketprism_rest::RestMetrics,
}

impl Metrics {
    /// Registers every metric under the `marketprism_backfill` prefix.
    pub(crate) fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("marketprism_backfill");
        registry.register(
            "gaps",
            "Gaps given a final status by their fill, by status",
            self.gaps.clone(),
        );
        registry.register(
            "gaps_skipped",
            "Gap events that need no fill (book gaps, statuses already decided)",
            self.gaps_skipped.clone(),
        );
        registry.register(
            "gaps_in_progress",
            "Gaps being filled now",
            self.gaps_in_progress.clone(),
        );
        registry.register(
            "trades_recovered",
            "Trades recovered from venues' history and published",
            self.trades_recovered.clone(),
        );
        registry.register("history_pages", "History pages fetched", self.pages.clone());
        registry.register(
            "rate_limited",
            "History requests answered with a rate limit (429, 418)",
            self.rate_limited.clone(),
        );
        registry.register(
            "request_failures",
            "History requests that failed for another reason",
            self.request_failures.clone(),
        );
        registry.register(
            "gaps_retried",
            "Gaps left for redelivery because their venue's history stayed unavailable",
            self.gaps_retried.clone(),
        );
        self.rest.register(registry);
    }
}

/// The Prometheus text exposition of a fresh backfill registry: every metric the backfill
/// exports on `/metrics`, by name, type and help, at zero. Its labelled families (gaps per
/// status, REST counters per venue) hold one example series, since prometheus-client writes a
/// family only once it has one.
pub fn metrics_exposition() -> String {
    let mut registry = Registry::default();
    let metrics = Metrics::default();
    metrics
        .gaps
        .get_or_create(&StatusLabel { status: "filled" })
        .inc_by(0);
    metrics.rest.create_series("binance_spot", "weight");
    metrics.register(&mut registry);
    marketprism_telemetry::exposition(&registry)
}
