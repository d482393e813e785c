//! Collector metrics, exposed on `/metrics`, and the readiness they decide.
//!
//! The collector is ready while data flows through it: every venue connection subscribed (a
//! connection silent past `connection.watchdog` is replaced, and is not subscribed until its
//! replacement is), no publish waiting longer than `publish.ack_deadline` for its JetStream
//! ack, fewer than `publish.outstanding_acks_bound` publishes awaiting their acks, and NATS
//! not disconnected for longer than `publish.ack_deadline`, and nothing held in the spool.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::connection::State;
use marketprism_telemetry::{Dependency, Readiness};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often readiness is assessed.
const ASSESS_EVERY: Duration = Duration::from_millis(200);

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
    pub(crate) symbols_refused: Counter,
    pub(crate) gaps: Counter,
    pub(crate) book_desyncs: Counter,
    pub(crate) book_snapshots_requested: Counter,
    pub(crate) book_snapshot_retries: Counter,
    pub(crate) poll_failures: Counter,
    pub(crate) poll_rate_limited: Counter,
    pub(crate) connections_up: Gauge,
    /// Venue connections running, each of which must be subscribed for readiness.
    pub(crate) connections_planned: Gauge,
    /// REST requests, weight, budget waits and rate-limit pauses per venue.
    pub(crate) rest: marketprism_rest::RestMetrics,
    pub(crate) outstanding_acks: Gauge,
    pub(crate) spooled_messages: Gauge,
    pub(crate) spooled_bytes: Gauge,
    pub(crate) spool_dropped_messages: Counter,
    pub(crate) spool_dropped_events: Counter,
    pub(crate) republished_from_spool: Counter,
    /// How long the oldest publish awaiting its ack has waited, seconds (0 when none).
    pub(crate) oldest_ack_wait: Gauge<f64, AtomicU64>,
    /// When the oldest publish awaiting its ack was made; set by the publisher.
    oldest_unacked: Arc<Mutex<Option<Instant>>>,
}

impl Metrics {
    /// Records when the oldest publish awaiting its ack was made; `None` once every publish
    /// is acknowledged.
    pub(crate) fn set_oldest_unacked(&self, since: Option<Instant>) {
        *self
            .oldest_unacked
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = since;
    }

    /// How long the oldest publish awaiting its ack has waited.
    fn oldest_unacked_wait(&self) -> Option<Duration> {
        self.oldest_unacked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|since| since.elapsed())
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("marketprism_collector");
        self.rest.register(registry);
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
        registry.register(
            "symbols_refused",
            "Symbols a venue refused to subscribe, left out of their connection",
            self.symbols_refused.clone(),
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
            "book_snapshot_retries",
            "REST snapshots requested again, after a backoff delay, because the last one did not bridge the stream",
            self.book_snapshot_retries.clone(),
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
            "connections_planned",
            "Venue connections the collector runs within the venues' limits",
            self.connections_planned.clone(),
        );
        registry.register(
            "outstanding_acks",
            "Publishes awaiting their JetStream ack",
            self.outstanding_acks.clone(),
        );
        registry.register(
            "spooled_messages",
            "Messages in the spool, awaiting JetStream",
            self.spooled_messages.clone(),
        );
        registry.register(
            "spooled_bytes",
            "Bytes of the spool's segment files",
            self.spooled_bytes.clone(),
        );
        registry.register(
            "spool_dropped_messages",
            "Messages dropped because the spool was full (covered by spool_overflow gaps)",
            self.spool_dropped_messages.clone(),
        );
        registry.register(
            "spool_dropped_events",
            "Events dropped because the spool was full (covered by spool_overflow gaps)",
            self.spool_dropped_events.clone(),
        );
        registry.register(
            "republished_from_spool",
            "Messages acknowledged by JetStream after being held in the spool",
            self.republished_from_spool.clone(),
        );
        registry.register(
            "oldest_ack_wait_seconds",
            "How long the oldest publish awaiting its JetStream ack has waited (0 when none)",
            self.oldest_ack_wait.clone(),
        );
    }
}

/// The Prometheus text exposition of a fresh collector registry: every metric the collector
/// exports on `/metrics`, by name, type and help, at zero. Its labelled families (REST
/// counters per venue) hold one example series, since prometheus-client writes a family only
/// once it has one.
pub fn metrics_exposition() -> String {
    let mut registry = Registry::default();
    let metrics = Metrics::default();
    metrics.rest.create_series("binance_spot", "weight");
    metrics.register(&mut registry);
    marketprism_telemetry::exposition(&registry)
}

