CREATE TABLE IF NOT EXISTS funding_rates
(
    exchange          String,
    market_type       String,
    symbol            String,
    funding_rate      Decimal(38, 18),
    predicted_rate    Nullable(Decimal(38, 18)),
    next_funding_time Nullable(Int64),
    mark_price        Nullable(Decimal(38, 18)),
    index_price       Nullable(Decimal(38, 18)),
    exchange_time     Int64,
    received_time     Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, exchange_time)
