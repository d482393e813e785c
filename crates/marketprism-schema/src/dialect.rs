//! ClickHouse SQL dialects, chosen from the server version.

use std::fmt;

/// The DDL flavour a server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// ClickHouse 20.3 and later: `DateTime64`, `LowCardinality`, codecs.
    Modern,
    /// Older servers (18.x, 19.x): times as `Int64` milliseconds, plain `String`.
    Legacy,
}

/// The first release with `DateTime64`, which the modern dialect relies on.
const FIRST_MODERN: (u32, u32) = (20, 3);

/// A `SELECT version()` answer that is not a ClickHouse version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognized ClickHouse version {0:?}")]
pub struct VersionError(String);

impl Dialect {
    /// Every dialect, for rendering and checks.
    pub const ALL: [Dialect; 2] = [Dialect::Modern, Dialect::Legacy];

    /// Picks the dialect for a version string such as `18.16.1` or `24.8.4.13`.
    pub fn for_version(version: &str) -> Result<Dialect, VersionError> {
        let mut parts = version.trim().split('.').map(str::parse::<u32>);
        match (parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor))) => Ok(if (major, minor) >= FIRST_MODERN {
                Dialect::Modern
            } else {
                Dialect::Legacy
            }),
            _ => Err(VersionError(version.to_owned())),
        }
    }

    /// An expression giving a `TimeMs` column as Unix milliseconds (`Int64`) in this dialect.
    pub fn time_ms(self, column: &str) -> String {
        match self {
            Dialect::Modern => format!("toUnixTimestamp64Milli({column})"),
            Dialect::Legacy => column.to_owned(),
        }
    }

    /// The directory name under `sql/`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dialect::Modern => "modern",
            Dialect::Legacy => "legacy",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_dialect_by_version() {
        assert_eq!(Dialect::for_version("18.16.1"), Ok(Dialect::Legacy));
        assert_eq!(Dialect::for_version("20.1.2.4"), Ok(Dialect::Legacy));
        assert_eq!(Dialect::for_version("20.3.0"), Ok(Dialect::Modern));
        assert_eq!(Dialect::for_version("26.1.1.1\n"), Ok(Dialect::Modern));
        assert!(Dialect::for_version("banana").is_err());
    }
}
