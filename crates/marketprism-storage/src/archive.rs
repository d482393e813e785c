//! `marketprism archive`: copies closed time windows from the hot tier to the cold tier.
//!
//! For each table, windows of `archive.window` are copied in order, from the cold tier's
//! watermark (or the oldest hot row) up to the last window that ended more than
//! `archive.grace` ago. A window's rows are streamed from hot (`FINAL`) into cold, then both
//! sides are counted; only when the counts agree is the window recorded in the cold tier's
//! `archive_windows` table, which is the watermark. Re-running is safe: a window copied twice
//! collapses in the cold `ReplacingMergeTree`, and recorded windows are not copied again.
//! With `hot_retention`, hot rows older than the retention *and* already archived are
//! deleted, except from tables of latest states (`instruments`): an instrument's current row
//! is as old as its last change, and stays in hot however old.
//!
//! Either tier may be a cluster (`cluster` set). Hot rows are read through the `Distributed`
//! tables, where `FINAL` is exact since a key lives on one shard, and pruned from the
//! replicated local tables `ON CLUSTER` (a `Distributed` table cannot delete). Cold rows are
//! written through the cold `Distributed` tables like storage's; the watermark table is then
//! a plain table on the node at `archive.cold.url`.

use marketprism_model::now_ms;

use clickhouse::{Client, Row};
use marketprism_schema::{Cluster, Dialect, Keep};
use serde::{Deserialize, Serialize};

use crate::migrate::{migrate, MigrateError};
use crate::tables::{registered, StoredRow};
use crate::{ArchiveConfig, ClickHouseConfig};

/// The cold-tier table recording archived windows.
pub const WINDOWS_TABLE: &str = "archive_windows";

/// Archiving failed; nothing past the last verified window was recorded.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Client construction failed.
    #[error(transparent)]
    Config(#[from] std::io::Error),
    /// Creating the cold schema failed.
    #[error("preparing the cold tier: {0}")]
    Migrate(#[from] MigrateError),
    /// A query failed.
    #[error("{step}: {source}")]
    ClickHouse {
        /// What was being done.
        step: String,
        /// The client's error.
        source: clickhouse::error::Error,
    },
    /// The copy of a window does not hold the same number of rows as the original.
    #[error("{table} window [{start_ms}, {end_ms}): hot has {hot} rows, cold {cold}; the window stays unarchived")]
    CountMismatch {
        /// The table.
        table: &'static str,
        /// Window start, Unix ms.
        start_ms: i64,
        /// Window end, Unix ms.
        end_ms: i64,
        /// Rows in hot.
        hot: u64,
        /// Rows in cold.
        cold: u64,
    },
}

fn step_error(step: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> ArchiveError {
    let step = step.into();
    move |source| ArchiveError::ClickHouse { step, source }
}

/// What one run did for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The table.
    pub table: &'static str,
    /// Windows archived by this run.
    pub windows: u64,
    /// Rows copied by this run.
    pub rows: u64,
    /// End of the last archived window (the watermark), Unix ms, if any.
    pub watermark_ms: Option<i64>,
    /// Whether hot rows past retention were scheduled for deletion.
    pub pruned: bool,
}

#[derive(Debug, Row, Serialize, Deserialize)]
struct WindowRow {
    table: String,
    window_start: i64,
    window_end: i64,
    rows: u64,
    archived_at: u32,
}

#[derive(Debug, Row, Deserialize)]
struct Extent {
    rows: u64,
    last: i64,
}

/// Archives every table once.
pub async fn archive(
    hot: &ClickHouseConfig,
    config: &ArchiveConfig,
) -> Result<Vec<TableReport>, ArchiveError> {
    migrate(&config.cold).await?;
    let hot_cluster = hot.cluster().map_err(MigrateError::from)?;
    let hot_client = hot.database_client()?;
    let cold_client = config.cold.database_client()?;
    cold_client
        .query(&format!(
            "CREATE TABLE IF NOT EXISTS {WINDOWS_TABLE} \
             (table String, window_start Int64, window_end Int64, rows UInt64, archived_at DateTime) \
             ENGINE = ReplacingMergeTree() ORDER BY (table, window_start)"
        ))
        .execute()
        .await
        .map_err(step_error(format!("creating {WINDOWS_TABLE}")))?;
    let hot_dialect = dialect(&hot_client).await?;
    let cold_dialect = dialect(&cold_client).await?;
    let tiers = Tiers {
        hot: &hot_client,
        cold: &cold_client,
        hot_dialect,
        cold_dialect,
        hot_cluster,
        config,
    };
    let tables = registered();
    let mut reports = Vec::with_capacity(tables.len());
    for table in tables {
        reports.push(table.archive(&tiers).await?);
    }
    Ok(reports)
}

async fn dialect(client: &Client) -> Result<Dialect, ArchiveError> {
    let version: String = client
        .query("SELECT version()")
        .fetch_one()
        .await
        .map_err(step_error("reading the server version"))?;
    Dialect::for_version(&version)
        .map_err(|error| ArchiveError::Migrate(MigrateError::Version(error)))
}

/// The hot and cold tiers of one archive run.
pub(crate) struct Tiers<'a> {
    hot: &'a Client,
    cold: &'a Client,
    hot_dialect: Dialect,
    cold_dialect: Dialect,
    /// The hot tier's cluster, where rows are deleted from the local tables.
    hot_cluster: Option<Cluster>,
    config: &'a ArchiveConfig,
}

