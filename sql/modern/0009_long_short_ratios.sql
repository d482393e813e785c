CREATE TABLE IF NOT EXISTS long_short_ratios
(
    exchange      LowCardinality(String),
    market_type   LowCardinality(String),
    symbol        LowCardinality(String),
    kind          LowCardinality(String),
    period        LowCardinality(String),
    ratio         Decimal(38, 18),
    long_share    Nullable(Decimal(38, 18)),
    short_share   Nullable(Decimal(38, 18)),
    exchange_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(exchange_time)
ORDER BY (exchange, market_type, symbol, kind, period, exchange_time)
