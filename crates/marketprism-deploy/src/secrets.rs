//! The deployment's credentials: a NATS nkey for each identity and a ClickHouse password for
//! those that use ClickHouse, generated once (by the first `up`, or `marketprism
//! credentials` for servers run elsewhere), kept in a directory (0700) one file each (0600),
//! and handed to the services by path.
//!
//! The servers' configurations hold only what cannot sign or log in: NATS the public keys,
//! ClickHouse the passwords' SHA-256.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use marketprism_bus::{permissions, Role, StreamConfig};
use marketprism_servers::{Access, ClickHouseUser, Credentials, NatsUser};
use rand::distr::{Alphanumeric, SampleString as _};
use sha2::{Digest as _, Sha256};

use crate::{DeployError, StateDir};

/// Length of a generated password, in alphanumeric characters (about 190 bits).
const PASSWORD_LENGTH: usize = 32;

/// Who connects to the deployment's servers, each with its own credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// `up` itself and the operator: creates streams and schema.
    Admin,
    /// The collector: publishes events.
    Collector,
    /// Storage: consumes events, writes ClickHouse.
    Storage,
    /// The backfill: consumes gaps, publishes recovered trades.
    Backfill,
    /// `status` and analysts: read only.
    Reader,
    /// The gateway: reads the event stream through consumers of its own; reads ClickHouse
    /// as the reader.
    Gateway,
}

impl Identity {
    /// Every identity.
    pub const ALL: [Identity; 6] = [
        Identity::Admin,
        Identity::Collector,
        Identity::Storage,
        Identity::Backfill,
        Identity::Reader,
        Identity::Gateway,
    ];

    /// The name used for its files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::Collector => "collector",
            Identity::Storage => "storage",
            Identity::Backfill => "backfill",
            Identity::Reader => "reader",
            Identity::Gateway => "gateway",
        }
    }

    /// Its ClickHouse user and what that user may do, for identities that use ClickHouse.
    /// The admin is `default`, the user `clickhouse-client` picks without `--user`.
    pub const fn clickhouse_user(self) -> Option<(&'static str, Access)> {
        match self {
            Identity::Admin => Some(("default", Access::ReadWrite)),
            Identity::Storage => Some(("marketprism_storage", Access::ReadWrite)),
            Identity::Reader => Some(("marketprism_reader", Access::ReadOnly)),
            Identity::Collector | Identity::Backfill | Identity::Gateway => None,
        }
    }
}

/// A directory of credentials: `<identity>.nkey` and `<identity>.clickhouse-password`, one
/// file each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    dir: PathBuf,
}

impl StateDir {
    /// The deployment's credentials, in `secrets/`.
    pub fn secrets(&self) -> Secrets {
        Secrets::new(self.root().join("secrets"))
    }
}

impl Secrets {
    /// The credentials in `dir` (created by [`Secrets::ensure`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Secrets { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `identity`'s NATS nkey seed.
    pub fn nkey_seed_file(&self, identity: Identity) -> PathBuf {
        self.dir.join(format!("{}.nkey", identity.as_str()))
    }

    /// The file holding `identity`'s ClickHouse password.
    pub fn clickhouse_password_file(&self, identity: Identity) -> PathBuf {
        self.dir
            .join(format!("{}.clickhouse-password", identity.as_str()))
    }

