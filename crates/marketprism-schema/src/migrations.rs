//! The ordered schema migrations. A migration is never edited once released; changes are new
//! migrations appended to the list.

use std::path::PathBuf;

use crate::{AddedColumns, Column, ColumnType, Dialect, FloatView, Keep, Table};

/// The table recording applied migrations (`version`, `name`, `dialect`, `applied_at`).
pub const MIGRATIONS_TABLE: &str = "schema_migrations";

/// What a migration creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaObject {
    /// A table storage writes.
    Table(Table),
    /// A read-only view for analysts.
    View(FloatView),
    /// New columns of a released table.
    Columns(AddedColumns),
}

impl SchemaObject {
    /// The table's or view's name.
    pub fn name(&self) -> &'static str {
        match self {
            SchemaObject::Table(table) => table.name,
            SchemaObject::View(view) => view.name,
            SchemaObject::Columns(added) => added.name,
        }
    }
}

/// One schema step: the creation of a table or a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Position in the sequence, from 1, never reused.
    pub version: u32,
    /// What this migration creates.
    pub object: SchemaObject,
}

impl Migration {
    /// The statement applying this migration on `dialect` to a database without it.
    pub fn statement(&self, dialect: Dialect) -> String {
        match &self.object {
            SchemaObject::Table(table) => table.create_statement(dialect),
            SchemaObject::View(view) => view.create_statement(),
            SchemaObject::Columns(added) => added.alter_statement(dialect, &[]).unwrap_or_default(),
        }
    }

    /// The committed rendering: `sql/<dialect>/<version>_<name>.sql` below the repository root.
    pub fn sql_path(&self, dialect: Dialect) -> PathBuf {
        PathBuf::from("sql").join(dialect.as_str()).join(format!(
            "{:04}_{}.sql",
            self.version,
            self.object.name()
        ))
    }
}

const fn column(name: &'static str, column_type: ColumnType) -> Column {
    Column {
        name,
        column_type,
        default: None,
    }
}

/// A column that rows written before it existed read as `default` (SQL).
const fn column_defaulting(
    name: &'static str,
    column_type: ColumnType,
    default: &'static str,
) -> Column {
    Column {
        name,
        column_type,
        default: Some(default),
    }
}

/// The `trades` table.
pub const TRADES: Table = Table {
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
    keep: Keep::Any,
};

/// The `gaps` table as created; [`GAPS_MISSING_IDS`] appends two columns.
pub const GAPS: Table = Table {
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
    keep: Keep::Any,
};

/// Published top-N books: each side as parallel arrays of prices and quantities, best first.
/// The `orderbooks` table.
pub const ORDERBOOKS: Table = Table {
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
    keep: Keep::Any,
};

/// Sequenced book messages (snapshots and deltas) for full-depth reconstruction.
/// The `orderbook_deltas` table.
pub const ORDERBOOK_DELTAS: Table = Table {
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
    keep: Keep::Any,
};

/// The `funding_rates` table.
pub const FUNDING_RATES: Table = Table {
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
    keep: Keep::Any,
};

/// The `open_interests` table.
pub const OPEN_INTERESTS: Table = Table {
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
    keep: Keep::Any,
};

/// The `liquidations` table.
pub const LIQUIDATIONS: Table = Table {
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
    keep: Keep::Any,
};

/// The `volatility_indices` table.
pub const VOLATILITY_INDICES: Table = Table {
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
    keep: Keep::Any,
};

/// The `long_short_ratios` table.
pub const LONG_SHORT_RATIOS: Table = Table {
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
    keep: Keep::Any,
};

/// Instruments as their venues list them, one row per venue, market and symbol: each
/// listing received replaces the instrument's earlier ones, so the table holds every
/// instrument's latest state (read with `FINAL`), delisted ones with their `delisted_time`.
pub const INSTRUMENTS: Table = Table {
    name: "instruments",
    columns: &[
        column("exchange", ColumnType::Label),
        column("market_type", ColumnType::Label),
        column("symbol", ColumnType::Label),
        column("venue_symbol", ColumnType::Label),
        column("base", ColumnType::Label),
        column("quote", ColumnType::Label),
        column("settle", ColumnType::OptionalLabel),
        column("expiry_time", ColumnType::OptionalTimeMs),
        column("strike", ColumnType::OptionalDecimal),
        column("option_kind", ColumnType::OptionalLabel),
        column("trading", ColumnType::Flag),
        column("listed_time", ColumnType::TimeMs),
        column("delisted_time", ColumnType::OptionalTimeMs),
        column("received_time", ColumnType::TimeMs),
    ],
    order_by: &["exchange", "market_type", "symbol"],
    partition_time: "received_time",
    keep: Keep::Latest("received_time"),
};

