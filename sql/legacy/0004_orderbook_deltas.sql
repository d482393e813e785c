CREATE TABLE IF NOT EXISTS orderbook_deltas
(
    exchange        String,
    market_type     String,
    symbol          String,
    snapshot        UInt8,
    first_update_id UInt64,
    update_id       UInt64,
    exchange_time   Int64,
    received_time   Int64,
    bid_prices      Array(Decimal(38, 18)),
    bid_quantities  Array(Decimal(38, 18)),
    ask_prices      Array(Decimal(38, 18)),
    ask_quantities  Array(Decimal(38, 18))
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, update_id, snapshot, first_update_id)
