//! The ordered schema migrations. A migration is never edited once released; changes are new
//! migrations appended to the list.

use std::path::PathBuf;

use crate::{Column, ColumnType, Dialect, Table};

/// The table recording applied migrations (`version`, `name`, `dialect`, `applied_at`).
pub const MIGRATIONS_TABLE: &str = "schema_migrations";

/// One schema step: the creation of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Position in the sequence, from 1, never reused.
    pub version: u32,
    /// The table this migration creates.
    pub table: Table,
}

impl Migration {
    /// The statement applying this migration on `dialect`.
    pub fn statement(&self, dialect: Dialect) -> String {
        self.table.create_statement(dialect)
    }

    /// The committed rendering: `sql/<dialect>/<version>_<table>.sql` below the repository root.
    pub fn sql_path(&self, dialect: Dialect) -> PathBuf {
        PathBuf::from("sql")
            .join(dialect.as_str())
            .join(format!("{:04}_{}.sql", self.version, self.table.name))
    }
}

const fn column(name: &'static str, column_type: ColumnType) -> Column {
    Column { name, column_type }
}

const TRADES: Table = Table {
    name: "trades",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("trade_id", ColumnType::Text),
        column("aggregated", ColumnType::Flag),
        column("price", ColumnType::Decimal),
        column("quantity", ColumnType::Decimal),
        column("side", ColumnType::Label),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &[
        "exchange",
        "market_type",
        "symbol",
        "aggregated",
        "trade_id",
    ],
    partition_time: "exchange_time",
};

const GAPS: Table = Table {
    name: "gaps",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("reason", ColumnType::Label),
        column("from_time", ColumnType::TimeMs),
        column("to_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &[
        "exchange",
        "market_type",
        "symbol",
        "reason",
        "from_time",
        "to_time",
    ],
    partition_time: "from_time",
};

/// Published top-N books: each side as parallel arrays of prices and quantities, best first.
const ORDERBOOKS: Table = Table {
    name: "orderbooks",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("update_id", ColumnType::Id),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
        column("bid_prices", ColumnType::DecimalArray),
        column("bid_quantities", ColumnType::DecimalArray),
        column("ask_prices", ColumnType::DecimalArray),
        column("ask_quantities", ColumnType::DecimalArray),
    ],
    order_by: &["exchange", "market_type", "symbol", "update_id"],
    partition_time: "exchange_time",
};

/// Sequenced book messages (snapshots and deltas) for full-depth reconstruction.
const ORDERBOOK_DELTAS: Table = Table {
    name: "orderbook_deltas",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("snapshot", ColumnType::Flag),
        column("first_update_id", ColumnType::Id),
        column("update_id", ColumnType::Id),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
        column("bid_prices", ColumnType::DecimalArray),
        column("bid_quantities", ColumnType::DecimalArray),
        column("ask_prices", ColumnType::DecimalArray),
        column("ask_quantities", ColumnType::DecimalArray),
    ],
    order_by: &[
        "exchange",
        "market_type",
        "symbol",
        "update_id",
        "snapshot",
        "first_update_id",
    ],
    partition_time: "exchange_time",
};

const FUNDING_RATES: Table = Table {
    name: "funding_rates",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("funding_rate", ColumnType::Decimal),
        column("predicted_rate", ColumnType::OptionalDecimal),
        column("next_funding_time", ColumnType::OptionalTimeMs),
        column("mark_price", ColumnType::OptionalDecimal),
        column("index_price", ColumnType::OptionalDecimal),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &["exchange", "market_type", "symbol", "exchange_time"],
    partition_time: "exchange_time",
};

const OPEN_INTERESTS: Table = Table {
    name: "open_interests",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("open_interest", ColumnType::Decimal),
        column("open_interest_value", ColumnType::OptionalDecimal),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &["exchange", "market_type", "symbol", "exchange_time"],
    partition_time: "exchange_time",
};

const LIQUIDATIONS: Table = Table {
    name: "liquidations",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("side", ColumnType::Label),
        column("price", ColumnType::Decimal),
        column("quantity", ColumnType::Decimal),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &[
        "exchange",
        "market_type",
        "symbol",
        "exchange_time",
        "side",
        "price",
        "quantity",
    ],
    partition_time: "exchange_time",
};

const VOLATILITY_INDICES: Table = Table {
    name: "volatility_indices",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("value", ColumnType::Decimal),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &["exchange", "market_type", "symbol", "exchange_time"],
    partition_time: "exchange_time",
};

const LONG_SHORT_RATIOS: Table = Table {
    name: "long_short_ratios",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("kind", ColumnType::Label),
        column("period", ColumnType::Label),
        column("ratio", ColumnType::Decimal),
        column("long_share", ColumnType::OptionalDecimal),
        column("short_share", ColumnType::OptionalDecimal),
        column("exchange_time", ColumnType::TimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &[
        "exchange",
        "market_type",
        "symbol",
        "kind",
        "period",
        "exchange_time",
    ],
    partition_time: "exchange_time",
};

/// Every migration, in order.
pub fn migrations() -> Vec<Migration> {
    vec![
        Migration {
            version: 1,
            table: TRADES,
        },
        Migration {
            version: 2,
            table: GAPS,
        },
        Migration {
            version: 3,
            table: ORDERBOOKS,
        },
        Migration {
            version: 4,
            table: ORDERBOOK_DELTAS,
        },
        Migration {
            version: 5,
            table: FUNDING_RATES,
        },
        Migration {
            version: 6,
            table: OPEN_INTERESTS,
        },
        Migration {
            version: 7,
            table: LIQUIDATIONS,
        },
        Migration {
            version: 8,
            table: VOLATILITY_INDICES,
        },
        Migration {
            version: 9,
            table: LONG_SHORT_RATIOS,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_increasing() {
        for (index, migration) in migrations().iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
        }
    }

    /// The committed `sql/` files are exactly what the code renders.
    #[test]
    fn committed_sql_matches_the_code() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        for migration in migrations() {
            for dialect in Dialect::ALL {
                let path = root.join(migration.sql_path(dialect));
                let committed = std::fs::read_to_string(&path).unwrap_or_default();
                assert_eq!(
                    committed,
                    migration.statement(dialect),
                    "{} is stale: run `cargo xtask schema` and commit",
                    path.display()
                );
            }
        }
    }
}
