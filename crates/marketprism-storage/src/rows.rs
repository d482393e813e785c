//! ClickHouse rows, in the column order of `marketprism-schema`'s tables, and [`TABLES`], the
//! registry of every stored data type: its row, its table, the events it is made from.
//!
//! Times are Unix milliseconds as `i64`: the RowBinary form of both `DateTime64(3)` (modern
//! dialect) and `Int64` (legacy). Decimals are `Decimal(38, 18)`: a little-endian `i128`
//! holding the value times 10^18.

use clickhouse::Row;
use marketprism_model::{
    DataType, Decimal, Event, FundingRate, Gap, Liquidation, Listing, LongShortRatio, OpenInterest,
    OrderBook, OrderBookDelta, PriceLevel, Trade, VolatilityIndex,
};
use marketprism_schema::migrations as schema;
use serde::{Deserialize, Serialize};

use crate::tables::TableVisitor;

/// The registry of stored data types: visits the row type of each, in the order a batch is
/// inserted. A new data type is one more line here (with its row type below and its table
/// in `marketprism-schema`).
pub fn visit_tables(visitor: &mut impl TableVisitor) {
    visitor.visit::<TradeRow>();
    visitor.visit::<OrderBookRow>();
    visitor.visit::<OrderBookDeltaRow>();
    visitor.visit::<FundingRateRow>();
    visitor.visit::<OpenInterestRow>();
    visitor.visit::<LiquidationRow>();
    visitor.visit::<VolatilityIndexRow>();
    visitor.visit::<LongShortRatioRow>();
    visitor.visit::<ListingRow>();
    visitor.visit::<GapRow>();
}

/// Makes `$row`, converted from `Event::$variant` by its `TryFrom`, the row of `$table`.
macro_rules! stored_row {
    ($row:ty, $table:ident, $variant:ident) => {
        impl crate::tables::StoredRow for $row {
            const TABLE: &'static marketprism_schema::Table = &schema::$table;
            const DATA_TYPE: DataType = DataType::$variant;

            fn from_event(event: &Event) -> Option<Result<Self, RowError>> {
                match event {
                    Event::$variant(value) => Some(<$row>::try_from(value)),
                    _ => None,
                }
            }
        }
    };
}

stored_row!(TradeRow, TRADES, Trade);
stored_row!(OrderBookRow, ORDERBOOKS, OrderBook);
stored_row!(OrderBookDeltaRow, ORDERBOOK_DELTAS, OrderBookDelta);
stored_row!(FundingRateRow, FUNDING_RATES, FundingRate);
stored_row!(OpenInterestRow, OPEN_INTERESTS, OpenInterest);
stored_row!(LiquidationRow, LIQUIDATIONS, Liquidation);
stored_row!(VolatilityIndexRow, VOLATILITY_INDICES, VolatilityIndex);
stored_row!(LongShortRatioRow, LONG_SHORT_RATIOS, LongShortRatio);
stored_row!(ListingRow, INSTRUMENTS, Listing);
stored_row!(GapRow, GAPS, Gap);

/// The scale of every decimal column.
const DECIMAL_SCALE: u32 = 18;
/// `Decimal(38, _)` holds at most 38 digits.
const DECIMAL_LIMIT: i128 = 10_i128.pow(38);

/// A value that cannot be stored without loss.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// The event belongs in another table (a wiring error, never the data's).
    #[error("a {data_type} event is not a row of {table}")]
    OtherTable {
        /// The table asked to hold it.
        table: &'static str,
        /// The event's data type.
        data_type: &'static str,
    },
    /// More fractional digits or a larger magnitude than `Decimal(38, 18)` holds.
    #[error("{field} {value} does not fit Decimal(38, 18)")]
    DecimalRange {
        /// The column.
        field: &'static str,
        /// The value.
        value: Decimal,
    },
}

