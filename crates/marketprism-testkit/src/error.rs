//! Why a test server could not be started.

use std::io;
use std::path::Path;

use marketprism_servers::{log_tail, BinaryError, NotReady, ZooKeeperError};

/// Lines of a server's log an error quotes.
const QUOTED_LINES: usize = 20;

/// A server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The executable was not found where deployments look for it.
    #[error(transparent)]
    NotInstalled(#[from] BinaryError),
    /// Java or ZooKeeper, which a ClickHouse cluster needs, is missing.
    #[error(transparent)]
    ZooKeeper(#[from] ZooKeeperError),
    /// No current release of the server was found (see [`crate::Release`]).
    #[error("{found}; run `cargo xtask servers` to install the pinned current servers, or name one in MARKETPRISM_NATS_SERVER / MARKETPRISM_CLICKHOUSE_SERVER")]
    NoCurrent {
        /// The server.
        program: &'static str,
        /// Where it was looked for.
        found: String,
    },
    /// Installing the pinned servers failed.
    #[error("{step} failed:\n{output}")]
    Install {
        /// The installation step.
        step: &'static str,
        /// What it printed.
        output: String,
    },
    /// Writing configuration or spawning failed.
    #[error("cannot start {program}")]
    Io {
        /// The executable.
        program: &'static str,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The server exited or did not become ready in time.
    #[error("{program} did not become ready; last log lines:\n{log_tail}")]
    NotReady {
        /// The executable.
        program: &'static str,
        /// Why: it exited, or the time ran out.
        #[source]
        reason: NotReady,
        /// The end of the server's log.
        log_tail: String,
    },
}

impl ServerError {
    /// A server of `program` that did not become ready, with the end of its `log`.
    pub(crate) fn not_ready(program: &'static str, reason: NotReady, log: &Path) -> Self {
        ServerError::NotReady {
            program,
            reason,
            log_tail: log_tail(log, QUOTED_LINES),
        }
    }
}
