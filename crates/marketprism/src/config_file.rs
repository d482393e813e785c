//! A service's configuration, read in layers, each overriding the ones before:
//!
//! 1. the base file, e.g. `--config collector.toml`;
//! 2. the environment's overlay beside it, `collector.<env>.toml`, when `--env <env>` (or
//!    `MARKETPRISM_ENV`) names an environment; it must exist then;
//! 3. the local override beside it, `collector.local.toml`, when it exists (for a machine's
//!    own settings, kept out of version control);
//! 4. environment variables: any key as `MARKETPRISM_<SERVICE>__<SECTION>__<KEY>` (e.g.
//!    `MARKETPRISM_STORAGE__BATCH__MAX_ROWS=10000`, `MARKETPRISM_COLLECTOR__PUBLISH__LINGER=2ms`),
//!    and the shorthands `MARKETPRISM_NATS_URL` (`nats.url`, every service) and
//!    `MARKETPRISM_CLICKHOUSE_URL` (`clickhouse.url`, storage and gateway).
//!
//! Layers are merged by `figment`. An unknown key fails at every layer, and the error names
//! the file (with its line, for a file that is complete on its own) or variable, and the key.
//! [`show`] prints the effective configuration with where each value came from.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use figment::providers::{Env, Format, Toml};
use figment::{Figment, Source};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Prefix of every configuration variable.
const ENV_PREFIX: &str = "MARKETPRISM_";

/// A service with a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Service {
    /// `marketprism collect`.
    Collector,
    /// `marketprism store`, and the tools reading its file (`migrate`, `streams init`,
    /// `archive`).
    Storage,
    /// `marketprism backfill`.
    Backfill,
    /// `marketprism gateway`.
    Gateway,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Collector => "collector",
            Service::Storage => "storage",
            Service::Backfill => "backfill",
            Service::Gateway => "gateway",
        }
    }

    /// The shorthand variables this service takes, with the key each sets.
    fn shorthands(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Service::Collector | Service::Backfill => &[("NATS_URL", "nats.url")],
            Service::Storage | Service::Gateway => &[
                ("NATS_URL", "nats.url"),
                ("CLICKHOUSE_URL", "clickhouse.url"),
            ],
        }
    }
}

/// Where a service's configuration comes from.
#[derive(Debug, Clone)]
pub struct Layers {
    service: Service,
    base: PathBuf,
    environment: Option<String>,
}

impl Layers {
    /// The layers of `service` around the base file `base`, with the overlay of
    /// `environment` when one is named.
    pub fn new(service: Service, base: &Path, environment: Option<&str>) -> Self {
        Layers {
            service,
            base: base.to_owned(),
            environment: environment.map(str::to_owned),
        }
    }

    /// `<stem>.<suffix>.toml` beside the base file.
    fn beside(&self, suffix: &str) -> PathBuf {
        let stem = self
            .base
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.base.with_file_name(format!("{stem}.{suffix}.toml"))
    }

    /// The files read, in order.
    fn files(&self) -> anyhow::Result<Vec<PathBuf>> {
        if !self.base.is_file() {
            anyhow::bail!(
                "cannot read configuration {}: no such file",
                self.base.display()
            );
        }
        let mut files = vec![self.base.clone()];
        if let Some(environment) = &self.environment {
            let overlay = self.beside(environment);
            if !overlay.is_file() {
                anyhow::bail!(
                    "cannot read configuration {}: the overlay of environment {environment:?} does not exist",
                    overlay.display()
                );
            }
            files.push(overlay);
        }
        let local = self.beside("local");
        if local.is_file() {
            files.push(local);
        }
        Ok(files)
    }

    /// Every layer, merged in order.
    fn figment(&self) -> anyhow::Result<Figment> {
        let mut figment = Figment::new();
        for file in self.files()? {
            figment = figment.merge(Toml::file_exact(file));
        }
        let service = self.service;
        let scoped = format!("{}__", service.name().to_ascii_uppercase());
        let variables = Env::prefixed(ENV_PREFIX).filter_map(move |key| {
            let key = key.as_str();
            if let Some((_, path)) = service
                .shorthands()
                .iter()
                .find(|(name, _)| key.eq_ignore_ascii_case(name))
            {
                return Some((*path).into());
            }
            let path = key.get(scoped.len()..)?;
            key[..scoped.len()]
                .eq_ignore_ascii_case(&scoped)
                .then(|| path.to_ascii_lowercase().replace("__", ".").into())
        });
        Ok(figment.merge(variables))
    }

