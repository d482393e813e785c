ALTER TABLE gaps
    ADD COLUMN collector String,
    MODIFY ORDER BY (exchange, market_type, symbol, reason, from_time, to_time, collector)