/// Copies the closed windows of `R`'s table from hot to cold, in order from the watermark,
/// then prunes archived hot rows past the retention.
pub(crate) async fn archive_table<R: StoredRow>(
    tiers: &Tiers<'_>,
) -> Result<TableReport, ArchiveError> {
    tiers
        .archive_table::<R>(R::TABLE.name, R::TABLE.partition_time)
        .await
}

impl Tiers<'_> {
    async fn archive_table<T: StoredRow>(
        &self,
        table: &'static str,
        time_column: &str,
    ) -> Result<TableReport, ArchiveError> {
        let window = self.config.window.as_millis() as i64;
        let recorded: Extent = self
            .cold
            .query(&format!("SELECT count() AS rows, max(window_end) AS last FROM {WINDOWS_TABLE} FINAL WHERE table = ?"))
            .bind(table)
            .fetch_one()
            .await
            .map_err(step_error(format!("reading the {table} watermark")))?;
        let mut report = TableReport {
            table,
            windows: 0,
            rows: 0,
            watermark_ms: (recorded.rows > 0).then_some(recorded.last),
            pruned: false,
        };

        let hot_time = self.hot_dialect.time_ms(time_column);
        let start = match report.watermark_ms {
            Some(watermark) => watermark,
            None => {
                let oldest: Extent = self
                    .hot
                    .query(&format!(
                        "SELECT count() AS rows, min({hot_time}) AS last FROM {table}"
                    ))
                    .fetch_one()
                    .await
                    .map_err(step_error(format!("finding the oldest {table} row")))?;
                if oldest.rows == 0 {
                    return Ok(report);
                }
                oldest.last.div_euclid(window) * window
            }
        };
        let closed_until =
            (now_ms() - self.config.grace.as_millis() as i64).div_euclid(window) * window;

        let mut window_start = start;
        while window_start + window <= closed_until {
            let window_end = window_start + window;
            let rows = self
                .copy_window::<T>(table, time_column, window_start, window_end)
                .await?;
            let mut insert = self
                .cold
                .insert::<WindowRow>(WINDOWS_TABLE)
                .await
                .map_err(step_error("recording a window"))?;
            insert
                .write(&WindowRow {
                    table: table.to_owned(),
                    window_start,
                    window_end,
                    rows,
                    archived_at: u32::try_from(now_ms() / 1000).unwrap_or(u32::MAX),
                })
                .await
                .map_err(step_error("recording a window"))?;
            insert
                .end()
                .await
                .map_err(step_error("recording a window"))?;
            report.windows += 1;
            report.rows += rows;
            report.watermark_ms = Some(window_end);
            window_start = window_end;
        }

        if let (Some(retention), Some(watermark), Keep::Any) = (
            self.config.hot_retention,
            report.watermark_ms,
            T::TABLE.keep,
        ) {
            let cutoff = (now_ms() - retention.as_millis() as i64).min(watermark);
            let target = match &self.hot_cluster {
                None => table.to_owned(),
                Some(cluster) => format!(
                    "{}.{} ON CLUSTER {}",
                    cluster.database(),
                    Cluster::local_table(table),
                    cluster.name()
                ),
            };
            self.hot
                .query(&format!(
                    "ALTER TABLE {target} DELETE WHERE {hot_time} < {cutoff}"
                ))
                .execute()
                .await
                .map_err(step_error(format!(
                    "pruning archived {table} rows from the hot tier"
                )))?;
            report.pruned = true;
        }
        Ok(report)
    }

    /// Streams one window's rows from hot to cold and verifies the counts.
    async fn copy_window<T: StoredRow>(
        &self,
        table: &'static str,
        time_column: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<u64, ArchiveError> {
        let filter = |dialect: Dialect| {
            let time = dialect.time_ms(time_column);
            format!("{time} >= {start_ms} AND {time} < {end_ms}")
        };
        let count_query = |dialect: Dialect| {
            format!(
                "SELECT count() FROM {table} FINAL WHERE {}",
                filter(dialect)
            )
        };
        let hot: u64 = self
            .hot
            .query(&count_query(self.hot_dialect))
            .fetch_one()
            .await
            .map_err(step_error(format!("counting hot {table}")))?;
        if hot > 0 {
            let step = format!("copying {table} [{start_ms}, {end_ms})");
            let mut cursor = self
                .hot
                .query(&format!(
                    "SELECT ?fields FROM {table} FINAL WHERE {}",
                    filter(self.hot_dialect)
                ))
                .fetch::<T>()
                .map_err(step_error(step.clone()))?;
            let mut insert = self
                .cold
                .insert::<T>(table)
                .await
                .map_err(step_error(step.clone()))?;
            while let Some(row) = cursor.next().await.map_err(step_error(step.clone()))? {
                insert.write(&row).await.map_err(step_error(step.clone()))?;
            }
            insert.end().await.map_err(step_error(step))?;
        }
        let cold: u64 = self
            .cold
            .query(&count_query(self.cold_dialect))
            .fetch_one()
            .await
            .map_err(step_error(format!("counting cold {table}")))?;
        if cold != hot {
            return Err(ArchiveError::CountMismatch {
                table,
                start_ms,
                end_ms,
                hot,
                cold,
            });
        }
        Ok(hot)
    }
}
