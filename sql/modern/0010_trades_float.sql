CREATE VIEW IF NOT EXISTS trades_float AS
SELECT
    exchange,
    market_type,
    symbol,
    trade_id,
    aggregated,
    toFloat64(price) AS price,
    toFloat64(quantity) AS quantity,
    side,
    exchange_time,
    received_time,
    toFloat64(price) * toFloat64(quantity) AS notional
FROM trades FINAL
