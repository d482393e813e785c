//! The schema on a ClickHouse cluster of shards and replicas: the DDL of each migration
//! rendered `ON CLUSTER`, per dialect.
//!
//! Each table becomes two:
//!
//! * `<table>_local` on every node, a `ReplicatedReplacingMergeTree` holding the node's
//!   shard, replicated through ZooKeeper (or Keeper) under
//!   `/clickhouse/tables/{shard}/<database>/<table>`. The database is part of the path
//!   because databases are per deployment: two deployments sharing a cluster and its
//!   ZooKeeper must not share a replication log. `{shard}` and `{replica}` are the nodes'
//!   `macros`.
//! * `<table>`, a `Distributed` table over the local ones, sharded by `cityHash64(symbol)`.
//!   Every key holds `symbol`, so all versions of a row live on one shard, and `FINAL`
//!   through the `Distributed` table deduplicates exactly as on one server: analysts'
//!   queries and the views read `<table>` unchanged.
//!
//! Names are qualified by the database (the `ON CLUSTER` queue runs statements on other
//! nodes, outside the client's session) and views read the `Distributed` tables.
//!
//! Added columns are added to the local tables `ON CLUSTER`; the `Distributed` tables,
//! which hold nothing, are dropped and created again with the columns (ClickHouse 18.16
//! refuses an `ALTER ... ON CLUSTER` of a table that is not replicated on a cluster whose
//! shards replicate internally). ClickHouse 18.16 also refuses `MODIFY ORDER BY` `ON
//! CLUSTER`, and once a column exists it cannot join the key: on the legacy dialect a
//! migration that extends a key is run on one replica of each shard instead, with its
//! `ADD COLUMN` clauses in the same statement ([`Scope::EachShard`]); replication carries
//! it to the other replicas.

use crate::migrations::columns_through;
use crate::table::column_list;
use crate::{AddedColumns, Column, Dialect, FloatView, Migration, SchemaObject};
use crate::{Table, MIGRATIONS_TABLE};

/// The suffix of the replicated table holding a node's shard of a table.
const LOCAL_SUFFIX: &str = "_local";

/// The column rows are sharded by: every table's key holds it.
const SHARDING_COLUMN: &str = "symbol";

/// A cluster name or database name that cannot be written unquoted in DDL and ZooKeeper
/// paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {name:?} is not a plain identifier (a letter or `_`, then letters, digits or `_`)")]
pub struct NameError {
    /// What the name names: `cluster` or `database`.
    pub what: &'static str,
    /// The name.
    pub name: String,
}

/// Where a cluster statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Once, on any node: the statement names the cluster (`ON CLUSTER`) and every node runs
    /// it.
    Once,
    /// On one replica of every shard, where the shard's table does not have the migration's
    /// columns yet; replication carries it to the shard's other replicas.
    EachShard,
}

/// One statement of a migration on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatement {
    /// The SQL.
    pub sql: String,
    /// Where it runs.
    pub scope: Scope,
}

impl ClusterStatement {
    fn once(sql: String) -> Self {
        ClusterStatement {
            sql,
            scope: Scope::Once,
        }
    }
}

/// A named cluster (a `remote_servers` entry of every node) and the database MarketPrism
/// uses on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    name: String,
    database: String,
}

