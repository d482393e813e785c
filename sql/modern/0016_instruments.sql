CREATE TABLE IF NOT EXISTS instruments
(
    exchange      LowCardinality(String),
    market_type   LowCardinality(String),
    symbol        LowCardinality(String),
    venue_symbol  LowCardinality(String),
    base          LowCardinality(String),
    quote         LowCardinality(String),
    settle        LowCardinality(Nullable(String)),
    expiry_time   Nullable(DateTime64(3, 'UTC')),
    strike        Nullable(Decimal(38, 18)),
    option_kind   LowCardinality(Nullable(String)),
    trading       UInt8,
    listed_time   DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    delisted_time Nullable(DateTime64(3, 'UTC')),
    received_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree(received_time)
ORDER BY (exchange, market_type, symbol)
