//! Generated configuration files: typed values serialized as TOML.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A configuration file could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The value has no TOML form.
    #[error("cannot serialize the configuration for {}", path.display())]
    Serialize {
        /// The file it was meant for.
        path: PathBuf,
        /// The failure.
        #[source]
        source: toml::ser::Error,
    },
    /// The file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// Writes `value` as TOML to `path`, after `header` (each of its lines as a `#` comment;
/// none when empty).
pub fn write_toml<T: Serialize + ?Sized>(
    path: &Path,
    header: &str,
    value: &T,
) -> Result<(), ConfigError> {
    let body = toml::to_string_pretty(value).map_err(|source| ConfigError::Serialize {
        path: path.to_owned(),
        source,
    })?;
    let mut text: String = header.lines().map(|line| format!("# {line}\n")).collect();
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&body);
    std::fs::write(path, text).map_err(|source| ConfigError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Example {
        listen: String,
        symbols: Vec<String>,
    }

    #[test]
    fn writes_a_header_and_the_value() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("example.toml");
        let value = Example {
            listen: "127.0.0.1:9101".into(),
            symbols: vec!["BTC-USDT".into()],
        };
        write_toml(&path, "Generated.\nDo not edit.", &value).expect("writes");
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(
            text.starts_with("# Generated.\n# Do not edit.\n\nlisten = "),
            "{text}"
        );
        assert_eq!(toml::from_str::<Example>(&text).expect("parses"), value);
        let error = write_toml(&dir.path().join("missing/example.toml"), "", &value)
            .expect_err("no such directory");
        assert!(matches!(error, ConfigError::Write { .. }));
    }
}
