//! The `nats-server` command line: loopback, a port, JetStream with its store directory,
//! optionally the HTTP monitoring endpoint (`/healthz`, `/jsz`, ...) and a configuration
//! file admitting only given users ([`write_authorization`]).

use std::io;
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::http::get_text;

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
    /// A configuration file for what the command line cannot say, such as the users
    /// [`write_authorization`] writes; the command line's settings take precedence.
    pub config: Option<&'a Path>,
}

impl NatsSpec<'_> {
    /// The command starting this server.
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        if let Some(config) = self.config {
            command.arg("--config").arg(config);
        }
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

/// A client the server admits by its nkey, and the subjects it may use. A subject outside
/// both lists is refused with a permissions violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUser {
    /// The user's public nkey (`U...`); the client signs with the matching seed.
    pub nkey: String,
    /// Subjects (with wildcards) the user may publish to.
    pub publish: Vec<String>,
    /// Subjects (with wildcards) the user may subscribe to.
    pub subscribe: Vec<String>,
}

/// Writes a server configuration file admitting exactly `users`, each with its permissions,
/// for [`NatsSpec::config`]. It holds public keys only.
pub fn write_authorization(path: &Path, users: &[NatsUser]) -> io::Result<()> {
    write_config(path, &json!({ "authorization": authorization(users) }))
}

/// The `authorization` block admitting exactly `users`, each with its permissions.
pub fn authorization(users: &[NatsUser]) -> serde_json::Value {
    let users: Vec<_> = users
        .iter()
        .map(|user| {
            json!({
                "nkey": user.nkey,
                "permissions": {
                    "publish": { "allow": user.publish },
                    "subscribe": { "allow": user.subscribe },
                },
            })
        })
        .collect();
    json!({ "users": users })
}

/// Writes `config` as a server configuration file: JSON, which the server's configuration
/// format accepts.
pub fn write_config(path: &Path, config: &serde_json::Value) -> io::Result<()> {
    let text = serde_json::to_string_pretty(config).map_err(io::Error::other)?;
    std::fs::write(path, text + "\n").map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot write {}: {error}", path.display()),
        )
    })
}

/// The JetStream cluster's meta leader as the server whose HTTP monitoring answers at
/// `monitoring_url` (`http://127.0.0.1:8222`) reports it in `/jsz`; `None` while there is
/// none (streams cannot be created until there is) or the server does not answer.
pub fn meta_leader(monitoring_url: &str) -> Option<String> {
    let answer = get_text(&format!("{monitoring_url}/jsz")).ok()?;
    let jsz: serde_json::Value = serde_json::from_str(&answer).ok()?;
    let leader = jsz["meta_cluster"]["leader"].as_str()?;
    (!leader.is_empty()).then(|| leader.to_owned())
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
            config: None,
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
