//! `marketprism migrate`: applies the schema migrations in order, once each.
//!
//! The dialect is chosen from `SELECT version()`. Applied versions are recorded in
//! `schema_migrations`; every statement is also `IF NOT EXISTS` (or, for added columns, adds
//! only the columns missing), so an interrupted run can simply be repeated.
//!
//! With `clickhouse.cluster` set the schema is created on every node of the cluster, `ON
//! CLUSTER` (see `marketprism_schema::Cluster`), through the node at `clickhouse.url`. Such a
//! statement waits for every node (up to the servers' `distributed_ddl_task_timeout`, 180 s
//! by default), so a node that is down makes `migrate` fail until it is back; run it again
//! then. Statements that legacy servers cannot run `ON CLUSTER` run on the nodes of
//! `clickhouse.shard_urls`, one per shard.

use clickhouse::Row;
use marketprism_schema::{
    migrations, AddedColumns, Cluster, Dialect, Migration, NameError, SchemaObject, Scope,
    MIGRATIONS_TABLE,
};
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
    /// The cluster or database name cannot be used on a cluster.
    #[error("clickhouse.cluster: {0}")]
    Cluster(#[from] NameError),
    /// `clickhouse.shard_urls` does not name one node of each shard of the cluster.
    #[error("{step}: clickhouse.shard_urls must name one node of each shard of cluster {cluster}: {problem}")]
    ShardUrls {
        /// The migration that needs them.
        step: String,
        /// The cluster.
        cluster: String,
        /// What is wrong.
        problem: String,
    },
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
    let cluster = config.cluster()?;
    let server = config.server_client()?;
    let server_version = server_version(&server)
        .await
        .map_err(step_error(format!("reading the version of {}", config.url)))?;
    let dialect = Dialect::for_version(&server_version)?;
    let create_database = match &cluster {
        None => format!("CREATE DATABASE IF NOT EXISTS `{}`", config.database),
        Some(cluster) => cluster.create_database(),
    };
    server
        .query(&create_database)
        .execute()
        .await
        .map_err(step_error(format!("creating database {}", config.database)))?;

    let database = validating(config.database_client()?, dialect);
    let create_record = match &cluster {
        None => format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} \
             (version UInt32, name String, dialect String, applied_at DateTime) \
             ENGINE = MergeTree() ORDER BY version"
        ),
        Some(cluster) => cluster.migrations_table(),
    };
    database
        .query(&create_record)
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
        match &cluster {
            None => apply(&database, dialect, &migration, &step).await?,
            Some(cluster) => {
                apply_on_cluster(config, &database, cluster, dialect, &migration, &step).await?;
            }
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

/// The columns `table` has, on the node `client` talks to, in its database.
async fn columns_of(
    client: &clickhouse::Client,
    table: &str,
    step: &str,
) -> Result<Vec<String>, MigrateError> {
    client
        .query(
            "SELECT name FROM system.columns \
             WHERE database = currentDatabase() AND table = ?",
        )
        .bind(table)
        .fetch_all()
        .await
        .map_err(step_error(step))
}

/// Applies `migration` on one server.
async fn apply(
    database: &clickhouse::Client,
    dialect: Dialect,
    migration: &Migration,
    step: &str,
) -> Result<(), MigrateError> {
    let statement = match &migration.object {
        SchemaObject::Columns(added) => {
            let existing = columns_of(database, added.table.name, step).await?;
            added.alter_statement(dialect, &existing)
        }
        SchemaObject::Table(_) | SchemaObject::View(_) => Some(migration.statement(dialect)),
    };
    if let Some(statement) = statement {
        database
            .query(&statement)
            .execute()
            .await
            .map_err(step_error(step))?;
    }
    Ok(())
}

/// Applies `migration` on every node of `cluster`, through the node `database` talks to
/// and, for statements of [`Scope::EachShard`], the nodes of `clickhouse.shard_urls`.
async fn apply_on_cluster(
    config: &ClickHouseConfig,
    database: &clickhouse::Client,
    cluster: &Cluster,
    dialect: Dialect,
    migration: &Migration,
    step: &str,
) -> Result<(), MigrateError> {
    let added = match &migration.object {
        SchemaObject::Columns(added) => Some(added),
        SchemaObject::Table(_) | SchemaObject::View(_) => None,
    };
    let existing = match added {
        Some(added) => columns_of(database, &Cluster::local_table(added.table.name), step).await?,
        None => Vec::new(),
    };
    for statement in migration.cluster_statements(dialect, cluster, &existing) {
        match statement.scope {
            Scope::Once => database
                .query(&statement.sql)
                .execute()
                .await
                .map_err(step_error(step))?,
            Scope::EachShard => {
                for shard in shard_clients(config, cluster, database, step).await? {
                    if let Some(added) = added {
                        if has_columns(&shard, added, step).await? {
                            continue;
                        }
                    }
                    shard
                        .query(&statement.sql)
                        .execute()
                        .await
                        .map_err(step_error(step))?;
                }
            }
        }
    }
    Ok(())
}

/// True when the local table of `added` on the node `shard` talks to has its columns.
async fn has_columns(
    shard: &clickhouse::Client,
    added: &AddedColumns,
    step: &str,
) -> Result<bool, MigrateError> {
    let existing = columns_of(shard, &Cluster::local_table(added.table.name), step).await?;
    Ok(added
        .columns
        .iter()
        .all(|column| existing.iter().any(|name| name == column.name)))
}

/// Clients of the nodes of `clickhouse.shard_urls`, checked to be one node of each shard of
/// `cluster` (by their `{shard}` macros).
async fn shard_clients(
    config: &ClickHouseConfig,
    cluster: &Cluster,
    database: &clickhouse::Client,
    step: &str,
) -> Result<Vec<clickhouse::Client>, MigrateError> {
    let shards: u64 = database
        .query("SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = ?")
        .bind(cluster.name())
        .fetch_one()
        .await
        .map_err(step_error(step))?;
    let wrong = |problem: String| MigrateError::ShardUrls {
        step: step.to_owned(),
        cluster: cluster.name().to_owned(),
        problem,
    };
    let mut clients = Vec::with_capacity(config.shard_urls.len());
    let mut seen: Vec<String> = Vec::new();
    for url in &config.shard_urls {
        let client = config.node_client(url)?;
        let shard: String = client
            .query("SELECT substitution FROM system.macros WHERE macro = 'shard'")
            .fetch_one()
            .await
            .map_err(step_error(format!("{step}: reading the shard of {url}")))?;
        if seen.contains(&shard) {
            return Err(wrong(format!("{url} is a second node of shard {shard}")));
        }
        seen.push(shard);
        clients.push(client);
    }
    if seen.len() as u64 != shards {
        return Err(wrong(format!(
            "the cluster has {shards} shards, the setting names {}",
            seen.len()
        )));
    }
    Ok(clients)
}
