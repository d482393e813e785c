//! A `clickhouse-server` child process with a generated configuration.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{find_program, free_port, spawn, stop, wait_until};
use crate::ServerError;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running ClickHouse server, its data in a temporary directory, user `default` without a
/// password, listening on loopback only.
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
        let program = find_program("clickhouse-server", "clickhouse-server")?;
        let state = tempfile::Builder::new()
            .prefix("marketprism-clickhouse-")
            .tempdir()
            .map_err(io_error)?;
        let http_port = free_port().map_err(io_error)?;
        let tcp_port = free_port().map_err(io_error)?;
        let config = write_config(state.path(), http_port, tcp_port).map_err(io_error)?;

        let mut command = Command::new(program);
        command.arg(format!("--config-file={}", config.display()));
        command.current_dir(state.path());
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
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

fn write_config(dir: &Path, http_port: u16, tcp_port: u16) -> std::io::Result<PathBuf> {
    let root = dir.display();
    let mut config = String::new();
    // `yandex` is the root element every release accepts (newer ones also take `clickhouse`).
    let _ = write!(
        config,
        r#"<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
</yandex>
"#
    );
    let users = r#"<yandex>
  <profiles><default><max_memory_usage>1073741824</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#;
    let config_path = dir.join("config.xml");
    std::fs::write(&config_path, config)?;
    std::fs::write(dir.join("users.xml"), users)?;
    Ok(config_path)
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
