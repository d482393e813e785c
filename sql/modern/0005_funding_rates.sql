CREATE TABLE IF NOT EXISTS funding_rates
(
    exchange          LowCardinality(String),
    market_type       LowCardinality(String),
    symbol            LowCardinality(String),
    funding_rate      Decimal(38, 18),
    predicted_rate    Nullable(Decimal(38, 18)),
    next_funding_time Nullable(DateTime64(3, 'UTC')),
    mark_price        Nullable(Decimal(38, 18)),
    index_price       Nullable(Decimal(38, 18)),
    exchange_time     DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time     DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(exchange_time)
ORDER BY (exchange, market_type, symbol, exchange_time)
