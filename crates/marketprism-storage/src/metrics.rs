//! Storage metrics, exposed on `/metrics`, and the readiness that follows the writer's
//! progress.
//!
//! Storage is ready while what the consumer delivers gets committed: it is not ready once
//! messages have been pending (held by the writer, or waiting in the durable consumer) for
//! `consumer.commit_deadline` without a commit, or NATS has not answered for as long.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use marketprism_telemetry::disk::{check_all, DiskWatch};
use marketprism_telemetry::{Dependency, Readiness};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often readiness is assessed.
const ASSESS_EVERY: Duration = Duration::from_secs(1);

/// Longest wait for the consumer's state from NATS.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// What the writer holds and how its inserts went, for readiness.
    pub(crate) progress: Progress,
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
            progress: Progress::default(),
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

/// The Prometheus text exposition of a fresh storage registry: every metric storage exports
/// on `/metrics`, by name, type and help, at zero. Its labelled family (rows per table) holds
/// one example series, since prometheus-client writes a family only once it has one.
pub fn metrics_exposition() -> String {
    let mut registry = Registry::default();
    let metrics = Metrics::default();
    metrics
        .rows_inserted
        .get_or_create(&TableLabel { table: "trades" })
        .inc_by(0);
    metrics.register(&mut registry);
    marketprism_telemetry::exposition(&registry)
}

/// The writer's progress: since when messages wait for a commit, the last commit, and the
/// last insert failure.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress(Arc<Mutex<ProgressState>>);

/// A copy of [`Progress`] at one moment.
#[derive(Debug, Clone, Default)]
struct ProgressState {
    /// Since when the writer's messages have waited for a commit (a commit restarts it);
    /// `None` while it holds none.
    waiting_since: Option<Instant>,
    /// When rows last committed.
    last_commit: Option<Instant>,
    /// Why the last insert failed; cleared by a commit.
    last_failure: Option<String>,
}

impl Progress {
    fn state(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer holds messages: they wait from now, unless others already did.
    pub(crate) fn holding(&self) {
        self.state().waiting_since.get_or_insert_with(Instant::now);
    }

    /// Rows committed; whatever the writer still holds waits from now.
    pub(crate) fn committed(&self) {
        let now = Instant::now();
        let mut state = self.state();
        state.last_commit = Some(now);
        state.last_failure = None;
        if state.waiting_since.is_some() {
            state.waiting_since = Some(now);
        }
    }

    /// An insert failed.
    pub(crate) fn failed(&self, failure: String) {
        self.state().last_failure = Some(failure);
    }

    /// The writer settled every message it held (committed, dead-lettered or nak'd).
    pub(crate) fn settled(&self) {
        self.state().waiting_since = None;
    }

    fn snapshot(&self) -> ProgressState {
        self.state().clone()
    }
}

/// What storage's readiness requires, and where to ask NATS.
pub(crate) struct ReadyWatch {
    /// The durable consumer, asked for its pending messages.
    pub(crate) consumer: PullConsumer,
    /// The NATS client, for its connection state.
    pub(crate) client: async_nats::Client,
    /// Longest time messages may be pending without a commit.
    pub(crate) commit_deadline: Duration,
    /// Directories whose free space must stay above their thresholds.
    pub(crate) disks: Vec<DiskWatch>,
}

/// What was last learned from NATS about the consumer.
struct ConsumerState {
    /// Messages not yet delivered plus those delivered and not acked, when NATS last answered.
    pending: u64,
    /// When NATS last answered.
    answered_at: Instant,
}

/// Keeps `readiness` (and the `nats` and `clickhouse` dependencies) up to date until `stop`
/// is cancelled, then marks storage not ready.
pub(crate) async fn watch_readiness(
    watch: ReadyWatch,
    progress: Progress,
    readiness: Readiness,
    stop: CancellationToken,
) {
    let mut consumer = ConsumerState {
        pending: 0,
        answered_at: Instant::now(),
    };
    let mut pending_since: Option<Instant> = None;
    loop {
        let asked = tokio::select! {
            () = stop.cancelled() => break,
            asked = tokio::time::timeout(ASK_TIMEOUT, watch.consumer.get_info()) => asked,
        };
        let nats = match asked {
            Ok(Ok(info)) => {
                consumer = ConsumerState {
                    pending: info.num_pending + info.num_ack_pending as u64,
                    answered_at: Instant::now(),
                };
                Dependency::up(format!(
                    "{}; consumer {}: {} messages not yet delivered, {} awaiting their ack",
                    watch.client.connection_state(),
                    info.name,
                    info.num_pending,
                    info.num_ack_pending
                ))
            }
            Ok(Err(error)) => Dependency::down(format!(
                "{}; the consumer's state: {error}",
                watch.client.connection_state()
            )),
            Err(_) => Dependency::down(format!(
                "{}; the consumer's state not answered within {ASK_TIMEOUT:?}",
                watch.client.connection_state()
            )),
        };
        readiness.set_dependency("nats", nats);
        let progress = progress.snapshot();
        let pending = progress.waiting_since.is_some() || consumer.pending > 0;
        if pending {
            pending_since.get_or_insert_with(Instant::now);
        } else {
            pending_since = None;
        }
        let (verdict, clickhouse) =
            assess(&progress, pending_since, &consumer, watch.commit_deadline);
        readiness.set_dependency("clickhouse", clickhouse);
        // A disk short of space comes first: it explains the stalls that follow.
        let disks = check_all(&watch.disks);
        if let Err(reason) = &disks {
            if readiness.reason().as_ref() != Some(reason) {
                tracing::warn!(%reason, "Disk space is low; storage is not ready.");
            }
        }
        readiness.set(disks.and(verdict));
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(ASSESS_EVERY) => {}
        }
    }
    readiness.set(Err("shutting down".into()));
}

