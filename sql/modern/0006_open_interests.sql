CREATE TABLE IF NOT EXISTS open_interests
(
    exchange            LowCardinality(String),
    market_type         LowCardinality(String),
    symbol              LowCardinality(String),
    open_interest       Decimal(38, 18),
    open_interest_value Nullable(Decimal(38, 18)),
    exchange_time       DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time       DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(exchange_time)
ORDER BY (exchange, market_type, symbol, exchange_time)
