CREATE TABLE IF NOT EXISTS open_interests
(
    exchange            String,
    market_type         String,
    symbol              String,
    open_interest       Decimal(38, 18),
    open_interest_value Nullable(Decimal(38, 18)),
    exchange_time       Int64,
    received_time       Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, exchange_time)
