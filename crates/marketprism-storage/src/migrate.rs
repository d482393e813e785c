//! `marketprism migrate`: applies the schema migrations in order, once each.
//!
//! The dialect is chosen from `SELECT version()`. Applied versions are recorded in
//! `schema_migrations`; every statement is also `IF NOT EXISTS` (or, for added columns, adds
//! only the columns missing), so an interrupted run can simply be repeated.

use clickhouse::Row;
use marketprism_schema::{migrations, Dialect, SchemaObject, MIGRATIONS_TABLE};
use serde::{Deserialize, Serialize};

use crate::{server_version, validating, ClickHouseConfig};

/// A migration step failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Client construction failed (e.g. unreadable password file).
    #[error(transparent)]
    Config(#[from] std::io::Error),
    /// The server refused or could not be reached.
    #[error("{step}: {source}")]
    ClickHouse {
        /// What was being done.
        step: String,
        /// The client's error, with the server's message.
        source: clickhouse::error::Error,
    },
    /// The server version is not recognized.
    #[error(transparent)]
    Version(#[from] marketprism_schema::VersionError),
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The server's version string.
    pub server_version: String,
    /// The dialect used.
    pub dialect: Dialect,
    /// Versions applied by this run.
    pub applied: Vec<u32>,
    /// Versions that were already applied.
    pub already_applied: Vec<u32>,
}

#[derive(Debug, Row, Serialize, Deserialize)]
struct AppliedRow {
    version: u32,
    name: String,
    dialect: String,
    applied_at: u32,
}

fn step_error(step: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> MigrateError {
    let step = step.into();
    move |source| MigrateError::ClickHouse { step, source }
}

/// Creates the database and applies every pending migration.
pub async fn migrate(config: &ClickHouseConfig) -> Result<MigrationReport, MigrateError> {
    let server = config.server_client()?;
    let server_version = server_version(&server)
        .await
        .map_err(step_error(format!("reading the version of {}", config.url)))?;
    let dialect = Dialect::for_version(&server_version)?;
    server
        .query(&format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            config.database
        ))
        .execute()
        .await
        .map_err(step_error(format!("creating database {}", config.database)))?;

    let database = validating(config.database_client()?, dialect);
    database
        .query(&format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} \
             (version UInt32, name String, dialect String, applied_at DateTime) \
             ENGINE = MergeTree() ORDER BY version"
        ))
        .execute()
        .await
        .map_err(step_error(format!("creating {MIGRATIONS_TABLE}")))?;
    let done: Vec<u32> = database
        .query(&format!("SELECT DISTINCT version FROM {MIGRATIONS_TABLE}"))
        .fetch_all()
        .await
        .map_err(step_error(format!("reading {MIGRATIONS_TABLE}")))?;

    let mut report = MigrationReport {
        server_version,
        dialect,
        applied: Vec::new(),
        already_applied: Vec::new(),
    };
    for migration in migrations() {
        if done.contains(&migration.version) {
            report.already_applied.push(migration.version);
            continue;
        }
        let step = format!(
            "migration {:04} ({})",
            migration.version,
            migration.object.name()
        );
        let statement = match &migration.object {
            SchemaObject::Columns(added) => {
                let existing: Vec<String> = database
                    .query(
                        "SELECT name FROM system.columns \
                         WHERE database = currentDatabase() AND table = ?",
                    )
                    .bind(added.table.name)
                    .fetch_all()
                    .await
                    .map_err(step_error(step.clone()))?;
                added.alter_statement(dialect, &existing)
            }
            SchemaObject::Table(_) | SchemaObject::View(_) => Some(migration.statement(dialect)),
        };
        if let Some(statement) = statement {
            database
                .query(&statement)
                .execute()
                .await
                .map_err(step_error(step.clone()))?;
        }
        let mut insert = database
            .insert::<AppliedRow>(MIGRATIONS_TABLE)
            .await
            .map_err(step_error(step.clone()))?;
        let applied_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX)
            });
        insert
            .write(&AppliedRow {
                version: migration.version,
                name: migration.object.name().to_owned(),
                dialect: dialect.as_str().to_owned(),
                applied_at,
            })
            .await
            .map_err(step_error(step.clone()))?;
        insert.end().await.map_err(step_error(step))?;
        tracing::info!(version = migration.version, object = migration.object.name(), %dialect, "Migration applied.");
        report.applied.push(migration.version);
    }
    Ok(report)
}