/// Whether storage is ready (else why not) and the state of ClickHouse, given the writer's
/// progress, since when messages have been pending, and what NATS last said.
fn assess(
    progress: &ProgressState,
    pending_since: Option<Instant>,
    consumer: &ConsumerState,
    deadline: Duration,
) -> (Result<(), String>, Dependency) {
    let seconds = |since: Instant| since.elapsed().as_secs_f64();
    let unanswered = progress
        .waiting_since
        .filter(|since| since.elapsed() > deadline);
    let clickhouse = match (&progress.last_failure, unanswered, progress.last_commit) {
        (Some(failure), _, _) => Dependency::down(format!("the last insert failed: {failure}")),
        (None, Some(since), _) => {
            Dependency::down(format!("no insert committed for {:.1} s", seconds(since)))
        }
        (None, None, Some(commit)) => {
            Dependency::up(format!("last commit {:.1} s ago", seconds(commit)))
        }
        (None, None, None) => Dependency::unknown("nothing inserted yet"),
    };
    let mut reasons = Vec::new();
    // Stalled since messages became pending, or since the last commit after that.
    let stalled_since = pending_since.map(|since| {
        progress
            .last_commit
            .map_or(since, |commit| commit.max(since))
    });
    if let Some(since) = stalled_since.filter(|since| since.elapsed() > deadline) {
        let cause = match (&progress.last_failure, progress.waiting_since) {
            (Some(failure), _) => format!("ClickHouse: the last insert failed: {failure}"),
            (None, Some(waiting)) => format!(
                "ClickHouse has not answered the insert for {:.1} s",
                seconds(waiting)
            ),
            (None, None) => "no message received from JetStream".to_owned(),
        };
        reasons.push(format!(
            "no commit for {:.1} s while {} messages are pending (consumer.commit_deadline \
             {deadline:?}); {cause}",
            seconds(since),
            consumer.pending
        ));
    }
    if consumer.answered_at.elapsed() > deadline {
        reasons.push(format!(
            "NATS has not answered for {:.1} s (consumer.commit_deadline {deadline:?})",
            seconds(consumer.answered_at)
        ));
    }
    let verdict = if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons.join("; "))
    };
    (verdict, clickhouse)
}