/// What the collector's readiness requires, from its configuration.
#[derive(Debug, Clone)]
pub(crate) struct ReadyRules {
    /// The watchdog that replaces a silent connection, named in the reason.
    pub(crate) watchdog: Duration,
    /// Longest wait for an ack, or disconnection from NATS.
    pub(crate) ack_deadline: Duration,
    /// Publishes awaiting their acks at which the collector is not ready.
    pub(crate) outstanding_acks_bound: usize,
    /// The spool's directory, if there is one: the collector is not ready while it holds
    /// messages.
    pub(crate) spool: Option<std::path::PathBuf>,
}

/// Keeps `readiness` (and the `nats` dependency) up to date until `stop` is cancelled, then
/// marks the collector not ready.
pub(crate) async fn watch_readiness(
    metrics: Metrics,
    client: async_nats::Client,
    rules: ReadyRules,
    readiness: Readiness,
    stop: CancellationToken,
) {
    let mut disconnected_since: Option<Instant> = None;
    loop {
        let state = client.connection_state();
        if state == State::Connected {
            disconnected_since = None;
        } else {
            disconnected_since.get_or_insert_with(Instant::now);
        }
        let disconnected_for = disconnected_since.map(|since| since.elapsed());
        let (verdict, nats) = metrics.assess(&rules, &state, disconnected_for);
        readiness.set_dependency("nats", nats);
        readiness.set(verdict);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(ASSESS_EVERY) => {}
        }
    }
    readiness.set(Err("shutting down".into()));
}

impl Metrics {
    /// Whether the collector is ready (else why not), and the state of NATS, given the
    /// client's connection `state` and how long it has not been connected.
    fn assess(
        &self,
        rules: &ReadyRules,
        state: &State,
        disconnected_for: Option<Duration>,
    ) -> (Result<(), String>, Dependency) {
        let oldest_wait = self.oldest_unacked_wait();
        self.oldest_ack_wait
            .set(oldest_wait.map_or(0.0, |wait| wait.as_secs_f64()));
        let outstanding = self.outstanding_acks.get();
        let late = oldest_wait.filter(|wait| *wait > rules.ack_deadline);
        let mut reasons = Vec::new();
        if let Some(wait) = late {
            reasons.push(format!(
                "the oldest unacknowledged publish has waited {:.1} s for JetStream \
                 (publish.ack_deadline {:?}); {outstanding} publishes unacknowledged",
                wait.as_secs_f64(),
                rules.ack_deadline
            ));
        }
        if let Some(down) = disconnected_for.filter(|down| *down > rules.ack_deadline) {
            reasons.push(format!(
                "NATS has been disconnected for {:.1} s (publish.ack_deadline {:?})",
                down.as_secs_f64(),
                rules.ack_deadline
            ));
        }
        if outstanding >= rules.outstanding_acks_bound as i64 {
            reasons.push(format!(
                "{outstanding} publishes unacknowledged, at publish.outstanding_acks_bound ({})",
                rules.outstanding_acks_bound
            ));
        }
        let spooled = self.spooled_messages.get();
        if spooled > 0 {
            let path = rules
                .spool
                .as_ref()
                .map_or_else(String::new, |path| format!(" at {}", path.display()));
            reasons.push(format!(
                "the spool{path} holds {spooled} messages ({} bytes) that JetStream has not \
                 acknowledged yet",
                self.spooled_bytes.get()
            ));
        }
        let up = self.connections_up.get();
        let planned = self.connections_planned.get();
        if up < planned {
            reasons.push(format!(
                "{up} of {planned} venue connections subscribed; the others are connecting, or \
                 were replaced after a silence past connection.watchdog ({:?})",
                rules.watchdog
            ));
        }
        let nats = match (state, late) {
            (State::Connected, None) => Dependency::up(format!(
                "connected; {outstanding} publishes awaiting their ack"
            )),
            (State::Connected, Some(wait)) => Dependency::down(format!(
                "connected, but a publish has waited {:.1} s for its ack",
                wait.as_secs_f64()
            )),
            (state, _) => Dependency::down(format!(
                "{state} for {:.1} s",
                disconnected_for.unwrap_or_default().as_secs_f64()
            )),
        };
        let verdict = if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        };
        (verdict, nats)
    }
}
