CREATE TABLE IF NOT EXISTS gaps
(
    exchange      String,
    market_type   String,
    symbol        String,
    reason        String,
    from_time     Int64,
    to_time       Int64,
    received_time Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(toDateTime(intDiv(from_time, 1000), 'UTC'))
ORDER BY (exchange, market_type, symbol, reason, from_time, to_time)
