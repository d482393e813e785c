CREATE TABLE IF NOT EXISTS gaps
(
    exchange      LowCardinality(String),
    market_type   LowCardinality(String),
    symbol        LowCardinality(String),
    reason        LowCardinality(String),
    from_time     DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    to_time       DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(from_time)
ORDER BY (exchange, market_type, symbol, reason, from_time, to_time)
