CREATE TABLE IF NOT EXISTS volatility_indices
(
    exchange      LowCardinality(String),
    market_type   LowCardinality(String),
    symbol        LowCardinality(String),
    value         Decimal(38, 18),
    exchange_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(exchange_time)
ORDER BY (exchange, market_type, symbol, exchange_time)
