//! Tables as data, and their `CREATE TABLE` statements per dialect.

use std::fmt::Write;

use crate::Dialect;

/// The logical type of a column; each maps to one ClickHouse type per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A short, repetitive identifier (venue, market, symbol, side).
    Label,
    /// A short, repetitive identifier that only some rows have (an option's kind).
    OptionalLabel,
    /// Free text, e.g. a venue's trade id.
    Text,
    /// An exact decimal with 18 fractional digits: `Decimal(38, 18)`.
    Decimal,
    /// A flag stored as `UInt8` 0 or 1.
    Flag,
    /// A time in Unix milliseconds.
    TimeMs,
    /// A venue's numeric identifier (e.g. a book update id): `UInt64`.
    Id,
    /// A list of exact decimals (e.g. the prices of a book side): `Array(Decimal(38, 18))`.
    DecimalArray,
    /// A decimal the venue may omit: `Nullable(Decimal(38, 18))`.
    OptionalDecimal,
    /// A time the venue may omit.
    OptionalTimeMs,
    /// A venue's numeric identifier that only some rows have: `Nullable(UInt64)`.
    OptionalId,
}

impl ColumnType {
    fn sql(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (ColumnType::Label, Dialect::Modern) => "LowCardinality(String)",
            (ColumnType::Label | ColumnType::Text, _) => "String",
            (ColumnType::OptionalLabel, Dialect::Modern) => "LowCardinality(Nullable(String))",
            (ColumnType::OptionalLabel, Dialect::Legacy) => "Nullable(String)",
            (ColumnType::Decimal, _) => "Decimal(38, 18)",
            (ColumnType::Flag, _) => "UInt8",
            (ColumnType::TimeMs, Dialect::Modern) => "DateTime64(3, 'UTC') CODEC(Delta, ZSTD)",
            (ColumnType::TimeMs, Dialect::Legacy) => "Int64",
            (ColumnType::Id, _) => "UInt64",
            (ColumnType::DecimalArray, _) => "Array(Decimal(38, 18))",
            (ColumnType::OptionalDecimal, _) => "Nullable(Decimal(38, 18))",
            (ColumnType::OptionalTimeMs, Dialect::Modern) => "Nullable(DateTime64(3, 'UTC'))",
            (ColumnType::OptionalTimeMs, Dialect::Legacy) => "Nullable(Int64)",
            (ColumnType::OptionalId, _) => "Nullable(UInt64)",
        }
    }

    /// The type without its compression codec, for tables that store nothing themselves
    /// (`Distributed`).
    fn sql_without_codec(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (ColumnType::TimeMs, Dialect::Modern) => "DateTime64(3, 'UTC')",
            _ => self.sql(dialect),
        }
    }
}

/// One column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Logical type.
    pub column_type: ColumnType,
    /// The SQL value rows written before the column existed read as, e.g. `'ws'`; absent:
    /// the type's own default.
    pub default: Option<&'static str>,
}

impl Column {
    /// The column's type and default in `dialect`, as written after its name.
    pub(crate) fn definition(&self, dialect: Dialect) -> String {
        with_default(self.column_type.sql(dialect), self.default)
    }

    /// [`Column::definition`] without a compression codec, for a `Distributed` table.
    pub(crate) fn definition_without_codec(&self, dialect: Dialect) -> String {
        with_default(self.column_type.sql_without_codec(dialect), self.default)
    }
}

/// `sql_type`, followed by `DEFAULT default` when there is one.
fn with_default(sql_type: &str, default: Option<&str>) -> String {
    match default {
        Some(default) => format!("{sql_type} DEFAULT {default}"),
        None => sql_type.to_owned(),
    }
}

/// The parenthesised column list of a `CREATE TABLE`, one aligned column per line, each
/// defined by `definition`.
pub(crate) fn column_list(columns: &[Column], definition: impl Fn(&Column) -> String) -> String {
    let mut sql = "(\n".to_owned();
    let width = columns
        .iter()
        .map(|column| column.name.len())
        .max()
        .unwrap_or(0);
    for (index, column) in columns.iter().enumerate() {
        let separator = if index + 1 == columns.len() { "" } else { "," };
        let _ = writeln!(
            sql,
            "    {:width$} {}{separator}",
            column.name,
            definition(column)
        );
    }
    sql.push(')');
    sql
}

