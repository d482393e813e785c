CREATE TABLE IF NOT EXISTS long_short_ratios
(
    exchange      String,
    market_type   String,
    symbol        String,
    kind          String,
    period        String,
    ratio         Decimal(38, 18),
    long_share    Nullable(Decimal(38, 18)),
    short_share   Nullable(Decimal(38, 18)),
    exchange_time Int64,
    received_time Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(exchange_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, kind, period, exchange_time)
