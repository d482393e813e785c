//! The data types the API serves and the table of each, taken from storage's table registry
//! (`marketprism_storage::visit_tables`) and the schema's migrations, so that the gateway
//! reads exactly what storage writes.

use std::sync::OnceLock;

use marketprism_model::{DataType, GapReason};
use marketprism_schema::{Column, ColumnType, Dialect, Table};
use marketprism_storage::{StoredRow, TableVisitor};

/// The column holding the venue's time of each row of a data table.
pub const EXCHANGE_TIME: &str = "exchange_time";

/// The column holding the collector's receive time of each row of a data table.
pub const RECEIVED_TIME: &str = "received_time";

/// A stored data type and its table.
#[derive(Debug, Clone, Copy)]
pub struct Recorded {
    /// The data type, e.g. `trade`.
    pub data_type: DataType,
    /// Its table.
    pub table: &'static Table,
}

/// Every stored data type, in storage's order; the gaps table last.
fn registry() -> &'static [Recorded] {
    static REGISTRY: OnceLock<Vec<Recorded>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        struct Collect(Vec<Recorded>);
        impl TableVisitor for Collect {
            fn visit<R: StoredRow>(&mut self) {
                self.0.push(Recorded {
                    data_type: R::DATA_TYPE,
                    table: R::TABLE,
                });
            }
        }
        let mut collect = Collect(Vec::new());
        marketprism_storage::visit_tables(&mut collect);
        collect.0
    })
}

/// The stored data types served as series of the venue's time: what `types` may name. Gaps
/// are not (they qualify the series), nor are listings, whose `instruments` table holds each
/// instrument's latest state and no venue time.
pub fn data_types() -> impl Iterator<Item = Recorded> {
    registry()
        .iter()
        .copied()
        .filter(|recorded| !matches!(recorded.data_type, DataType::Gap | DataType::Listing))
}

/// The data type named `name` (e.g. `trade`), gaps and listings excluded.
pub fn data_type(name: &str) -> Option<Recorded> {
    data_types().find(|recorded| recorded.data_type.as_str() == name)
}

/// The table of gap rows.
pub fn gaps_table() -> &'static Table {
    registry()
        .iter()
        .find(|recorded| recorded.data_type == DataType::Gap)
        .map_or(&marketprism_schema::migrations::GAPS, |recorded| {
            recorded.table
        })
}

/// The expression reading `column` for JSON or CSV output, exactly: times as Unix
/// milliseconds, decimals as their text (a JSON number would lose digits).
pub fn output_expression(column: &Column, dialect: Dialect) -> String {
    let name = column.name;
    match column.column_type {
        ColumnType::TimeMs | ColumnType::OptionalTimeMs => {
            format!("{} AS {name}", dialect.time_ms(name))
        }
        ColumnType::Decimal | ColumnType::OptionalDecimal => {
            format!("{} AS {name}", decimal_text(dialect, name))
        }
        ColumnType::DecimalArray => {
            format!(
                "arrayMap(x -> {}, {name}) AS {name}",
                decimal_text(dialect, "x")
            )
        }
        ColumnType::Label
        | ColumnType::OptionalLabel
        | ColumnType::Text
        | ColumnType::Flag
        | ColumnType::Id
        | ColumnType::OptionalId => name.to_owned(),
    }
}

/// The text of the decimal `value` without trailing zeros, as the venue wrote it (`97000.5`,
/// `100`): current servers write decimals so, 18.x pads them to the scale.
pub(crate) fn decimal_text(dialect: Dialect, value: &str) -> String {
    match dialect {
        Dialect::Modern => format!("toString({value})"),
        Dialect::Legacy => {
            format!(r"replaceRegexpOne(toString({value}), '(\\.[0-9]*[1-9])0+$|\\.0+$', '\\1')")
        }
    }
}

/// Whether a gap of `reason` leaves data of `data_type` missing: book-only gaps concern the
/// order books, a trade-id gap the trades, the others every data type of the instrument.
/// An unknown reason (a newer collector's) is taken to concern everything.
pub fn gap_concerns(reason: &str, data_type: DataType) -> bool {
    let book = matches!(data_type, DataType::OrderBook | DataType::OrderBookDelta);
    match parse_reason(reason) {
        Some(reason) if reason.is_book_only() => book,
        Some(GapReason::TradeIdGap) => data_type == DataType::Trade,
        _ => true,
    }
}

fn parse_reason(reason: &str) -> Option<GapReason> {
    use serde::de::IntoDeserializer as _;
    use serde::Deserialize as _;
    let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        reason.into_deserializer();
    GapReason::deserialize(deserializer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_table_has_an_exchange_and_a_receive_time_and_gaps_and_listings_are_not_data_types(
    ) {
        let names: Vec<&str> = data_types()
            .map(|recorded| recorded.data_type.as_str())
            .collect();
        assert!(names.contains(&"trade") && names.contains(&"orderbook"));
        assert!(!names.contains(&"gap") && !names.contains(&"listing"));
        for recorded in data_types() {
            for time in [EXCHANGE_TIME, RECEIVED_TIME] {
                assert!(
                    marketprism_schema::columns(recorded.table)
                        .iter()
                        .any(|column| column.name == time
                            && column.column_type == ColumnType::TimeMs),
                    "{} {time}",
                    recorded.table.name
                );
            }
        }
        assert_eq!(gaps_table().name, "gaps");
        let gap_columns: Vec<&str> = marketprism_schema::columns(gaps_table())
            .iter()
            .map(|c| c.name)
            .collect();
        assert!(gap_columns.contains(&"status") && gap_columns.contains(&"collector"));
    }

    #[test]
    fn gaps_concern_the_data_their_reason_says() {
        assert!(gap_concerns("disconnect", DataType::Trade));
        assert!(gap_concerns("disconnect", DataType::OrderBook));
        assert!(!gap_concerns("sequence_break", DataType::Trade));
        assert!(gap_concerns("sequence_break", DataType::OrderBookDelta));
        assert!(gap_concerns("trade_id_gap", DataType::Trade));
        assert!(!gap_concerns("trade_id_gap", DataType::OrderBook));
        assert!(gap_concerns("something_new", DataType::FundingRate));
    }
}