/// Which of the rows sharing a table's key a merge (and a `FINAL` read) keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Any one: the rows of a key are copies of one event (redeliveries). The table is
    /// partitioned by month of its [`Table::partition_time`].
    Any,
    /// The row with the greatest value of this `TimeMs` column: the rows of a key are
    /// states of one thing, the latest current. The table is not partitioned, so every
    /// state of a key merges into one however far apart they were written.
    Latest(&'static str),
}

/// A `ReplacingMergeTree` table keyed on its rows' natural key, so redelivered rows collapse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// Columns as created, in RowBinary order; columns added later follow them.
    pub columns: &'static [Column],
    /// The natural key: `ORDER BY` columns.
    pub order_by: &'static [&'static str],
    /// The `TimeMs` column dating each row: it partitions a [`Keep::Any`] table by month,
    /// and the archive copies windows of it.
    pub partition_time: &'static str,
    /// Which row of a key is kept.
    pub keep: Keep,
}

impl Table {
    /// The `CREATE TABLE IF NOT EXISTS` statement for `dialect`, unqualified by database.
    pub fn create_statement(&self, dialect: Dialect) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {}\n{}\n{}",
            self.name,
            column_list(self.columns, |column| column.definition(dialect)),
            self.storage_clauses(dialect, None)
        )
    }

    /// `ENGINE = ...ReplacingMergeTree(...)`, then the `PARTITION BY` (for [`Keep::Any`])
    /// and `ORDER BY` clauses for `dialect`. `replication` is the ZooKeeper path and replica
    /// name of the replicated engine (`'/path', '{replica}'`); `None` for a plain table.
    pub(crate) fn storage_clauses(&self, dialect: Dialect, replication: Option<&str>) -> String {
        let engine = if replication.is_some() {
            "ReplicatedReplacingMergeTree"
        } else {
            "ReplacingMergeTree"
        };
        let version = match self.keep {
            Keep::Any => None,
            Keep::Latest(column) => Some(column),
        };
        let arguments: Vec<&str> = replication.into_iter().chain(version).collect();
        let partition = match (self.keep, dialect) {
            (Keep::Latest(_), _) => String::new(),
            (Keep::Any, Dialect::Modern) => {
                format!("PARTITION BY toYYYYMM({})\n", self.partition_time)
            }
            (Keep::Any, Dialect::Legacy) => format!(
                "PARTITION BY toYYYYMM(toDateTime(intDiv({}, 1000), 'UTC'))\n",
                self.partition_time
            ),
        };
        format!(
            "ENGINE = {engine}({})\n{partition}ORDER BY ({})\n",
            arguments.join(", "),
            self.order_by.join(", ")
        )
    }
}

/// Columns added to a released table, appended after its existing ones. Rows written before
/// the addition read as the column's default (`NULL` for nullable columns, unless the
/// column names one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedColumns {
    /// The migration's name, e.g. `gaps_missing_ids`.
    pub name: &'static str,
    /// The table the columns are added to.
    pub table: &'static Table,
    /// The new columns, in order.
    pub columns: &'static [Column],
    /// True when the new columns join the end of the table's natural key (`ORDER BY`), so
    /// that rows differing only in them no longer replace each other. Such columns take no
    /// `DEFAULT` (ClickHouse refuses a key expression on a defaulted new column); earlier
    /// rows read as the type's own default.
    pub extend_key: bool,
}

impl AddedColumns {
    /// The `ALTER TABLE` statement adding those of the columns not in `existing`; `None` when
    /// every one exists. 18.16 has no `ADD COLUMN IF NOT EXISTS`, so the caller passes the
    /// table's current columns to make a repeated run harmless.
    pub fn alter_statement(&self, dialect: Dialect, existing: &[String]) -> Option<String> {
        let clauses = self.clauses(dialect, existing)?;
        Some(format!("ALTER TABLE {}\n{clauses}\n", self.table.name))
    }

