CREATE TABLE IF NOT EXISTS trades
(
    exchange      LowCardinality(String),
    market_type   LowCardinality(String),
    symbol        LowCardinality(String),
    trade_id      String,
    aggregated    UInt8,
    price         Decimal(38, 18),
    quantity      Decimal(38, 18),
    side          LowCardinality(String),
    exchange_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(exchange_time)
ORDER BY (exchange, market_type, symbol, aggregated, trade_id)
