//! The `nats-server` command line: loopback, a port, JetStream with its store directory.

use std::path::Path;
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
