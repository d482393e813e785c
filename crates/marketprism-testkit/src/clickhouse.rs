//! A ClickHouse child process: `clickhouse-server` with a generated configuration, or the
//! chdb engine behind the testkit's HTTP front (`chdb_front.py`), which serves ClickHouse's
//! HTTP interface where no current server can be installed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use marketprism_servers::{free_port_block, get_text, ClickHouseSpec, Readiness, Service};
use tempfile::TempDir;

use crate::release::{self, ClickHouseProgram, Release};
use crate::ServerError;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

const PROGRAM: &str = "clickhouse";

/// The HTTP front over chdb, written into the front's state directory at start.
const CHDB_FRONT: &str = include_str!("chdb_front.py");

/// A running ClickHouse configured as `marketprism up` configures a server (loopback, user
/// `default` without password), its data in a temporary directory.
#[derive(Debug)]
pub struct ClickHouseServer {
    process: Service,
    program: ClickHouseProgram,
    version: String,
    http_port: u16,
    tcp_port: Option<u16>,
    state: TempDir,
}

impl ClickHouseServer {
    /// Starts a current ClickHouse on free ports and waits until `/ping` answers.
    pub fn start() -> Result<Self, ServerError> {
        Self::start_release(Release::Current)
    }

    /// Starts a ClickHouse of `release` on free ports and waits until `/ping` answers.
    pub fn start_release(release: Release) -> Result<Self, ServerError> {
        let io_error = |source| ServerError::Io {
            program: PROGRAM,
            source,
        };
        let program = release::clickhouse(release)?;
        let state = tempfile::Builder::new()
            .prefix("marketprism-clickhouse-")
            .tempdir()
            .map_err(io_error)?;
        // Below the ephemeral range: no outgoing connection takes them before the bind.
        let http_port = free_port_block(2).map_err(io_error)?;
        let tcp_port = match &program {
            ClickHouseProgram::Server(_) => Some(http_port + 1),
            ClickHouseProgram::Chdb(_) => None,
        };
        let command = match &program {
            ClickHouseProgram::Server(binary) => ClickHouseSpec {
                http_port,
                tcp_port: tcp_port.unwrap_or_default(),
                dir: state.path(),
                users: &[],
                cluster: None,
            }
            .command(binary)
            .map_err(io_error)?,
            ClickHouseProgram::Chdb(python) => {
                let front = state.path().join("chdb_front.py");
                std::fs::write(&front, CHDB_FRONT).map_err(io_error)?;
                let mut command = Command::new(python);
                command
                    .arg(&front)
                    .args(["--port", &http_port.to_string(), "--path"])
                    .arg(state.path().join("data"))
                    // chdb reads `config.xml` from its working directory.
                    .current_dir(state.path());
                command
            }
        };
        let log = state.path().join("clickhouse.log");
        let mut process = Service::spawn(PROGRAM, command, &log).map_err(io_error)?;
        let url = format!("http://127.0.0.1:{http_port}");
        let ping = Readiness::Http(format!("{url}/ping"));
        if let Err(reason) = process.wait_ready(&ping, READY_TIMEOUT) {
            let _ = process.kill();
            return Err(ServerError::not_ready(PROGRAM, reason, &log));
        }
        let version = get_text(&format!("{url}/?query=SELECT%20version()"))
            .map_or_else(|_| "unknown".to_owned(), |body| body.trim().to_owned());
        Ok(ClickHouseServer {
            process,
            program,
            version,
            http_port,
            tcp_port,
            state,
        })
    }

    /// The HTTP interface URL, e.g. `http://127.0.0.1:8123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The native-protocol port `clickhouse-client` connects to; none for the chdb engine,
    /// which serves HTTP only.
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.state.path().join("clickhouse.log")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The server's version, as `SELECT version()` answers it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What runs, for reports: e.g. `clickhouse-server 18.16.1 (/usr/sbin/clickhouse-server)`
    /// or `ClickHouse 26.9.2.1 (chdb engine behind the test front)`.
    pub fn description(&self) -> String {
        match &self.program {
            ClickHouseProgram::Server(binary) => {
                format!("clickhouse-server {} ({})", self.version, binary.display())
            }
            ClickHouseProgram::Chdb(_) => {
                format!(
                    "ClickHouse {} (chdb engine behind the test front)",
                    self.version
                )
            }
        }
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
    }
}
