ALTER TABLE gaps
    ADD COLUMN status String DEFAULT 'open',
    ADD COLUMN recovered Nullable(UInt64),
    ADD COLUMN unrecovered Nullable(UInt64),
    ADD COLUMN status_detail String
