//! The `nats-server` command line: loopback, a port, JetStream with its store directory,
//! optionally the HTTP monitoring endpoint (`/healthz`, `/jsz`, ...).

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

    /// The command starting this server with its HTTP monitoring endpoint (`/healthz`,
    /// `/jsz`, ...) on `127.0.0.1:monitoring_port`.
    pub fn command_with_monitoring(&self, binary: &Path, monitoring_port: u16) -> Command {
        let mut command = self.command(binary);
        command.args(["--http_port", &monitoring_port.to_string()]);
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitoring_is_on_the_given_port() {
        let spec = NatsSpec {
            port: 4222,
            store_dir: Path::new("/state/nats"),
            jetstream: true,
        };
        let binary = Path::new("/usr/sbin/nats-server");
        let args = |command: Command| -> Vec<String> {
            command
                .get_args()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect()
        };
        let plain = args(spec.command(binary));
        assert!(!plain.iter().any(|arg| arg == "--http_port"), "{plain:?}");
        let monitored = args(spec.command_with_monitoring(binary, 8222));
        assert!(
            monitored.ends_with(&["--http_port".to_owned(), "8222".to_owned()]),
            "{monitored:?}"
        );
    }
}
