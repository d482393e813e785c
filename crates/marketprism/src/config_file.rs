//! Loading TOML configuration files with errors that name the file, line and key.

use std::path::Path;

use anyhow::Context as _;
use serde::de::DeserializeOwned;

/// Reads and parses a configuration file.
pub fn load<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn example(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name)
    }

    #[test]
    fn every_example_config_is_valid() {
        let collector: marketprism_collector::Config =
            load(&example("collector.toml")).expect("collector example");
        collector
            .validate()
            .expect("collector example is consistent");
        let storage: marketprism_storage::Config =
            load(&example("storage.toml")).expect("storage example");
        storage.validate().expect("storage example is consistent");
        let examples = std::fs::read_dir(example(""))
            .expect("examples dir")
            .count();
        assert_eq!(examples, 2, "a new example config needs a check here");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("storage.toml");
        std::fs::write(&path, "[batch]\nmax_rowz = 5\n").expect("write");
        let error = load::<marketprism_storage::Config>(&path).expect_err("typo");
        let message = format!("{error:#}");
        assert!(
            message.contains("storage.toml") && message.contains("max_rowz"),
            "{message}"
        );
    }
}
