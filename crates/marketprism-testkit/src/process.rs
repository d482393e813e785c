//! Child-process plumbing shared by the servers.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The executable was not found where deployments look for it.
    #[error(transparent)]
    NotInstalled(#[from] marketprism_deploy::DeployError),
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
    #[error("cannot start {program}: {source}")]
    Io {
        /// The executable.
        program: &'static str,
        /// The failure.
        source: io::Error,
    },
    /// The server exited or did not become ready in time.
    #[error("{program} did not become ready within {waited:?}; last log lines:\n{log_tail}")]
    NotReady {
        /// The executable.
        program: &'static str,
        /// How long readiness was awaited.
        waited: Duration,
        /// The end of the server's log.
        log_tail: String,
    },
}

/// A free TCP port on 127.0.0.1, as the kernel hands it out.
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Spawns `command` with stdout and stderr appended to `log`, killed when this process dies
/// (Linux).
pub(crate) fn spawn_logged(mut command: Command, log: &Path) -> io::Result<Child> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let log_err = log_file.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    die_with_parent(&mut command);
    command.spawn()
}

/// Spawns a server; see [`spawn_logged`].
pub(crate) fn spawn(
    program: &'static str,
    command: Command,
    log: &Path,
) -> Result<Child, ServerError> {
    spawn_logged(command, log).map_err(|source| ServerError::Io { program, source })
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and calls only prctl, which is
    // async-signal-safe; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// Polls until `ready` answers true, the child exits, or `timeout` passes.
pub(crate) fn wait_until(
    program: &'static str,
    child: &mut Child,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), ServerError> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if ready() {
            return Ok(());
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(ServerError::NotReady {
        program,
        waited: started.elapsed(),
        log_tail: log_tail(log),
    })
}

/// True when something accepts TCP connections on `127.0.0.1:port`.
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// The last lines of a log file, for error messages.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Kills and reaps a child, ignoring one that already exited.
pub(crate) fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
