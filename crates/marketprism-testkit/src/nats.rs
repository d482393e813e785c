//! A `nats-server -js` child process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use marketprism_servers::{free_port_block, version_output, NatsSpec, Readiness, Service};
use tempfile::TempDir;

use crate::release::{self, Release};
use crate::ServerError;

const READY_TIMEOUT: Duration = Duration::from_secs(20);

const PROGRAM: &str = "nats-server";

/// A running NATS server with JetStream, its store in a temporary directory.
#[derive(Debug)]
pub struct NatsServer {
    process: Service,
    launch: Launch,
    version: String,
    state: TempDir,
}

/// How a server is started, kept to start it again the same way.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub(crate) program: PathBuf,
    pub(crate) port: u16,
    pub(crate) monitoring_port: u16,
    pub(crate) jetstream: bool,
    /// The JetStream store; `jetstream/` in the server's temporary directory when `None`.
    pub(crate) store_dir: Option<PathBuf>,
    /// A configuration file for what the command line cannot say (a cluster).
    pub(crate) config: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a current server on a free port and waits until it accepts connections.
    pub fn start() -> Result<Self, ServerError> {
        Self::start_release(Release::Current)
    }

    /// Starts a server of `release` on a free port and waits until it accepts connections.
    pub fn start_release(release: Release) -> Result<Self, ServerError> {
        Self::start_with(release, true, None)
    }

    /// Starts a server without JetStream, to check what users of a misconfigured server see.
    pub fn start_without_jetstream() -> Result<Self, ServerError> {
        Self::start_with(Release::Current, false, None)
    }

    /// Starts a current server whose JetStream store is `store_dir` (created), e.g. on a
    /// small filesystem that a test fills.
    pub fn start_with_store(store_dir: &Path) -> Result<Self, ServerError> {
        Self::start_with(Release::Current, true, Some(store_dir))
    }

    fn start_with(
        release: Release,
        jetstream: bool,
        store_dir: Option<&Path>,
    ) -> Result<Self, ServerError> {
        // Below the ephemeral range: no outgoing connection takes them before the bind.
        let port = free_port_block(2).map_err(io_error)?;
        Self::launch(Launch {
            program: release::nats_server(release)?,
            port,
            monitoring_port: port + 1,
            jetstream,
            store_dir: store_dir.map(Path::to_owned),
            config: None,
        })
    }

    /// Starts a server as `launch` says, in a new temporary directory, and waits until it
    /// is ready.
    pub(crate) fn launch(launch: Launch) -> Result<Self, ServerError> {
        let mut server = Self::launch_unready(launch)?;
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Starts a server as `launch` says, in a new temporary directory, without waiting: the
    /// nodes of a cluster are ready only once they see each other. The process is tied to
    /// the calling thread (it is killed when that thread ends).
    pub(crate) fn launch_unready(launch: Launch) -> Result<Self, ServerError> {
        let version = version_of(&launch.program);
        let state = tempfile::Builder::new()
            .prefix("marketprism-nats-")
            .tempdir()
            .map_err(io_error)?;
        let process = Self::spawn(&launch, state.path())?;
        Ok(NatsServer {
            process,
            launch,
            version,
            state,
        })
    }

    /// Starts the server's process.
    fn spawn(launch: &Launch, state: &Path) -> Result<Service, ServerError> {
        let store_dir = launch
            .store_dir
            .clone()
            .unwrap_or_else(|| state.join("jetstream"));
        let command = NatsSpec {
            port: launch.port,
            store_dir: &store_dir,
            jetstream: launch.jetstream,
            config: launch.config.as_deref(),
        }
        .command_with_monitoring(&launch.program, launch.monitoring_port);
        Service::spawn(PROGRAM, command, &state.join("nats.log")).map_err(io_error)
    }

    /// Waits until the server answers: with JetStream, until its monitoring `/healthz`
    /// reports JetStream enabled (the port opens before JetStream answers, and a request in
    /// between gets "no responders"). A server that is not ready in time is killed.
    pub(crate) fn wait_until_ready(&mut self) -> Result<(), ServerError> {
        let readiness = if self.launch.jetstream {
            Readiness::Http(format!(
                "http://127.0.0.1:{}/healthz?js-enabled-only=true",
                self.launch.monitoring_port
            ))
        } else {
            Readiness::Port(self.launch.port)
        };
        if let Err(reason) = self.process.wait_ready(&readiness, READY_TIMEOUT) {
            let _ = self.process.kill();
            return Err(ServerError::not_ready(PROGRAM, reason, &self.log_path()));
        }
        Ok(())
    }

    /// The client URL, e.g. `nats://127.0.0.1:4222`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.launch.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.launch.port
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.state.path().join("nats.log")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The server's version, e.g. `2.15.1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What runs, for reports: e.g. `nats-server 2.15.1 (/usr/sbin/nats-server)`.
    pub fn description(&self) -> String {
        format!(
            "nats-server {} ({})",
            self.version,
            self.launch.program.display()
        )
    }

    /// Freezes the server (SIGSTOP): clients keep their connections, and nothing answers
    /// until [`NatsServer::resume`], as with a hung server.
    pub fn pause(&self) -> Result<(), ServerError> {
        self.process.pause().map_err(io_error)
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) -> Result<(), ServerError> {
        self.process.resume().map_err(io_error)
    }

    /// Kills the server (SIGKILL), as a crash would; [`NatsServer::restart`] starts it again.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        self.process.kill().map(drop).map_err(io_error)
    }

    /// Stops the server and starts it again on the same port with the same store, as a
    /// production restart would.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        let _ = self.process.kill();
        self.process = Self::spawn(&self.launch, self.state.path())?;
        self.wait_until_ready()
    }

    /// The monitoring endpoint's base URL, e.g. `http://127.0.0.1:8222`.
    pub fn monitoring_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.launch.monitoring_port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
    }
}

/// The version `nats-server --version` reports (`nats-server: v2.15.1` gives `2.15.1`), or
/// `unknown`.
fn version_of(program: &Path) -> String {
    version_output(program)
        .and_then(|answer| {
            answer
                .split_whitespace()
                .last()
                .map(|word| word.trim_start_matches('v').to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// An I/O failure of nats-server.
pub(crate) fn io_error(source: std::io::Error) -> ServerError {
    ServerError::Io {
        program: PROGRAM,
        source,
    }
}
