ALTER TABLE gaps
    ADD COLUMN status LowCardinality(String) DEFAULT 'open',
    ADD COLUMN recovered Nullable(UInt64),
    ADD COLUMN unrecovered Nullable(UInt64),
    ADD COLUMN status_detail String
