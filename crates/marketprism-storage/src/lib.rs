//! Storage: a durable JetStream pull consumer that writes events to ClickHouse.
//!
//! Messages are decoded, converted to rows and batched by rows, bytes and time. A batch is
//! inserted with RowBinary, one `INSERT` per table, and its messages are acked only after
//! every insert of the batch has committed. A failed insert is retried in place with a
//! capped backoff while progress acks hold the batch's messages; rows the server refuses for
//! their content are isolated and dead-lettered, the rest written (see [`InsertErrorKind`]).
//! `ReplacingMergeTree` tables make any second write invisible in `FINAL` reads. What can
//! never become a row is copied to the dead-letter stream, counted, and terminated.
//!
//! On a replicated, sharded ClickHouse (`clickhouse.cluster`) rows are inserted through the
//! `Distributed` tables and committed once every shard has them (see [`ClickHouseConfig`]).
//!
//! [`archive`] copies closed windows from the hot tier to a cold one.

pub mod archive;
mod batch;
mod clickhouse_config;
mod config;
mod consumer;
mod failure;
mod metrics;
pub mod migrate;
mod rows;
mod tables;
mod writer;

pub use clickhouse_config::{server_version, validating, ClickHouseConfig};
pub use config::{ArchiveConfig, BatchConfig, Config, ConsumerConfig};
pub use consumer::{run, StorageError, StorageErrorKind};
pub use failure::{InsertError, InsertErrorKind};
pub use metrics::metrics_exposition;
pub use rows::{
    from_fixed18, to_fixed18, visit_tables, FundingRateRow, GapRow, LiquidationRow, ListingRow,
    LongShortRatioRow, OpenInterestRow, OrderBookDeltaRow, OrderBookRow, RowError, TradeRow,
    VolatilityIndexRow,
};
pub use tables::{StoredRow, TableVisitor};
