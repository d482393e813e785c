//! Locating the server executables.

use std::path::{Path, PathBuf};

use crate::DeployError;

/// A server executable MarketPrism runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `nats-server`.
    NatsServer,
    /// `clickhouse-server`, or the multi-call `clickhouse` binary (run as `clickhouse server`).
    ClickhouseServer,
}

impl Binary {
    fn candidates(self) -> &'static [&'static str] {
        match self {
            Binary::NatsServer => &["nats-server"],
            Binary::ClickhouseServer => &["clickhouse-server", "clickhouse"],
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Binary::NatsServer => {
                "install it (Debian/Ubuntu: `apt-get install nats-server`, macOS: `brew install nats-server`, Nix: `nix develop`) or pass --nats-server PATH"
            }
            Binary::ClickhouseServer => {
                "install it (Debian/Ubuntu: `apt-get install clickhouse-server`, macOS: `brew install clickhouse`, Nix: `nix develop`) or pass --clickhouse-server PATH"
            }
        }
    }
}

/// Finds `binary`: the explicit path when given, else `PATH`, then the directories where
/// Debian installs servers and where Nix profiles link them.
pub fn find_binary(binary: Binary, explicit: Option<&Path>) -> Result<PathBuf, DeployError> {
    let step = format!("locating {}", binary.candidates()[0]);
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(DeployError::new(
                step,
                format!("{} does not exist", path.display()),
                binary.install_hint(),
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let directories: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/run/current-system/sw/bin",
                "/nix/var/nix/profiles/default/bin",
            ]
            .map(PathBuf::from),
        )
        .chain(home.map(|home| home.join(".nix-profile/bin")))
        .collect();
    binary
        .candidates()
        .iter()
        .flat_map(|name| directories.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            DeployError::new(
                step,
                format!("{} not found on PATH", binary.candidates()[0]),
                binary.install_hint(),
            )
        })
}
