CREATE TABLE IF NOT EXISTS trades
(
    exchange      String,
    market_type   String,
    symbol        String,
    trade_id      String,
    aggregated    UInt8,
    price         Decimal(38, 18),
    quantity      Decimal(38, 18),
    side          String,
    exchange_time Int64,
    received_time Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, aggregated, trade_id)