/// Converts a decimal to its `Decimal(38, 18)` representation, refusing any rounding.
pub fn to_fixed18(field: &'static str, value: Decimal) -> Result<i128, RowError> {
    let error = || RowError::DecimalRange { field, value };
    let normalized = value.normalize();
    let scale = normalized.scale();
    if scale > DECIMAL_SCALE {
        return Err(error());
    }
    let fixed = normalized
        .mantissa()
        .checked_mul(10_i128.pow(DECIMAL_SCALE - scale))
        .ok_or_else(error)?;
    if fixed.abs() >= DECIMAL_LIMIT {
        return Err(error());
    }
    Ok(fixed)
}

/// Converts a `Decimal(38, 18)` value back, with trailing zeros removed.
pub fn from_fixed18(fixed: i128) -> Decimal {
    Decimal::from_i128_with_scale(fixed, DECIMAL_SCALE).normalize()
}

/// A row of `trades`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct TradeRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// Venue trade id.
    pub trade_id: String,
    /// 1 for aggregate trades.
    pub aggregated: u8,
    /// Price, fixed-point 18.
    pub price: i128,
    /// Quantity, fixed-point 18.
    pub quantity: i128,
    /// Taker side.
    pub side: String,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
    /// `ws` for the live stream, `rest` for a trade recovered from history.
    pub source: String,
}

impl TryFrom<&Trade> for TradeRow {
    type Error = RowError;

    fn try_from(trade: &Trade) -> Result<Self, Self::Error> {
        Ok(TradeRow {
            exchange: trade.exchange.as_str().to_owned(),
            market_type: trade.market_type.as_str().to_owned(),
            symbol: trade.symbol.to_string(),
            trade_id: trade.trade_id.to_string(),
            aggregated: u8::from(trade.aggregated),
            price: to_fixed18("price", trade.price)?,
            quantity: to_fixed18("quantity", trade.quantity)?,
            side: trade.side.as_str().to_owned(),
            exchange_time: trade.exchange_time_ms,
            received_time: trade.received_time_ms,
            source: trade.source.as_str().to_owned(),
        })
    }
}

/// A row of `gaps`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct GapRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// Cause of the gap.
    pub reason: String,
    /// Window start, Unix ms.
    pub from_time: i64,
    /// Window end, Unix ms.
    pub to_time: i64,
    /// Local time the gap was recorded, Unix ms.
    pub received_time: i64,
    /// First trade counter missed, for a `trade_id_gap`.
    pub first_missing_id: Option<u64>,
    /// Last trade counter missed, for a `trade_id_gap`.
    pub last_missing_id: Option<u64>,
    /// Where the gap stands: `open`, `closed`, `filled`, `partial` or `unfillable`.
    pub status: String,
    /// Trades recovered from the venue's history.
    pub recovered: Option<u64>,
    /// Trades known missing and not recovered.
    pub unrecovered: Option<u64>,
    /// Why the gap has its status; empty when there is nothing to say.
    pub status_detail: String,
    /// The named collector that recorded the gap; empty for an unnamed one.
    pub collector: String,
}

impl TryFrom<&Gap> for GapRow {
    type Error = RowError;

    fn try_from(gap: &Gap) -> Result<Self, Self::Error> {
        Ok(GapRow {
            exchange: gap.exchange.as_str().to_owned(),
            market_type: gap.market_type.as_str().to_owned(),
            symbol: gap.symbol.to_string(),
            reason: gap.reason.as_str().to_owned(),
            from_time: gap.from_ms,
            to_time: gap.to_ms,
            received_time: gap.received_time_ms,
            first_missing_id: gap.missing_ids.map(|ids| ids.first),
            last_missing_id: gap.missing_ids.map(|ids| ids.last),
            status: gap.state.status.as_str().to_owned(),
            recovered: gap.state.recovered,
            unrecovered: gap.state.unrecovered,
            status_detail: gap.state.detail.clone().unwrap_or_default(),
            collector: gap.collector.clone().unwrap_or_default(),
        })
    }
}

