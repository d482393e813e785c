//! Command lines and generated configurations for `nats-server` and `clickhouse-server`.
//!
//! Shared by `marketprism up` (persistent state) and the test harness (temporary state), so
//! tests run the servers exactly as deployments do.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A `nats-server` on loopback with its JetStream store in `store_dir`.
#[derive(Debug, Clone)]
pub struct NatsSpec<'a> {
    /// Client port.
    pub port: u16,
    /// JetStream store directory.
    pub store_dir: &'a Path,
    /// Whether JetStream is enabled (it always is for deployments; tests turn it off to
    /// check the error users get).
    pub jetstream: bool,
}

impl NatsSpec<'_> {
    /// The command starting this server.
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command.args(["--addr", "127.0.0.1", "--port", &self.port.to_string()]);
        if self.jetstream {
            command
                .arg("--jetstream")
                .arg("--store_dir")
                .arg(self.store_dir);
        }
        command
    }
}

/// A `clickhouse-server` on loopback with configuration and data under `dir`, user
/// `default` without password, reachable from loopback only.
#[derive(Debug, Clone)]
pub struct ClickHouseSpec<'a> {
    /// HTTP port.
    pub http_port: u16,
    /// Native protocol port.
    pub tcp_port: u16,
    /// Configuration and data directory.
    pub dir: &'a Path,
}

impl ClickHouseSpec<'_> {
    /// Writes `config.xml` and `users.xml` and returns the command starting the server.
    /// The multi-call `clickhouse` binary (as Nix installs it) is run as `clickhouse server`.
    pub fn command(&self, binary: &Path) -> io::Result<Command> {
        let config = self.write_config()?;
        let mut command = Command::new(binary);
        if binary.file_name().is_some_and(|name| name == "clickhouse") {
            command.arg("server");
        }
        command.arg(format!("--config-file={}", config.display()));
        command.current_dir(self.dir);
        Ok(command)
    }

    fn write_config(&self) -> io::Result<PathBuf> {
        std::fs::create_dir_all(self.dir)?;
        let root = self.dir.display();
        // `yandex` is the root element every release accepts (newer ones also take
        // `clickhouse`). Logs go to the console, which the caller redirects to a file.
        let config = format!(
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
"#,
            http_port = self.http_port,
            tcp_port = self.tcp_port,
        );
        let users = r#"<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
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
        let config_path = self.dir.join("config.xml");
        std::fs::write(&config_path, config)?;
        std::fs::write(self.dir.join("users.xml"), users)?;
        Ok(config_path)
    }
}