    /// The `ADD COLUMN` clauses of the columns not in `existing`, then the `MODIFY ORDER BY`
    /// clause when the key is extended; `None` when every column exists.
    pub(crate) fn clauses(&self, dialect: Dialect, existing: &[String]) -> Option<String> {
        let mut clauses: Vec<String> = self
            .columns
            .iter()
            .filter(|column| !existing.iter().any(|name| name == column.name))
            .map(|column| {
                format!(
                    "    ADD COLUMN {} {}",
                    column.name,
                    column.definition(dialect)
                )
            })
            .collect();
        if clauses.is_empty() {
            return None;
        }
        if self.extend_key {
            let key = self
                .table
                .order_by
                .iter()
                .copied()
                .chain(self.columns.iter().map(|column| column.name))
                .collect::<Vec<_>>()
                .join(", ");
            clauses.push(format!("    MODIFY ORDER BY ({key})"));
        }
        Some(clauses.join(",\n"))
    }
}

/// A view of a table, deduplicated with `FINAL`, whose exact decimal columns are read as
/// `Float64`, plus `notional = price * quantity` when the table has both. Ratios of decimals
/// overflow `Decimal(38, 18)` on every ClickHouse release (the product of two has scale 36, and
/// a quotient scales its dividend by the divisor's scale); floats do not. The table keeps the
/// exchange's exact values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatView {
    /// View name.
    pub name: &'static str,
    /// The table it reads.
    pub table: &'static Table,
}

impl FloatView {
    /// The `CREATE VIEW IF NOT EXISTS` statement, the same on every dialect.
    pub fn create_statement(&self) -> String {
        format!(
            "CREATE VIEW IF NOT EXISTS {} AS\n{}{} FINAL\n",
            self.name,
            self.select_list(),
            self.table.name
        )
    }

    /// `SELECT` and the view's columns, up to `FROM ` (the table follows).
    pub(crate) fn select_list(&self) -> String {
        let is_decimal = |column: &Column| {
            matches!(
                column.column_type,
                ColumnType::Decimal | ColumnType::OptionalDecimal
            )
        };
        let mut select: Vec<String> = self
            .table
            .columns
            .iter()
            .map(|column| {
                if is_decimal(column) {
                    format!("toFloat64({0}) AS {0}", column.name)
                } else {
                    column.name.to_owned()
                }
            })
            .collect();
        let has = |name: &str| self.table.columns.iter().any(|column| column.name == name);
        if has("price") && has("quantity") {
            select.push("toFloat64(price) * toFloat64(quantity) AS notional".to_owned());
        }
        format!("SELECT\n    {}\nFROM ", select.join(",\n    "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations;

    #[test]
    fn keys_and_partitions_name_real_columns() {
        for table in crate::TABLES {
            let names: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
            for key in table.order_by {
                assert!(
                    names.contains(key),
                    "{}: key {key} is not a column",
                    table.name
                );
            }
            let partition = table
                .columns
                .iter()
                .find(|column| column.name == table.partition_time)
                .expect("partition column exists");
            assert_eq!(partition.column_type, ColumnType::TimeMs);
            if let Keep::Latest(version) = table.keep {
                let version = table
                    .columns
                    .iter()
                    .find(|column| column.name == version)
                    .expect("version column exists");
                assert_eq!(version.column_type, ColumnType::TimeMs, "{}", table.name);
            }
        }
    }

    #[test]
    fn a_table_of_latest_states_is_versioned_and_unpartitioned() {
        for dialect in Dialect::ALL {
            let sql = crate::migrations::INSTRUMENTS.create_statement(dialect);
            assert!(
                sql.ends_with(
                    "ENGINE = ReplacingMergeTree(received_time)\n\
                     ORDER BY (exchange, market_type, symbol)\n"
                ),
                "{sql}"
            );
            let trades = crate::migrations::TRADES.create_statement(dialect);
            assert!(
                trades.contains("ENGINE = ReplacingMergeTree()\nPARTITION BY toYYYYMM("),
                "{trades}"
            );
        }
    }

    #[test]
    fn legacy_dialect_avoids_types_18_16_lacks() {
        for migration in migrations() {
            let sql = migration.statement(Dialect::Legacy);
            for modern_only in ["LowCardinality", "DateTime64", "CODEC"] {
                assert!(!sql.contains(modern_only), "{sql}");
            }
        }
    }
}