impl Cluster {
    /// The cluster `name` holding `database`; both must be plain identifiers.
    pub fn new(name: &str, database: &str) -> Result<Self, NameError> {
        for (what, value) in [("cluster", name), ("database", database)] {
            if !is_identifier(value) {
                return Err(NameError {
                    what,
                    name: value.to_owned(),
                });
            }
        }
        Ok(Cluster {
            name: name.to_owned(),
            database: database.to_owned(),
        })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The name of the replicated table holding a node's shard of `table`, unqualified.
    pub fn local_table(table: &str) -> String {
        format!("{table}{LOCAL_SUFFIX}")
    }

    /// `CREATE DATABASE` on every node.
    pub fn create_database(&self) -> String {
        format!(
            "CREATE DATABASE IF NOT EXISTS {} ON CLUSTER {}",
            self.database, self.name
        )
    }

    /// The table recording applied migrations, on every node.
    ///
    /// It is replicated to every node of every shard (its ZooKeeper path has no `{shard}`),
    /// not sharded: `migrate` may talk to any node, and each must see every record. The
    /// replica name joins `{shard}` and `{replica}`, so it is unique across the cluster even
    /// where replica names repeat from shard to shard. Replication is asynchronous: a second
    /// `migrate` on another node right after the first may not see the newest records yet
    /// and applies those migrations again, which is harmless (every statement is `IF NOT
    /// EXISTS`, adds only missing columns or recreates a `Distributed` table), and reads
    /// select `DISTINCT` versions.
    pub fn migrations_table(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS_TABLE} ON CLUSTER {cluster} \
             (version UInt32, name String, dialect String, applied_at DateTime) \
             ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{db}/{MIGRATIONS_TABLE}', '{{shard}}-{{replica}}') \
             ORDER BY version",
            db = self.database,
            cluster = self.name,
        )
    }

    /// The local and `Distributed` `CREATE TABLE` statements of `table`.
    fn create_table(&self, table: &Table, dialect: Dialect) -> Vec<ClusterStatement> {
        let local = format!(
            "CREATE TABLE IF NOT EXISTS {}.{} ON CLUSTER {}\n{}\n{}",
            self.database,
            Self::local_table(table.name),
            self.name,
            column_list(table.columns, |column| column.definition(dialect)),
            table.storage_clauses(
                dialect,
                Some(&format!(
                    "'/clickhouse/tables/{{shard}}/{}/{}', '{{replica}}'",
                    self.database, table.name
                ))
            )
        );
        vec![
            ClusterStatement::once(local),
            ClusterStatement::once(self.create_distributed(table.name, table.columns, dialect)),
        ]
    }

    /// The `Distributed` table `name` with `columns`, over the local tables.
    fn create_distributed(&self, name: &str, columns: &[Column], dialect: Dialect) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cluster}\n{columns}\n\
             ENGINE = Distributed({cluster}, {db}, {local}, cityHash64({SHARDING_COLUMN}))\n",
            db = self.database,
            cluster = self.name,
            columns = column_list(columns, |column| column.definition_without_codec(dialect)),
            local = Self::local_table(name),
        )
    }

    /// The view `CREATE VIEW` statement, reading the `Distributed` table.
    fn create_view(&self, view: &FloatView) -> String {
        format!(
            "CREATE VIEW IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} AS\n{select}{db}.{table} FINAL\n",
            db = self.database,
            name = view.name,
            cluster = self.name,
            select = view.select_list(),
            table = view.table.name,
        )
    }

    /// The statements adding `added`'s columns missing from `existing` (the local table's
    /// columns on the node `migrate` talks to), then recreating the `Distributed` table with
    /// `columns`, the table's columns once they are added.
    fn add_columns(
        &self,
        added: &AddedColumns,
        dialect: Dialect,
        existing: &[String],
        columns: &[Column],
    ) -> Vec<ClusterStatement> {
        let local = format!("{}.{}", self.database, Self::local_table(added.table.name));
        let mut statements = Vec::new();
        if added.extend_key && dialect == Dialect::Legacy {
            if let Some(clauses) = added.clauses(dialect, &[]) {
                statements.push(ClusterStatement {
                    sql: format!("ALTER TABLE {local}\n{clauses}\n"),
                    scope: Scope::EachShard,
                });
            }
        } else if let Some(clauses) = added.clauses(dialect, existing) {
            statements.push(ClusterStatement::once(format!(
                "ALTER TABLE {local} ON CLUSTER {}\n{clauses}\n",
                self.name
            )));
        }
        statements.push(ClusterStatement::once(format!(
            "DROP TABLE IF EXISTS {}.{} ON CLUSTER {}",
            self.database, added.table.name, self.name
        )));
        statements.push(ClusterStatement::once(self.create_distributed(
            added.table.name,
            columns,
            dialect,
        )));
        statements
    }
}

impl Migration {
    /// The statements applying this migration on `dialect` to `cluster`, in order.
    /// `existing` are the columns the migration's local table already has (for added
    /// columns; see [`Scope::EachShard`] for where those statements run).
    pub fn cluster_statements(
        &self,
        dialect: Dialect,
        cluster: &Cluster,
        existing: &[String],
    ) -> Vec<ClusterStatement> {
        match &self.object {
            SchemaObject::Table(table) => cluster.create_table(table, dialect),
            SchemaObject::View(view) => vec![ClusterStatement::once(cluster.create_view(view))],
            SchemaObject::Columns(added) => {
                let columns = columns_through(added.table, self.version);
                cluster.add_columns(added, dialect, existing, &columns)
            }
        }
    }
}

