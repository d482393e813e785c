ALTER TABLE trades
    ADD COLUMN source String DEFAULT 'ws'