    /// Creates the directory (0700) and every credential that does not exist yet (0600).
    /// Existing ones are kept, so services that read them keep working.
    pub fn ensure(&self) -> Result<(), DeployError> {
        let dir = &self.dir;
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .map_err(|error| failed(format!("cannot create {}: {error}", dir.display())))?;
        for identity in Identity::ALL {
            let seed = nkeys::KeyPair::new_user()
                .seed()
                .map_err(|error| failed(format!("cannot generate an nkey: {error}")))?;
            create_secret(&self.nkey_seed_file(identity), &seed)?;
            if identity.clickhouse_user().is_some() {
                let password = Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LENGTH);
                create_secret(&self.clickhouse_password_file(identity), &password)?;
            }
        }
        Ok(())
    }

    /// `identity`'s public nkey, derived from its seed.
    pub fn public_nkey(&self, identity: Identity) -> Result<String, DeployError> {
        let path = self.nkey_seed_file(identity);
        let seed = read_secret(&path)?;
        nkeys::KeyPair::from_seed(&seed)
            .map(|pair| pair.public_key())
            .map_err(|error| {
                DeployError::new(
                    "reading the credentials",
                    format!("{} holds no valid nkey seed: {error}", path.display()),
                    "delete the file and create the credentials again, which makes a new one",
                )
            })
    }

    /// The users NATS admits: every identity by its public nkey, with its role's permissions
    /// on the streams of `stream` and the durable consumers of storage and the backfill.
    pub fn nats_users(
        &self,
        stream: &StreamConfig,
        storage_durable: &str,
        backfill_durable: &str,
    ) -> Result<Vec<NatsUser>, DeployError> {
        Identity::ALL
            .into_iter()
            .map(|identity| {
                let role = match identity {
                    Identity::Admin => Role::Admin,
                    Identity::Collector => Role::Collector,
                    Identity::Storage => Role::Storage {
                        durable: storage_durable,
                    },
                    Identity::Backfill => Role::Backfill {
                        durable: backfill_durable,
                    },
                    Identity::Reader => Role::Reader,
                    Identity::Gateway => Role::Gateway,
                };
                let granted = permissions(&role, stream);
                Ok(NatsUser {
                    nkey: self.public_nkey(identity)?,
                    publish: granted.publish,
                    subscribe: granted.subscribe,
                })
            })
            .collect()
    }

    /// The ClickHouse users, confined to `database` except the admin.
    pub fn clickhouse_users(&self, database: &str) -> Result<Vec<ClickHouseUser>, DeployError> {
        Identity::ALL
            .into_iter()
            .filter_map(|identity| Some((identity, identity.clickhouse_user()?)))
            .map(|(identity, (name, access))| {
                let password = read_secret(&self.clickhouse_password_file(identity))?;
                let databases = match identity {
                    Identity::Admin => Vec::new(),
                    _ => vec![database.to_owned()],
                };
                Ok(ClickHouseUser {
                    name: name.to_owned(),
                    password_sha256_hex: sha256_hex(&password),
                    access,
                    databases,
                })
            })
            .collect()
    }

    /// `identity`'s ClickHouse user and password, for HTTP basic authentication; none for
    /// an identity without a ClickHouse user or credentials not created yet.
    pub fn clickhouse_credentials(&self, identity: Identity) -> Option<Credentials> {
        let (user, _) = identity.clickhouse_user()?;
        let password = read_secret(&self.clickhouse_password_file(identity)).ok()?;
        Some(Credentials {
            user: user.to_owned(),
            password,
        })
    }
}

/// Writes `secret` to a new file readable by its owner alone; an existing file is kept.
fn create_secret(path: &Path, secret: &str) -> Result<(), DeployError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut file) => file
            .write_all(format!("{secret}\n").as_bytes())
            .map_err(|error| failed(format!("cannot write {}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(failed(format!("cannot create {}: {error}", path.display()))),
    }
}

/// The first line of a credential file.
fn read_secret(path: &Path) -> Result<String, DeployError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        DeployError::new(
            "reading the credentials",
            format!("cannot read {}: {error}", path.display()),
            "create the credentials first (`marketprism up` or `marketprism credentials`)",
        )
    })?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// SHA-256 of `text`, in lowercase hex.
fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A failure to create the credentials.
fn failed(cause: String) -> DeployError {
    DeployError::new(
        "creating the credentials",
        cause,
        "check that their directory is writable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_private_stable_and_valid() {
        let root = tempfile::tempdir().expect("dir");
        let secrets = StateDir::new(root.path()).secrets();
        secrets.ensure().expect("created");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(secrets.dir()), 0o700);
        let admin_seed = read_secret(&secrets.nkey_seed_file(Identity::Admin)).expect("seed");
        for identity in Identity::ALL {
            assert_eq!(mode(&secrets.nkey_seed_file(identity)), 0o600);
            assert!(secrets
                .public_nkey(identity)
                .expect("public key")
                .starts_with('U'));
            assert_eq!(
                secrets.clickhouse_password_file(identity).exists(),
                identity.clickhouse_user().is_some()
            );
        }
        let password =
            read_secret(&secrets.clickhouse_password_file(Identity::Reader)).expect("password");
        assert_eq!(password.len(), PASSWORD_LENGTH);

        // Creating them again keeps them.
        secrets.ensure().expect("kept");
        assert_eq!(
            read_secret(&secrets.nkey_seed_file(Identity::Admin)).expect("seed"),
            admin_seed
        );
        let users = secrets.clickhouse_users("marketprism").expect("users");
        let names: Vec<_> = users.iter().map(|user| user.name.as_str()).collect();
        assert_eq!(
            names,
            ["default", "marketprism_storage", "marketprism_reader"]
        );
        assert_eq!(users[2].password_sha256_hex, sha256_hex(&password));
        assert_eq!(users[2].databases, ["marketprism"]);
        assert!(users[0].databases.is_empty());
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );

        let nats = secrets
            .nats_users(
                &StreamConfig::default(),
                "storage-durable",
                "backfill-durable",
            )
            .expect("users");
        assert_eq!(nats.len(), Identity::ALL.len());
        let storage = &nats[2];
        assert_eq!(
            storage.nkey,
            secrets.public_nkey(Identity::Storage).expect("key")
        );
        assert!(storage
            .publish
            .iter()
            .any(|subject| subject.ends_with(".MARKETPRISM.storage-durable")));
    }
}