/// A row of `orderbooks`: each side as parallel arrays, best level first.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct OrderBookRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// The venue's id of the last update in the book.
    pub update_id: u64,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
    /// Bid prices, fixed-point 18, highest first.
    pub bid_prices: Vec<i128>,
    /// Bid quantities, fixed-point 18.
    pub bid_quantities: Vec<i128>,
    /// Ask prices, fixed-point 18, lowest first.
    pub ask_prices: Vec<i128>,
    /// Ask quantities, fixed-point 18.
    pub ask_quantities: Vec<i128>,
}

/// Splits levels into price and quantity columns.
fn level_columns(levels: &[PriceLevel]) -> Result<(Vec<i128>, Vec<i128>), RowError> {
    levels
        .iter()
        .map(|level| {
            Ok((
                to_fixed18("price", level.price)?,
                to_fixed18("quantity", level.quantity)?,
            ))
        })
        .collect()
}

impl TryFrom<&OrderBook> for OrderBookRow {
    type Error = RowError;

    fn try_from(book: &OrderBook) -> Result<Self, Self::Error> {
        let (bid_prices, bid_quantities) = level_columns(&book.bids)?;
        let (ask_prices, ask_quantities) = level_columns(&book.asks)?;
        Ok(OrderBookRow {
            exchange: book.exchange.as_str().to_owned(),
            market_type: book.market_type.as_str().to_owned(),
            symbol: book.symbol.to_string(),
            update_id: book.update_id,
            exchange_time: book.exchange_time_ms,
            received_time: book.received_time_ms,
            bid_prices,
            bid_quantities,
            ask_prices,
            ask_quantities,
        })
    }
}

/// A row of `orderbook_deltas`: one sequenced snapshot or delta.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct OrderBookDeltaRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// 1 for a snapshot, 0 for a delta.
    pub snapshot: u8,
    /// First venue update id covered.
    pub first_update_id: u64,
    /// Last venue update id covered.
    pub update_id: u64,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
    /// Bid prices set, fixed-point 18.
    pub bid_prices: Vec<i128>,
    /// Bid quantities set (0 deletes), fixed-point 18.
    pub bid_quantities: Vec<i128>,
    /// Ask prices set, fixed-point 18.
    pub ask_prices: Vec<i128>,
    /// Ask quantities set (0 deletes), fixed-point 18.
    pub ask_quantities: Vec<i128>,
}

impl TryFrom<&OrderBookDelta> for OrderBookDeltaRow {
    type Error = RowError;

    fn try_from(delta: &OrderBookDelta) -> Result<Self, Self::Error> {
        let (bid_prices, bid_quantities) = level_columns(&delta.bids)?;
        let (ask_prices, ask_quantities) = level_columns(&delta.asks)?;
        Ok(OrderBookDeltaRow {
            exchange: delta.exchange.as_str().to_owned(),
            market_type: delta.market_type.as_str().to_owned(),
            symbol: delta.symbol.to_string(),
            snapshot: u8::from(delta.snapshot),
            first_update_id: delta.first_update_id,
            update_id: delta.update_id,
            exchange_time: delta.exchange_time_ms,
            received_time: delta.received_time_ms,
            bid_prices,
            bid_quantities,
            ask_prices,
            ask_quantities,
        })
    }
}

fn optional_fixed18(field: &'static str, value: Option<Decimal>) -> Result<Option<i128>, RowError> {
    value.map(|value| to_fixed18(field, value)).transpose()
}

/// A row of `funding_rates`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct FundingRateRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// Funding rate, fixed-point 18.
    pub funding_rate: i128,
    /// Predicted rate, fixed-point 18, when sent.
    pub predicted_rate: Option<i128>,
    /// Next funding time, Unix ms, when sent.
    pub next_funding_time: Option<i64>,
    /// Mark price, fixed-point 18, when sent.
    pub mark_price: Option<i128>,
    /// Index price, fixed-point 18, when sent.
    pub index_price: Option<i128>,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
}

impl TryFrom<&FundingRate> for FundingRateRow {
    type Error = RowError;

