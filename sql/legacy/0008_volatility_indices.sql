CREATE TABLE IF NOT EXISTS volatility_indices
(
    exchange      String,
    market_type   String,
    symbol        String,
    value         Decimal(38, 18),
    exchange_time Int64,
    received_time Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, exchange_time)
