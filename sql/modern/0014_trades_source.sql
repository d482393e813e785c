ALTER TABLE trades
    ADD COLUMN source LowCardinality(String) DEFAULT 'ws'
