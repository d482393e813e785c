ALTER TABLE gaps
    ADD COLUMN first_missing_id Nullable(UInt64),
    ADD COLUMN last_missing_id Nullable(UInt64)
