//! What a failed ClickHouse insert means for its rows: refused for their content, or to be
//! written again later.
//!
//! The server refuses rows for their data with a small set of error codes: values it cannot
//! parse or convert, out of range, overflowing a decimal, or breaking a table constraint.
//! Retrying those rows fails forever (Vector's ClickHouse sink does not retry them either:
//! `src/sinks/clickhouse/service.rs`), so the batch is split to find them and they are
//! dead-lettered with the server's message. Every other failure (server unreachable, slow,
//! overloaded, a table missing or changed until `migrate` runs) leaves the rows as good as
//! they were: they are written again after a delay.

use std::time::Duration;

/// Server error codes that refuse rows for their content
/// (`src/Common/ErrorCodes.cpp` in ClickHouse).
const DATA_ERROR_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    407, // DECIMAL_OVERFLOW
    469, // VIOLATED_CONSTRAINT
];

/// What to do about rows whose insert failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertErrorKind {
    /// The server refused rows for their content: find them and dead-letter them.
    Refused,
    /// Write the same rows again after a delay.
    Retry,
}

/// A failed insert.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// The client or the server failed the request.
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    /// No answer within the configured timeout.
    #[error("no answer from ClickHouse within {0:?}")]
    TimedOut(Duration),
}

impl InsertError {
    /// What the failure means for the rows.
    pub fn kind(&self) -> InsertErrorKind {
        match self {
            InsertError::ClickHouse(clickhouse::error::Error::BadResponse(text))
                if server_code(text).is_some_and(|code| DATA_ERROR_CODES.contains(&code)) =>
            {
                InsertErrorKind::Refused
            }
            _ => InsertErrorKind::Retry,
        }
    }
}

/// The code of a server exception, `Code: 469. DB::Exception: …` (the body ClickHouse answers
/// an error with), or the bare code (what the client keeps when the body is unreadable).
fn server_code(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text.strip_prefix("Code: ").unwrap_or(text);
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> InsertError {
        InsertError::ClickHouse(clickhouse::error::Error::BadResponse(text.to_owned()))
    }

    #[test]
    fn refused_rows_are_told_apart_from_failures_worth_retrying() {
        for refused in [
            "Code: 469. DB::Exception: Constraint `positive` for table default.trades (UUID) is violated at row 2. (VIOLATED_CONSTRAINT) (version 26.9.2.1)",
            "Code: 53. DB::Exception: Type mismatch in IN or VALUES section. (TYPE_MISMATCH)",
            "Code: 117. DB::Exception: Incorrect data. (INCORRECT_DATA)",
            "407",
        ] {
            assert_eq!(server(refused).kind(), InsertErrorKind::Refused, "{refused}");
        }
        for retried in [
            "Code: 60. DB::Exception: Table default.trades does not exist. (UNKNOWN_TABLE)",
            "Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)",
            "Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)",
            "503 Service Unavailable",
            "",
        ] {
            assert_eq!(server(retried).kind(), InsertErrorKind::Retry, "{retried}");
        }
        assert_eq!(
            InsertError::TimedOut(Duration::from_secs(30)).kind(),
            InsertErrorKind::Retry
        );
        assert_eq!(
            InsertError::ClickHouse(clickhouse::error::Error::SchemaMismatch(
                "column price is Float64".into()
            ))
            .kind(),
            InsertErrorKind::Retry
        );
    }
}
