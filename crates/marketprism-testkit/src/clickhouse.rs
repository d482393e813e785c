//! A `clickhouse-server` child process with a generated configuration.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use marketprism_deploy::servers::ClickHouseSpec;
use marketprism_deploy::{find_binary, Binary};
use tempfile::TempDir;

use crate::process::{free_port, spawn, stop, wait_until};
use crate::ServerError;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running ClickHouse server configured as `marketprism up` configures it, its data in a
/// temporary directory.
#[derive(Debug)]
pub struct ClickHouseServer {
    child: Child,
    http_port: u16,
    state: TempDir,
}

impl ClickHouseServer {
    /// Starts a server on free ports and waits until `/ping` answers.
    pub fn start() -> Result<Self, ServerError> {
        let io_error = |source| ServerError::Io {
            program: "clickhouse-server",
            source,
        };
        let program = find_binary(Binary::ClickhouseServer, None)?;
        let state = tempfile::Builder::new()
            .prefix("marketprism-clickhouse-")
            .tempdir()
            .map_err(io_error)?;
        let http_port = free_port().map_err(io_error)?;
        let tcp_port = free_port().map_err(io_error)?;
        let command = ClickHouseSpec {
            http_port,
            tcp_port,
            dir: state.path(),
        }
        .command(&program)
        .map_err(io_error)?;
        let log = state.path().join("clickhouse.log");
        let mut child = spawn("clickhouse-server", command, &log)?;
        wait_until("clickhouse-server", &mut child, &log, READY_TIMEOUT, || {
            ping(http_port)
        })?;
        Ok(ClickHouseServer {
            child,
            http_port,
            state,
        })
    }

    /// The HTTP interface URL, e.g. `http://127.0.0.1:8123`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.state.path().join("clickhouse.log")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// True when `GET /ping` answers `Ok.`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.ends_with("Ok.\n")
}
