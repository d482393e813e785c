CREATE TABLE IF NOT EXISTS orderbook_deltas
(
    exchange        LowCardinality(String),
    market_type     LowCardinality(String),
    symbol          LowCardinality(String),
    snapshot        UInt8,
    first_update_id UInt64,
    update_id       UInt64,
    exchange_time   DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    received_time   DateTime64(3, 'UTC') CODEC(Delta, ZSTD),
    bid_prices      Array(Decimal(38, 18)),
    bid_quantities  Array(Decimal(38, 18)),
    ask_prices      Array(Decimal(38, 18)),
    ask_quantities  Array(Decimal(38, 18))
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(exchange_time)
ORDER BY (exchange, market_type, symbol, update_id, snapshot, first_update_id)
