//! Collector metrics, exposed on `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters shared by connections and the publisher.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metrics {
    pub(crate) frames_received: Counter,
    pub(crate) frames_ignored: Counter,
    pub(crate) events_unsubscribed: Counter,
    pub(crate) parse_errors: Counter,
    pub(crate) events_published: Counter,
    pub(crate) messages_published: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) publish_retries: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) reconnects: Counter,
    pub(crate) gaps: Counter,
    pub(crate) book_desyncs: Counter,
    pub(crate) book_snapshots_requested: Counter,
    pub(crate) poll_failures: Counter,
    pub(crate) poll_rate_limited: Counter,
    pub(crate) connections_up: Gauge,
    pub(crate) outstanding_acks: Gauge,
}

impl Metrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("marketprism_collector");
        registry.register(
            "frames_received",
            "WebSocket text frames received",
            self.frames_received.clone(),
        );
        registry.register(
            "frames_ignored",
            "Documented frames of channels not recorded",
            self.frames_ignored.clone(),
        );
        registry.register(
            "events_unsubscribed",
            "Events of market-wide channels for symbols not subscribed (dropped)",
            self.events_unsubscribed.clone(),
        );
        registry.register(
            "parse_errors",
            "Frames that could not be parsed (dead-lettered)",
            self.parse_errors.clone(),
        );
        registry.register(
            "events_published",
            "Events acknowledged by JetStream",
            self.events_published.clone(),
        );
        registry.register(
            "messages_published",
            "Messages acknowledged by JetStream, each carrying one or more events",
            self.messages_published.clone(),
        );
        registry.register(
            "duplicates",
            "Publishes JetStream reported as duplicates",
            self.duplicates.clone(),
        );
        registry.register(
            "publish_retries",
            "Publishes repeated after a failed ack",
            self.publish_retries.clone(),
        );
        registry.register(
            "dead_lettered",
            "Frames stored on the dead-letter stream",
            self.dead_lettered.clone(),
        );
        registry.register(
            "reconnects",
            "Connections lost and re-established",
            self.reconnects.clone(),
        );
        registry.register("gaps", "Gap events emitted", self.gaps.clone());
        registry.register(
            "book_desyncs",
            "Order books found out of sync (sequence break, checksum, crossed)",
            self.book_desyncs.clone(),
        );
        registry.register(
            "book_snapshots_requested",
            "Order-book snapshots requested (REST fetches and resubscriptions)",
            self.book_snapshots_requested.clone(),
        );
        registry.register(
            "poll_failures",
            "REST polls that failed or returned an answer not understood",
            self.poll_failures.clone(),
        );
        registry.register(
            "poll_rate_limited",
            "REST polls answered with 429 or 418 (the series then waits Retry-After)",
            self.poll_rate_limited.clone(),
        );
        registry.register(
            "connections_up",
            "Connections currently subscribed",
            self.connections_up.clone(),
        );
        registry.register(
            "outstanding_acks",
            "Publishes awaiting their JetStream ack",
            self.outstanding_acks.clone(),
        );
    }
}
