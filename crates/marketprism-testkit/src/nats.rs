//! A `nats-server -js` child process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use marketprism_servers::{free_port, version_output, NatsSpec, Readiness, Service};
use tempfile::TempDir;

use crate::release::{self, Release};
use crate::ServerError;

const READY_TIMEOUT: Duration = Duration::from_secs(20);

const PROGRAM: &str = "nats-server";

/// A running NATS server with JetStream, its store in a temporary directory.
#[derive(Debug)]
pub struct NatsServer {
    process: Service,
    program: PathBuf,
    version: String,
    port: u16,
    monitoring_port: u16,
    jetstream: bool,
    store_dir: PathBuf,
    state: TempDir,
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
        let io_error = |source| ServerError::Io {
            program: PROGRAM,
            source,
        };
        let program = release::nats_server(release)?;
        let version = version_of(&program);
        let state = tempfile::Builder::new()
            .prefix("marketprism-nats-")
            .tempdir()
            .map_err(io_error)?;
        let port = free_port().map_err(io_error)?;
        let monitoring_port = free_port().map_err(io_error)?;
        let store_dir = store_dir.map_or_else(|| state.path().join("jetstream"), Path::to_owned);
        let process = Self::spawn(
            &program,
            state.path(),
            &store_dir,
            port,
            monitoring_port,
            jetstream,
        )?;
        Ok(NatsServer {
            process,
            program,
            version,
            port,
            monitoring_port,
            jetstream,
            store_dir,
            state,
        })
    }

    /// Starts the server and waits until it answers: with JetStream, until its monitoring
    /// `/healthz` reports JetStream enabled (the port opens before JetStream answers, and a
    /// request in between gets "no responders").
    fn spawn(
        program: &Path,
        state: &Path,
        store_dir: &Path,
        port: u16,
        monitoring_port: u16,
        jetstream: bool,
    ) -> Result<Service, ServerError> {
        let command = NatsSpec {
            port,
            store_dir,
            jetstream,
            config: None,
        }
        .command_with_monitoring(program, monitoring_port);
        let readiness = if jetstream {
            Readiness::Http(format!(
                "http://127.0.0.1:{monitoring_port}/healthz?js-enabled-only=true"
            ))
        } else {
            Readiness::Port(port)
        };
        let log = state.join("nats.log");
        let mut process =
            Service::spawn(PROGRAM, command, &log).map_err(|source| ServerError::Io {
                program: PROGRAM,
                source,
            })?;
        if let Err(reason) = process.wait_ready(&readiness, READY_TIMEOUT) {
            let _ = process.kill();
            return Err(ServerError::not_ready(PROGRAM, reason, &log));
        }
        Ok(process)
    }

    /// The client URL, e.g. `nats://127.0.0.1:4222`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
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
        format!("nats-server {} ({})", self.version, self.program.display())
    }

    /// Freezes the server (SIGSTOP): clients keep their connections, and nothing answers
    /// until [`NatsServer::resume`], as with a hung server.
    pub fn pause(&self) -> Result<(), ServerError> {
        self.process.pause().map_err(|source| ServerError::Io {
            program: PROGRAM,
            source,
        })
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) -> Result<(), ServerError> {
        self.process.resume().map_err(|source| ServerError::Io {
            program: PROGRAM,
            source,
        })
    }

    /// Kills the server (SIGKILL), as a crash would; [`NatsServer::restart`] starts it again.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        self.process
            .kill()
            .map(drop)
            .map_err(|source| ServerError::Io {
                program: PROGRAM,
                source,
            })
    }

    /// Stops the server and starts it again on the same port with the same store, as a
    /// production restart would.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        let _ = self.process.kill();
        self.process = Self::spawn(
            &self.program,
            self.state.path(),
            &self.store_dir,
            self.port,
            self.monitoring_port,
            self.jetstream,
        )?;
        Ok(())
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