    fn try_from(rate: &FundingRate) -> Result<Self, Self::Error> {
        Ok(FundingRateRow {
            exchange: rate.exchange.as_str().to_owned(),
            market_type: rate.market_type.as_str().to_owned(),
            symbol: rate.symbol.to_string(),
            funding_rate: to_fixed18("funding_rate", rate.funding_rate)?,
            predicted_rate: optional_fixed18("predicted_rate", rate.predicted_rate)?,
            next_funding_time: rate.next_funding_time_ms,
            mark_price: optional_fixed18("mark_price", rate.mark_price)?,
            index_price: optional_fixed18("index_price", rate.index_price)?,
            exchange_time: rate.exchange_time_ms,
            received_time: rate.received_time_ms,
        })
    }
}

/// A row of `open_interests`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct OpenInterestRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// Open interest, fixed-point 18.
    pub open_interest: i128,
    /// Notional value, fixed-point 18, when sent.
    pub open_interest_value: Option<i128>,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
}

impl TryFrom<&OpenInterest> for OpenInterestRow {
    type Error = RowError;

    fn try_from(interest: &OpenInterest) -> Result<Self, Self::Error> {
        Ok(OpenInterestRow {
            exchange: interest.exchange.as_str().to_owned(),
            market_type: interest.market_type.as_str().to_owned(),
            symbol: interest.symbol.to_string(),
            open_interest: to_fixed18("open_interest", interest.open_interest)?,
            open_interest_value: optional_fixed18(
                "open_interest_value",
                interest.open_interest_value,
            )?,
            exchange_time: interest.exchange_time_ms,
            received_time: interest.received_time_ms,
        })
    }
}

/// A row of `liquidations`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct LiquidationRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// Side of the liquidation order.
    pub side: String,
    /// Price, fixed-point 18.
    pub price: i128,
    /// Quantity, fixed-point 18.
    pub quantity: i128,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
}

impl TryFrom<&Liquidation> for LiquidationRow {
    type Error = RowError;

    fn try_from(liquidation: &Liquidation) -> Result<Self, Self::Error> {
        Ok(LiquidationRow {
            exchange: liquidation.exchange.as_str().to_owned(),
            market_type: liquidation.market_type.as_str().to_owned(),
            symbol: liquidation.symbol.to_string(),
            side: liquidation.side.as_str().to_owned(),
            price: to_fixed18("price", liquidation.price)?,
            quantity: to_fixed18("quantity", liquidation.quantity)?,
            exchange_time: liquidation.exchange_time_ms,
            received_time: liquidation.received_time_ms,
        })
    }
}

/// A row of `volatility_indices`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct VolatilityIndexRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Currency, e.g. `BTC`.
    pub symbol: String,
    /// Index value, fixed-point 18.
    pub value: i128,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
}

impl TryFrom<&VolatilityIndex> for VolatilityIndexRow {
    type Error = RowError;

    fn try_from(index: &VolatilityIndex) -> Result<Self, Self::Error> {
        Ok(VolatilityIndexRow {
            exchange: index.exchange.as_str().to_owned(),
            market_type: index.market_type.as_str().to_owned(),
            symbol: index.symbol.to_string(),
            value: to_fixed18("value", index.value)?,
            exchange_time: index.exchange_time_ms,
            received_time: index.received_time_ms,
        })
    }
}

/// A row of `long_short_ratios`.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct LongShortRatioRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol (or currency).
    pub symbol: String,
    /// `top_positions`, `top_accounts` or `all_accounts`.
    pub kind: String,
    /// Statistics period, e.g. `5m`.
    pub period: String,
    /// Longs over shorts, fixed-point 18.
    pub ratio: i128,
    /// Share of longs, fixed-point 18, when published.
    pub long_share: Option<i128>,
    /// Share of shorts, fixed-point 18, when published.
    pub short_share: Option<i128>,
    /// Venue time, Unix ms.
    pub exchange_time: i64,
    /// Local receive time, Unix ms.
    pub received_time: i64,
}

impl TryFrom<&LongShortRatio> for LongShortRatioRow {
    type Error = RowError;

