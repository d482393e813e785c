CREATE TABLE IF NOT EXISTS liquidations
(
    exchange      String,
    market_type   String,
    symbol        String,
    side          String,
    price         Decimal(38, 18),
    quantity      Decimal(38, 18),
    exchange_time Int64,
    received_time Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, exchange_time, side, price, quantity)
