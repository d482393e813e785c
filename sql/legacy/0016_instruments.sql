CREATE TABLE IF NOT EXISTS instruments
(
    exchange      String,
    market_type   String,
    symbol        String,
    venue_symbol  String,
    base          String,
    quote         String,
    settle        Nullable(String),
    expiry_time   Nullable(Int64),
    strike        Nullable(Decimal(38, 18)),
    option_kind   Nullable(String),
    trading       UInt8,
    listed_time   Int64,
    delisted_time Nullable(Int64),
    received_time Int64
)
ENGINE = ReplacingMergeTree(received_time)
ORDER BY (exchange, market_type, symbol)
