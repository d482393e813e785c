//! Locating the server executables: an explicit path, else `PATH`, then the directories
//! where Debian installs servers and where Nix profiles link them.

use std::path::{Path, PathBuf};

/// A server executable MarketPrism runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `nats-server`.
    NatsServer,
    /// `clickhouse-server`, or the multi-call `clickhouse` binary (run as `clickhouse server`).
    ClickhouseServer,
    /// `prometheus`, which scrapes the services and evaluates the alert rules.
    Prometheus,
}

/// Directories searched after `PATH`: where Debian installs servers and where Nix profiles
/// link them (`~/.nix-profile/bin` is added from `HOME`).
const SYSTEM_DIRECTORIES: [&str; 4] = [
    "/usr/sbin",
    "/usr/local/sbin",
    "/run/current-system/sw/bin",
    "/nix/var/nix/profiles/default/bin",
];

impl Binary {
    /// The executable's usual name, e.g. `nats-server`.
    pub const fn name(self) -> &'static str {
        self.candidates()[0]
    }

    /// Every file name the executable may have, preferred first.
    const fn candidates(self) -> &'static [&'static str] {
        match self {
            Binary::NatsServer => &["nats-server"],
            Binary::ClickhouseServer => &["clickhouse-server", "clickhouse"],
            Binary::Prometheus => &["prometheus"],
        }
    }

    /// How to install the executable, or name it, for an operator who lacks it.
    pub const fn install_hint(self) -> &'static str {
        match self {
            Binary::NatsServer => {
                "install it (Debian/Ubuntu: `apt-get install nats-server`, macOS: `brew install nats-server`, Nix: `nix develop`) or pass --nats-server PATH"
            }
            Binary::ClickhouseServer => {
                "install it (Debian/Ubuntu: `apt-get install clickhouse-server`, macOS: `brew install clickhouse`, Nix: `nix develop`) or pass --clickhouse-server PATH"
            }
            Binary::Prometheus => {
                "install it (Debian/Ubuntu: `apt-get install prometheus`, macOS: `brew install prometheus`, Nix: `nix develop`) or pass --prometheus PATH"
            }
        }
    }
}

/// An executable was not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// The explicitly named file does not exist.
    #[error("{} does not exist", path.display())]
    Missing {
        /// The executable looked for.
        binary: Binary,
        /// The path given.
        path: PathBuf,
    },
    /// No candidate exists on `PATH` or in the system directories.
    #[error("{} not found on PATH", binary.name())]
    NotFound {
        /// The executable looked for.
        binary: Binary,
    },
}

impl BinaryError {
    /// The executable looked for.
    pub fn binary(&self) -> Binary {
        match self {
            BinaryError::Missing { binary, .. } | BinaryError::NotFound { binary } => *binary,
        }
    }
}

/// Finds `binary`: the explicit path when given, else `PATH`, then the directories where
/// Debian installs servers and where Nix profiles link them.
pub fn find_binary(binary: Binary, explicit: Option<&Path>) -> Result<PathBuf, BinaryError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(BinaryError::Missing {
                binary,
                path: path.to_owned(),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let directories: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(SYSTEM_DIRECTORIES.map(PathBuf::from))
        .chain(home.map(|home| home.join(".nix-profile/bin")))
        .collect();
    binary
        .candidates()
        .iter()
        .flat_map(|name| directories.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or(BinaryError::NotFound { binary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_path_must_exist() {
        let missing = Path::new("/nonexistent/nats-server");
        let error = find_binary(Binary::NatsServer, Some(missing)).expect_err("missing");
        assert_eq!(error.to_string(), "/nonexistent/nats-server does not exist");
        assert_eq!(error.binary(), Binary::NatsServer);
        assert!(Binary::NatsServer
            .install_hint()
            .contains("apt-get install nats-server"));
    }

    #[test]
    fn an_explicit_file_is_taken_as_it_is() {
        let file = tempfile::NamedTempFile::new().expect("file");
        assert_eq!(
            find_binary(Binary::ClickhouseServer, Some(file.path())),
            Ok(file.path().to_owned())
        );
    }
}
