//! `marketprism credentials`: the identities `up` creates, for servers run elsewhere (the
//! NixOS module's nats-server and ClickHouse). It creates the missing credentials in a
//! directory, writes nats-server's configuration with the users and their permissions, and a
//! `users.d` file for ClickHouse; the services are then handed their own files.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use marketprism_servers::{authorization, users_d_xml, write_config};

use crate::{DeployError, Secrets};

/// What `marketprism credentials` writes, and from what.
#[derive(Debug, Clone)]
pub struct CredentialsOptions {
    /// The credentials directory: created 0700, each secret 0600.
    pub dir: PathBuf,
    /// The streams the users' permissions name.
    pub stream: marketprism_bus::StreamConfig,
    /// Storage's durable consumer.
    pub storage_durable: String,
    /// The backfill's durable consumer.
    pub backfill_durable: String,
    /// The database the ClickHouse users are confined to.
    pub database: String,
    /// A nats-server configuration in JSON to extend with the users, e.g. the one a
    /// distribution generates; none for the users alone.
    pub nats_base: Option<PathBuf>,
    /// Where to write nats-server's configuration.
    pub nats_config: PathBuf,
    /// Where to write the ClickHouse users (a file of the server's `users.d`).
    pub clickhouse_users: PathBuf,
}

/// Creates the missing credentials and writes both servers' files. The files hold public
/// keys and password hashes only, readable by the servers' users (0644).
pub fn write_credentials(options: &CredentialsOptions) -> Result<(), DeployError> {
    let secrets = Secrets::new(&options.dir);
    secrets.ensure()?;
    let users = secrets.nats_users(
        &options.stream,
        &options.storage_durable,
        &options.backfill_durable,
    )?;
    let mut config = match &options.nats_base {
        Some(path) => read_json(path)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let Some(fields) = config.as_object_mut() else {
        return Err(DeployError::new(
            "reading the NATS configuration",
            format!(
                "{} is not a JSON object",
                options
                    .nats_base
                    .as_deref()
                    .unwrap_or(Path::new(""))
                    .display()
            ),
            "pass the nats-server configuration file in JSON",
        ));
    };
    fields.insert("authorization".to_owned(), authorization(&users));
    write_config(&options.nats_config, &config)
        .and_then(|()| readable(&options.nats_config))
        .map_err(|error| written("writing the NATS users", error))?;
    let clickhouse = secrets.clickhouse_users(&options.database)?;
    std::fs::write(&options.clickhouse_users, users_d_xml(&clickhouse))
        .map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "cannot write {}: {error}",
                    options.clickhouse_users.display()
                ),
            )
        })
        .and_then(|()| readable(&options.clickhouse_users))
        .map_err(|error| written("writing the ClickHouse users", error))
}

/// A JSON file.
fn read_json(path: &Path) -> Result<serde_json::Value, DeployError> {
    let step = "reading the NATS configuration";
    let text = std::fs::read_to_string(path).map_err(|error| {
        DeployError::new(
            step,
            format!("cannot read {}: {error}", path.display()),
            "pass an existing file",
        )
    })?;
    serde_json::from_str(&text).map_err(|error| {
        DeployError::new(
            step,
            format!("{}: {error}", path.display()),
            "pass the nats-server configuration file in JSON",
        )
    })
}

/// Makes a server's file readable by the server's user: it holds nothing secret.
fn readable(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot set the mode of {}: {error}", path.display()),
        )
    })
}

/// A failure to write a server's file.
fn written(step: &str, error: std::io::Error) -> DeployError {
    DeployError::new(step, error, "check that the directory is writable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn the_servers_files_extend_the_base_and_hold_no_secret() {
        let dir = tempfile::tempdir().expect("dir");
        let base = dir.path().join("base.json");
        std::fs::write(
            &base,
            r#"{"port": 4222, "jetstream": {"store_dir": "/var/lib/nats"}}"#,
        )
        .expect("write");
        let options = CredentialsOptions {
            dir: dir.path().join("credentials"),
            stream: marketprism_bus::StreamConfig::default(),
            storage_durable: "marketprism-storage".to_owned(),
            backfill_durable: "marketprism-backfill".to_owned(),
            database: "marketprism".to_owned(),
            nats_base: Some(base),
            nats_config: dir.path().join("nats.conf"),
            clickhouse_users: dir.path().join("marketprism.xml"),
        };
        write_credentials(&options).expect("written");

        let nats: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&options.nats_config).expect("nats.conf"),
        )
        .expect("JSON");
        assert_eq!(nats["port"], 4222);
        assert_eq!(nats["jetstream"]["store_dir"], "/var/lib/nats");
        let users = nats["authorization"]["users"].as_array().expect("users");
        assert_eq!(users.len(), Identity::ALL.len());
        let secrets = Secrets::new(&options.dir);
        assert_eq!(
            users[1]["nkey"],
            secrets.public_nkey(Identity::Collector).expect("key")
        );
        let clickhouse = std::fs::read_to_string(&options.clickhouse_users).expect("users.d");
        assert!(clickhouse.contains(r#"<marketprism_reader replace="replace">"#));
        for identity in Identity::ALL {
            let seed = std::fs::read_to_string(secrets.nkey_seed_file(identity)).expect("seed");
            assert!(!nats.to_string().contains(seed.trim()));
            if let Some(credentials) = secrets.clickhouse_credentials(identity) {
                assert!(!clickhouse.contains(&credentials.password));
            }
        }
        let mode = std::fs::metadata(&options.nats_config)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
