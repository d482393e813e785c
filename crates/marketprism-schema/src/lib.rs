//! The ClickHouse schema: one table model, rendered to DDL per server dialect, the analysts'
//! views over it, and the ordered list of migrations that create them.
//!
//! Current servers (20.x and later) get `DateTime64(3, 'UTC')`, `LowCardinality(String)` and
//! column codecs; legacy servers (such as Debian's 18.16) get `Int64` milliseconds and plain
//! `String`. Both store the same RowBinary bytes, so rows are encoded once for either.
//! Rendered DDL is committed under `sql/<dialect>/` and checked against this crate by tests.
//!
//! On a cluster of shards and replicas ([`Cluster`]) the same migrations render as
//! replicated local tables behind `Distributed` ones, created `ON CLUSTER`.

mod cluster;
mod dialect;
pub mod migrations;
mod table;

pub use cluster::{Cluster, ClusterStatement, NameError, Scope};
pub use dialect::{Dialect, VersionError};
pub use migrations::{
    columns, columns_through, migrations, Migration, SchemaObject, MIGRATIONS_TABLE, TABLES,
};
pub use table::{AddedColumns, Column, ColumnType, FloatView, Keep, Table};
