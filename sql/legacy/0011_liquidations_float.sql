CREATE VIEW IF NOT EXISTS liquidations_float AS
SELECT
    exchange,
    market_type,
    symbol,
    side,
    toFloat64(price) AS price,
    toFloat64(quantity) AS quantity,
    exchange_time,
    received_time,
    toFloat64(price) * toFloat64(quantity) AS notional
FROM liquidations FINAL