    /// Reads the configuration.
    pub fn load<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        let figment = self.figment()?;
        figment.extract::<T>().map_err(|error| {
            // A file that is complete on its own gives a precise error with its line.
            let file = error
                .metadata
                .as_ref()
                .and_then(|metadata| match &metadata.source {
                    Some(Source::File(path)) => Some(path.clone()),
                    _ => None,
                });
            if let Some(file) = file {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    if let Err(precise) = toml::from_str::<T>(&text) {
                        return anyhow::Error::new(precise)
                            .context(format!("invalid configuration {}", file.display()));
                    }
                }
            }
            anyhow::Error::new(error).context(format!(
                "invalid {} configuration (layers of {})",
                self.service.name(),
                self.base.display()
            ))
        })
    }

    /// The effective configuration as `key = value  # origin` lines, every key included
    /// (`default` where no layer sets it), with passwords in URLs masked.
    pub fn show<T: DeserializeOwned + Serialize>(&self) -> anyhow::Result<String> {
        let config: T = self.load()?;
        let figment = self.figment()?;
        let value = toml::Value::try_from(&config).context("rendering the configuration")?;
        let mut lines = Vec::new();
        self.render(&figment, "", &value, &mut lines);
        let width = lines.iter().map(|(line, _)| line.len()).max().unwrap_or(0);
        Ok(lines
            .into_iter()
            .map(|(line, origin)| format!("{line:width$}  # {origin}\n"))
            .collect())
    }

    /// Appends the leaves of `value` under `path` with their origins; a list is one leaf.
    fn render(
        &self,
        figment: &Figment,
        path: &str,
        value: &toml::Value,
        lines: &mut Vec<(String, String)>,
    ) {
        if let toml::Value::Table(table) = value {
            for (key, inner) in table {
                let inner_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                self.render(figment, &inner_path, inner, lines);
            }
            return;
        }
        let origin = match figment.find_metadata(path).map(|metadata| &metadata.source) {
            None => "default".to_owned(),
            Some(Some(Source::File(file))) => file.display().to_string(),
            Some(_) => self.variable(path),
        };
        lines.push((format!("{path} = {}", masked(value)), origin));
    }

    /// The variable that set `path`: the scoped one when it is set, else the shorthand.
    fn variable(&self, path: &str) -> String {
        let scoped = format!(
            "{ENV_PREFIX}{}__{}",
            self.service.name().to_ascii_uppercase(),
            path.to_ascii_uppercase().replace('.', "__")
        );
        if std::env::var_os(&scoped).is_some() {
            return scoped;
        }
        self.service
            .shorthands()
            .iter()
            .find(|(_, key)| *key == path)
            .map_or(scoped, |(name, _)| format!("{ENV_PREFIX}{name}"))
    }
}

/// A value as TOML, with the password of any URL in it replaced.
fn masked(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => match url::Url::parse(text) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("****"));
                toml::Value::String(url.to_string()).to_string()
            }
            _ => value.to_string(),
        },
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(masked).collect();
            format!("[{}]", items.join(", "))
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name)
    }

    #[test]
    fn every_example_config_is_valid() {
        let collector: marketprism_collector::Config =
            Layers::new(Service::Collector, &example("collector.toml"), None)
                .load()
                .expect("collector example");
        collector
            .validate()
            .expect("collector example is consistent");
        let storage: marketprism_storage::Config =
            Layers::new(Service::Storage, &example("storage.toml"), None)
                .load()
                .expect("storage example");
        storage.validate().expect("storage example is consistent");
        let backfill: marketprism_backfill::Config =
            Layers::new(Service::Backfill, &example("backfill.toml"), None)
                .load()
                .expect("backfill example");
        backfill.validate().expect("backfill example is consistent");
        let gateway: marketprism_gateway::Config =
            Layers::new(Service::Gateway, &example("gateway.toml"), None)
                .load()
                .expect("gateway example");
        gateway.validate().expect("gateway example is consistent");
        let examples = std::fs::read_dir(example(""))
            .expect("examples dir")
            .count();
        assert_eq!(examples, 4, "a new example config needs a check here");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("storage.toml");
        std::fs::write(&path, "[batch]\nmax_rowz = 5\n").expect("write");
        let error = Layers::new(Service::Storage, &path, None)
            .load::<marketprism_storage::Config>()
            .expect_err("typo");
        let message = format!("{error:#}");
        assert!(
            message.contains("storage.toml") && message.contains("max_rowz"),
            "{message}"
        );
    }

    #[test]
    fn layers_override_in_order_and_name_their_origin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().join("storage.toml");
        std::fs::write(
            &base,
            "[batch]\nmax_rows = 1000\nmax_wait = \"1s\"\n[clickhouse]\ndatabase = \"base\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("storage.production.toml"),
            "[batch]\nmax_rows = 2000\n[clickhouse]\ndatabase = \"production\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("storage.local.toml"),
            "[clickhouse]\ndatabase = \"local\"\n",
        )
        .expect("write");
        let layers = Layers::new(Service::Storage, &base, Some("production"));
        let config: marketprism_storage::Config = layers.load().expect("layers");
        assert_eq!(config.batch.max_rows, 2000);
        assert_eq!(config.batch.max_wait, std::time::Duration::from_secs(1));
        assert_eq!(config.clickhouse.database, "local");

        let shown = layers.show::<marketprism_storage::Config>().expect("show");
        let line = |key: &str| {
            shown
                .lines()
                .find(|line| line.starts_with(&format!("{key} = ")))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            line("batch.max_rows").ends_with("storage.production.toml"),
            "{shown}"
        );
        assert!(line("batch.max_wait").ends_with("storage.toml"), "{shown}");
        assert!(
            line("clickhouse.database").ends_with("storage.local.toml"),
            "{shown}"
        );
        assert!(
            line("consumer.durable_name").ends_with("# default"),
            "{shown}"
        );

        // An unknown key in an overlay fails, naming the overlay and the key.
        std::fs::write(
            dir.path().join("storage.local.toml"),
            "[clickhouse]\ndatabse = \"local\"\n",
        )
        .expect("write");
        let error = layers
            .load::<marketprism_storage::Config>()
            .expect_err("typo in the overlay");
        let message = format!("{error:#}");
        assert!(
            message.contains("storage.local.toml") && message.contains("databse"),
            "{message}"
        );
        // A named environment without its overlay is an error, not a silent default.
        let missing = Layers::new(Service::Storage, &base, Some("staging"));
        assert!(missing.load::<marketprism_storage::Config>().is_err());
    }

    #[test]
    fn urls_are_shown_without_their_passwords() {
        let value = toml::Value::String("nats://recorder:s3cret@nats.internal:4222".into());
        let shown = masked(&value);
        assert!(
            !shown.contains("s3cret") && shown.contains("****"),
            "{shown}"
        );
    }
}
