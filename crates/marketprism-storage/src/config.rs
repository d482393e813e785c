//! Storage configuration, one TOML file.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ClickHouseConfig;

/// The storage service's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS and stream settings.
    #[serde(default)]
    pub nats: marketprism_bus::Config,
    /// ClickHouse settings.
    #[serde(default)]
    pub clickhouse: ClickHouseConfig,
    /// The durable consumer.
    #[serde(default)]
    pub consumer: ConsumerConfig,
    /// When a batch is flushed.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Address of `/health`, `/ready` and `/metrics`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Hot → cold archiving (`marketprism archive`); absent when there is no cold tier.
    #[serde(default)]
    pub archive: Option<ArchiveConfig>,
    /// Directories on this machine whose free space storage watches (the JetStream store,
    /// ClickHouse's data): below a watch's `min_free` storage reports not ready, before the
    /// server wedges or refuses inserts.
    #[serde(default, rename = "disk", skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<marketprism_telemetry::disk::DiskWatch>,
}

fn default_window() -> Duration {
    Duration::from_secs(3600)
}

fn default_grace() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_interval() -> Duration {
    Duration::from_secs(5 * 60)
}

/// Hot → cold archiving. The hot tier is `[clickhouse]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveConfig {
    /// The cold tier: another database, possibly on another server.
    pub cold: ClickHouseConfig,
    /// Width of an archived window, e.g. `1h`.
    #[serde(default = "default_window", with = "humantime_serde")]
    pub window: Duration,
    /// A window is closed, and archived, once its end is this far in the past, e.g. `10m`;
    /// it must cover the pipeline's delivery delay.
    #[serde(default = "default_grace", with = "humantime_serde")]
    pub grace: Duration,
    /// Pause between runs of `marketprism archive --watch`, e.g. `5m`.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// Delete archived rows older than this from the hot tier, e.g. `7d`; keep them when absent.
    #[serde(default, with = "humantime_serde")]
    pub hot_retention: Option<Duration>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9102))
}

impl Config {
    /// Cross-field checks that serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch.max_rows == 0 {
            return Err("batch.max_rows must be at least 1".into());
        }
        if self.consumer.max_ack_pending < self.batch.max_rows as i64 {
            return Err(format!(
                "consumer.max_ack_pending ({}) must be at least batch.max_rows ({}), or batches never fill",
                self.consumer.max_ack_pending, self.batch.max_rows
            ));
        }
        if let Some(archive) = &self.archive {
            if archive.window.as_millis() == 0 {
                return Err("archive.window must be positive".into());
            }
            if archive.cold.url == self.clickhouse.url
                && archive.cold.database == self.clickhouse.database
            {
                return Err(
                    "archive.cold must differ from [clickhouse] (another database or server)"
                        .into(),
                );
            }
        }
        self.nats.validate()?;
        self.clickhouse.validate("clickhouse")?;
        if let Some(archive) = &self.archive {
            archive.cold.validate("archive.cold")?;
        }
        marketprism_bus::check_endpoint(
            "clickhouse.url",
            &self.clickhouse.url,
            &["http", "https"],
        )?;
        if let Some(archive) = &self.archive {
            marketprism_bus::check_endpoint(
                "archive.cold.url",
                &archive.cold.url,
                &["http", "https"],
            )?;
        }
        if self.consumer.ack_wait <= self.batch.max_wait {
            return Err("consumer.ack_wait must exceed batch.max_wait, or batches are redelivered before they are written".into());
        }
        if self.consumer.commit_deadline <= self.batch.max_wait {
            return Err("consumer.commit_deadline must exceed batch.max_wait, or a batch waiting to fill counts as stalled".into());
        }
        Ok(())
    }
}

fn default_durable_name() -> String {
    "marketprism-storage".to_owned()
}

/// Batches being written are kept in progress (see `storage::writer`), so the wait only
/// bounds how long the messages of a consumer that died stay unavailable to the next.
fn default_ack_wait() -> Duration {
    Duration::from_secs(30)
}

/// Twice `batch.max_rows`, so that messages keep arriving while a full batch is written.
fn default_max_ack_pending() -> i64 {
    100_000
}

fn default_retry_delay() -> Duration {
    Duration::from_secs(1)
}

/// A recovered server waits at most this long for the next attempt.
fn default_max_retry_delay() -> Duration {
    Duration::from_secs(5)
}

/// A batch commits within a second normally; a hung ClickHouse answers no insert for the
/// request timeout (30 s) before it is retried.
fn default_commit_deadline() -> Duration {
    Duration::from_secs(30)
}

/// The JetStream durable consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Durable name; instances sharing it share the work.
    #[serde(default = "default_durable_name")]
    pub durable_name: String,
    /// How long JetStream waits for an ack before redelivering, e.g. `30s`. Messages of a
    /// batch being written or retried are kept in progress every third of it.
    #[serde(default = "default_ack_wait", with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Most messages delivered but not yet acked.
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: i64,
    /// Delay before retrying a failed insert, e.g. `1s`; doubles per failure (with jitter).
    #[serde(default = "default_retry_delay", with = "humantime_serde")]
    pub retry_delay: Duration,
    /// Cap of the retry delay, e.g. `5s`: how long at most a recovered server waits.
    #[serde(default = "default_max_retry_delay", with = "humantime_serde")]
    pub max_retry_delay: Duration,
    /// Readiness: storage is not ready once the consumer has had messages pending this long
    /// without a commit (or NATS has not answered this long), e.g. `30s`.
    #[serde(default = "default_commit_deadline", with = "humantime_serde")]
    pub commit_deadline: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            durable_name: default_durable_name(),
            ack_wait: default_ack_wait(),
            max_ack_pending: default_max_ack_pending(),
            retry_delay: default_retry_delay(),
            max_retry_delay: default_max_retry_delay(),
            commit_deadline: default_commit_deadline(),
        }
    }
}

/// ClickHouse's cost is mostly per insert (each writes a part, and parts are merged later):
/// measured at 100,000 events/s on two cores, 50,000-row inserts took its CPU from 55 % to
/// 12 % of a core compared with 10,000-row inserts.
fn default_max_rows() -> usize {
    50_000
}

fn default_max_bytes() -> usize {
    16 * 1024 * 1024
}

/// Keeps a committed row within a second of its receipt at moderate rates.
fn default_max_wait() -> Duration {
    Duration::from_millis(500)
}

/// Flush thresholds; whichever is reached first flushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Rows per batch, all tables together.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Payload bytes per batch.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// Longest time the first message of a batch waits, e.g. `500ms`.
    #[serde(default = "default_max_wait", with = "humantime_serde")]
    pub max_wait: Duration,
}

impl BatchConfig {
    /// Messages asked of JetStream per pull: a batch's rows, at most 10,000 at once.
    pub fn messages_per_pull(&self) -> usize {
        self.max_rows.min(10_000)
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_rows: default_max_rows(),
            max_bytes: default_max_bytes(),
            max_wait: default_max_wait(),
        }
    }
}