    fn try_from(ratio: &LongShortRatio) -> Result<Self, Self::Error> {
        Ok(LongShortRatioRow {
            exchange: ratio.exchange.as_str().to_owned(),
            market_type: ratio.market_type.as_str().to_owned(),
            symbol: ratio.symbol.to_string(),
            kind: ratio.kind.as_str().to_owned(),
            period: ratio.period.clone(),
            ratio: to_fixed18("ratio", ratio.ratio)?,
            long_share: optional_fixed18("long_share", ratio.long_share)?,
            short_share: optional_fixed18("short_share", ratio.short_share)?,
            exchange_time: ratio.exchange_time_ms,
            received_time: ratio.received_time_ms,
        })
    }
}

/// A row of `instruments`: one listing, which replaces the instrument's earlier rows.
#[derive(Debug, Clone, PartialEq, Eq, Row, Serialize, Deserialize)]
pub struct ListingRow {
    /// Venue.
    pub exchange: String,
    /// Market type.
    pub market_type: String,
    /// Normalized symbol.
    pub symbol: String,
    /// The venue's own name of the instrument.
    pub venue_symbol: String,
    /// Base asset.
    pub base: String,
    /// Quote asset.
    pub quote: String,
    /// Settlement asset, when the venue names one.
    pub settle: Option<String>,
    /// Expiry of a future or option, Unix ms.
    pub expiry_time: Option<i64>,
    /// An option's strike, fixed-point 18.
    pub strike: Option<i128>,
    /// `call` or `put`, for options.
    pub option_kind: Option<String>,
    /// 1 while the venue says it trades.
    pub trading: u8,
    /// When it was listed, Unix ms.
    pub listed_time: i64,
    /// When it left the venue's list, Unix ms; `None` while listed.
    pub delisted_time: Option<i64>,
    /// Local receive time of the list, Unix ms: the row's version.
    pub received_time: i64,
}

impl TryFrom<&Listing> for ListingRow {
    type Error = RowError;

    fn try_from(listing: &Listing) -> Result<Self, Self::Error> {
        Ok(ListingRow {
            exchange: listing.exchange.as_str().to_owned(),
            market_type: listing.market_type.as_str().to_owned(),
            symbol: listing.symbol.to_string(),
            venue_symbol: listing.venue_symbol.clone(),
            base: listing.base.clone(),
            quote: listing.quote.clone(),
            settle: listing.settle.clone(),
            expiry_time: listing.expiry_ms,
            strike: optional_fixed18("strike", listing.strike)?,
            option_kind: listing.option_kind.map(|kind| kind.as_str().to_owned()),
            trading: u8::from(listing.trading),
            listed_time: listing.listed_ms,
            delisted_time: listing.delisted_ms,
            received_time: listing.received_time_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_type_and_table_is_registered_once() {
        let tables = crate::tables::registered();
        let data_types: Vec<DataType> = tables
            .iter()
            .map(|table| table.pending().data_type())
            .collect();
        assert_eq!(data_types.len(), DataType::ALL.len());
        for data_type in DataType::ALL {
            assert!(
                data_types.contains(&data_type),
                "{data_type:?} has no table"
            );
        }
        let names: Vec<&str> = tables
            .iter()
            .map(|table| table.pending().table().name)
            .collect();
        let schema: Vec<&str> = marketprism_schema::TABLES
            .iter()
            .map(|table| table.name)
            .collect();
        assert_eq!(
            names, schema,
            "the registry and the schema list the same tables"
        );
    }

    #[test]
    fn fixed18_is_exact_and_refuses_rounding() {
        let price: Decimal = "58042.29000000".parse().expect("valid");
        let fixed = to_fixed18("price", price).expect("fits");
        assert_eq!(fixed, 58_042_290_000_000_000_000_000);
        assert_eq!(from_fixed18(fixed), price);
        let tiny: Decimal = "0.0000000000000000001".parse().expect("valid");
        assert!(to_fixed18("price", tiny).is_err());
        assert_eq!(to_fixed18("q", Decimal::ZERO), Ok(0));
        let negative: Decimal = "-1.5".parse().expect("valid");
        assert_eq!(
            from_fixed18(to_fixed18("q", negative).expect("fits")),
            negative
        );
    }
}