/// True for a letter or `_`, then letters, digits or `_`.
fn is_identifier(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::{migrations, GAPS, GAPS_COLLECTOR, GAPS_STATE, TRADES, TRADES_FLOAT};

    fn cluster() -> Cluster {
        Cluster::new("marketprism", "mp_prod").expect("plain names")
    }

    fn migration(name: &str) -> Migration {
        migrations()
            .into_iter()
            .find(|migration| migration.object.name() == name)
            .expect("a migration of that name")
    }

    #[test]
    fn names_must_be_plain_identifiers() {
        assert!(Cluster::new("c_1", "_db2").is_ok());
        for (name, database, what) in [
            ("", "db", "cluster"),
            ("1c", "db", "cluster"),
            ("c", "d-b", "database"),
            ("c", "db'", "database"),
            ("c", "`db`", "database"),
        ] {
            let error = Cluster::new(name, database).expect_err("not an identifier");
            assert_eq!(error.what, what, "{name} {database}");
        }
    }

    #[test]
    fn a_table_is_a_replicated_local_table_and_a_distributed_one() {
        for dialect in Dialect::ALL {
            let statements = migration("trades").cluster_statements(dialect, &cluster(), &[]);
            assert!(statements
                .iter()
                .all(|statement| statement.scope == Scope::Once));
            let [local, distributed] = &statements[..] else {
                panic!("two statements: {statements:?}");
            };
            let single = TRADES.create_statement(dialect);
            let body = single
                .strip_prefix("CREATE TABLE IF NOT EXISTS trades\n")
                .expect("single-node header")
                .replace(
                    "ENGINE = ReplacingMergeTree()",
                    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/mp_prod/trades', '{replica}')",
                );
            assert_eq!(
                local.sql,
                format!(
                    "CREATE TABLE IF NOT EXISTS mp_prod.trades_local ON CLUSTER marketprism\n{body}"
                )
            );
            assert!(
                distributed.sql.starts_with(
                    "CREATE TABLE IF NOT EXISTS mp_prod.trades ON CLUSTER marketprism\n(\n    exchange "
                ),
                "{}",
                distributed.sql
            );
            assert!(
                distributed.sql.ends_with(
                    ")\nENGINE = Distributed(marketprism, mp_prod, trades_local, cityHash64(symbol))\n"
                ),
                "{}",
                distributed.sql
            );
            assert!(!distributed.sql.contains("CODEC"), "{}", distributed.sql);
            assert!(!distributed.sql.contains("ORDER BY"), "{}", distributed.sql);
        }
        let modern = migration("trades").cluster_statements(Dialect::Modern, &cluster(), &[]);
        assert!(modern[1]
            .sql
            .contains("exchange_time DateTime64(3, 'UTC'),"));
        let legacy = migration("trades").cluster_statements(Dialect::Legacy, &cluster(), &[]);
        assert!(legacy[1].sql.contains("exchange_time Int64,"));
    }

    #[test]
    fn a_table_of_latest_states_replicates_with_its_version_column() {
        for dialect in Dialect::ALL {
            let statements = migration("instruments").cluster_statements(dialect, &cluster(), &[]);
            assert!(
                statements[0].sql.ends_with(
                    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/mp_prod/instruments', '{replica}', received_time)\n\
                     ORDER BY (exchange, market_type, symbol)\n"
                ),
                "{}",
                statements[0].sql
            );
            assert!(statements[1].sql.contains(
                "Distributed(marketprism, mp_prod, instruments_local, cityHash64(symbol))"
            ));
        }
    }

    #[test]
    fn every_table_is_sharded_by_a_column_of_its_key() {
        for table in crate::TABLES {
            assert!(
                table.order_by.contains(&SHARDING_COLUMN),
                "{}: rows of one key could land on two shards",
                table.name
            );
        }
    }

    #[test]
    fn views_read_the_distributed_table_on_every_node() {
        let statements =
            migration("trades_float").cluster_statements(Dialect::Legacy, &cluster(), &[]);
        let single = TRADES_FLOAT.create_statement();
        let expected = single
            .replace(
                "CREATE VIEW IF NOT EXISTS trades_float AS",
                "CREATE VIEW IF NOT EXISTS mp_prod.trades_float ON CLUSTER marketprism AS",
            )
            .replace("FROM trades FINAL", "FROM mp_prod.trades FINAL");
        assert_eq!(statements, vec![ClusterStatement::once(expected)]);
        assert_eq!(
            migration("trades_float").cluster_statements(Dialect::Modern, &cluster(), &[]),
            statements
        );
    }

    #[test]
    fn added_columns_alter_the_local_tables_and_recreate_the_distributed_one() {
        for dialect in Dialect::ALL {
            let statements = migration("gaps_state").cluster_statements(
                dialect,
                &cluster(),
                &["status".to_owned()],
            );
            let sql: Vec<&str> = statements
                .iter()
                .map(|statement| statement.sql.as_str())
                .collect();
            assert!(statements
                .iter()
                .all(|statement| statement.scope == Scope::Once));
            let single = GAPS_STATE
                .alter_statement(dialect, &["status".to_owned()])
                .expect("columns to add");
            assert_eq!(
                sql[0],
                single.replace(
                    "ALTER TABLE gaps\n",
                    "ALTER TABLE mp_prod.gaps_local ON CLUSTER marketprism\n"
                )
            );
            assert!(!sql[0].contains("ADD COLUMN status "), "{}", sql[0]);
            assert_eq!(
                sql[1],
                "DROP TABLE IF EXISTS mp_prod.gaps ON CLUSTER marketprism"
            );
            // The Distributed table has every column up to this migration, not beyond.
            for column in ["to_time", "last_missing_id", "status_detail"] {
                assert!(
                    sql[2].contains(&format!("    {column} ")),
                    "{column}: {}",
                    sql[2]
                );
            }
            assert!(!sql[2].contains("collector"), "{}", sql[2]);
            assert!(sql[2].contains(" DEFAULT 'open',"), "{}", sql[2]);
            assert_eq!(sql.len(), 3);
        }
    }

    #[test]
    fn columns_all_present_only_recreate_the_distributed_table() {
        let existing: Vec<String> = GAPS_STATE
            .columns
            .iter()
            .map(|column| column.name.to_owned())
            .collect();
        let statements =
            migration("gaps_state").cluster_statements(Dialect::Modern, &cluster(), &existing);
        assert_eq!(statements.len(), 2);
        assert!(statements[0]
            .sql
            .starts_with("DROP TABLE IF EXISTS mp_prod.gaps ON CLUSTER"));
    }

    #[test]
    fn a_key_extension_runs_on_cluster_when_modern_and_on_each_shard_when_legacy() {
        let modern =
            migration("gaps_collector").cluster_statements(Dialect::Modern, &cluster(), &[]);
        assert_eq!(modern[0].scope, Scope::Once);
        assert_eq!(
            modern[0].sql,
            GAPS_COLLECTOR
                .alter_statement(Dialect::Modern, &[])
                .expect("columns to add")
                .replace(
                    "ALTER TABLE gaps\n",
                    "ALTER TABLE mp_prod.gaps_local ON CLUSTER marketprism\n"
                )
        );
        // Legacy: the whole ALTER, even when the node asked has the column already (another
        // shard may not); `migrate` checks each shard's own columns.
        let legacy = migration("gaps_collector").cluster_statements(
            Dialect::Legacy,
            &cluster(),
            &["collector".to_owned()],
        );
        assert_eq!(legacy[0].scope, Scope::EachShard);
        assert_eq!(
            legacy[0].sql,
            GAPS_COLLECTOR
                .alter_statement(Dialect::Legacy, &[])
                .expect("columns to add")
                .replace("ALTER TABLE gaps\n", "ALTER TABLE mp_prod.gaps_local\n")
        );
        assert!(
            legacy[0].sql.contains("MODIFY ORDER BY ("),
            "{}",
            legacy[0].sql
        );
        for statements in [&modern, &legacy] {
            assert_eq!(statements.len(), 3);
            assert!(statements[1..]
                .iter()
                .all(|statement| statement.scope == Scope::Once));
            assert!(
                statements[2].sql.contains("    collector "),
                "{}",
                statements[2].sql
            );
        }
    }

    #[test]
    fn the_distributed_table_lists_every_column_of_the_last_migration() {
        let last_gaps = migrations()
            .into_iter()
            .rfind(|migration| matches!(&migration.object, SchemaObject::Columns(added) if added.table.name == GAPS.name))
            .expect("gaps gained columns");
        let columns = columns_through(&GAPS, last_gaps.version);
        let mut names: Vec<&str> = columns.iter().map(|column| column.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), columns.len(), "a column added twice");
        assert!(names.contains(&"collector") && names.contains(&"first_missing_id"));
    }

    #[test]
    fn the_migrations_table_is_replicated_to_every_node() {
        let sql = cluster().migrations_table();
        assert!(sql.starts_with(
            "CREATE TABLE IF NOT EXISTS mp_prod.schema_migrations ON CLUSTER marketprism "
        ));
        assert!(sql.contains(
            "ReplicatedMergeTree('/clickhouse/tables/all/mp_prod/schema_migrations', '{shard}-{replica}')"
        ));
        assert!(!sql.contains("{shard}/"), "{sql}");
        assert_eq!(
            cluster().create_database(),
            "CREATE DATABASE IF NOT EXISTS mp_prod ON CLUSTER marketprism"
        );
    }

    #[test]
    fn legacy_cluster_ddl_avoids_types_18_16_lacks() {
        for migration in migrations() {
            for statement in migration.cluster_statements(Dialect::Legacy, &cluster(), &[]) {
                for modern_only in ["LowCardinality", "DateTime64", "CODEC"] {
                    assert!(!statement.sql.contains(modern_only), "{}", statement.sql);
                }
            }
        }
    }
}