/// Every table, in the order storage writes a batch.
pub const TABLES: [&Table; 10] = [
    &TRADES,
    &ORDERBOOKS,
    &ORDERBOOK_DELTAS,
    &FUNDING_RATES,
    &OPEN_INTERESTS,
    &LIQUIDATIONS,
    &VOLATILITY_INDICES,
    &LONG_SHORT_RATIOS,
    &INSTRUMENTS,
    &GAPS,
];

/// Trades with `price`, `quantity` and their product `notional` as `Float64`, deduplicated,
/// for ratios such as VWAP (`sum(notional) / sum(quantity)`), which `Decimal(38, 18)` cannot
/// divide without overflow.
pub const TRADES_FLOAT: FloatView = FloatView {
    name: "trades_float",
    table: &TRADES,
};

/// Liquidations with `price`, `quantity` and `notional` as `Float64`, deduplicated.
pub const LIQUIDATIONS_FLOAT: FloatView = FloatView {
    name: "liquidations_float",
    table: &LIQUIDATIONS,
};

/// The trade ids a `trade_id_gap` misses, first and last inclusive.
pub const GAPS_MISSING_IDS: AddedColumns = AddedColumns {
    name: "gaps_missing_ids",
    table: &GAPS,
    columns: &[
        column("first_missing_id", ColumnType::OptionalId),
        column("last_missing_id", ColumnType::OptionalId),
    ],
    extend_key: false,
};

/// Where a gap stands (open, closed, filled, partial, unfillable) with a backfill's counts.
/// A gap's later rows carry the same key, so the latest status replaces the earlier ones.
pub const GAPS_STATE: AddedColumns = AddedColumns {
    name: "gaps_state",
    table: &GAPS,
    columns: &[
        column_defaulting("status", ColumnType::Label, "'open'"),
        column("recovered", ColumnType::OptionalId),
        column("unrecovered", ColumnType::OptionalId),
        column("status_detail", ColumnType::Text),
    ],
    extend_key: false,
};

/// Where a trade came from: `ws` (the live stream) or `rest` (recovered from history).
pub const TRADES_SOURCE: AddedColumns = AddedColumns {
    name: "trades_source",
    table: &TRADES,
    columns: &[column_defaulting("source", ColumnType::Label, "'ws'")],
    extend_key: false,
};

/// The collector that recorded a gap, when collectors are named: each collector of a feed
/// keeps its own gaps, so the column joins the key (see `Gap::collector`). Gaps recorded
/// without a name read as `''`.
pub const GAPS_COLLECTOR: AddedColumns = AddedColumns {
    name: "gaps_collector",
    table: &GAPS,
    columns: &[column("collector", ColumnType::Label)],
    extend_key: true,
};

/// Every migration, in order.
pub fn migrations() -> Vec<Migration> {
    let tables = [
        TRADES,
        GAPS,
        ORDERBOOKS,
        ORDERBOOK_DELTAS,
        FUNDING_RATES,
        OPEN_INTERESTS,
        LIQUIDATIONS,
        VOLATILITY_INDICES,
        LONG_SHORT_RATIOS,
    ]
    .into_iter()
    .map(SchemaObject::Table);
    let views = [TRADES_FLOAT, LIQUIDATIONS_FLOAT]
        .into_iter()
        .map(SchemaObject::View);
    let columns = [GAPS_MISSING_IDS, GAPS_STATE, TRADES_SOURCE, GAPS_COLLECTOR]
        .into_iter()
        .map(SchemaObject::Columns);
    let later_tables = [INSTRUMENTS].into_iter().map(SchemaObject::Table);
    tables
        .chain(views)
        .chain(columns)
        .chain(later_tables)
        .zip(1..)
        .map(|(object, version)| Migration { version, object })
        .collect()
}

/// The columns of `table` once every migration up to `version` is applied: those it was
/// created with, then those the migrations added, in order.
pub fn columns_through(table: &Table, version: u32) -> Vec<Column> {
    let added = migrations()
        .into_iter()
        .filter(|migration| migration.version <= version)
        .filter_map(|migration| match migration.object {
            SchemaObject::Columns(added) if added.table.name == table.name => Some(added.columns),
            _ => None,
        })
        .flatten()
        .copied();
    table.columns.iter().copied().chain(added).collect()
}

/// The columns of `table` once every migration is applied.
pub fn columns(table: &Table) -> Vec<Column> {
    columns_through(table, u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_migrations_keep_their_versions() {
        let released = [
            "trades",
            "gaps",
            "orderbooks",
            "orderbook_deltas",
            "funding_rates",
            "open_interests",
            "liquidations",
            "volatility_indices",
            "long_short_ratios",
            "trades_float",
            "liquidations_float",
            "gaps_missing_ids",
            "gaps_state",
            "trades_source",
            "gaps_collector",
            "instruments",
        ];
        let migrations = migrations();
        assert!(migrations.len() >= released.len());
        for (migration, (version, name)) in migrations.iter().zip((1..).zip(released)) {
            assert_eq!(
                (migration.version, migration.object.name()),
                (version, name)
            );
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
