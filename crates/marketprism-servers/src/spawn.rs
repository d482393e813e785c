//! Spawning a process with its output appended to a log file, tied to this process or
//! detached from it.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::log;

/// How long a spawned process may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// No longer than the thread that spawned it: on Linux the kernel kills it (SIGKILL) when
    /// that thread ends, so an aborted test or harness leaves nothing running. Without
    /// util-linux's `setpriv` (other systems), it lives until it is stopped.
    WithParent,
    /// Beyond this process: in a process group of its own, so that a Ctrl-C at the terminal
    /// does not reach it either; when this process exits, init adopts and reaps it.
    Detached,
}

/// A process could not be started; each variant names the file and the step.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Its log file could not be opened.
    #[error("cannot open the log {}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The executable could not be run (missing, not executable, ...).
    #[error("cannot run {}", program.display())]
    Run {
        /// The executable.
        program: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// Its pid file could not be written.
    #[error("cannot write the pid file {}", path.display())]
    PidFile {
        /// The pid file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

impl SpawnError {
    /// The operating system's error beneath.
    fn io(&self) -> &io::Error {
        match self {
            SpawnError::Log { source, .. }
            | SpawnError::Run { source, .. }
            | SpawnError::PidFile { source, .. } => source,
        }
    }
}

impl From<SpawnError> for io::Error {
    /// Keeps the kind of the error beneath; the message names the file, the step and the
    /// cause, e.g. `cannot run /opt/nats-server: Permission denied (os error 13)`.
    fn from(error: SpawnError) -> Self {
        io::Error::new(error.io().kind(), format!("{error}: {}", error.io()))
    }
}

/// Spawns `command` with stdin closed and stdout and stderr appended to `log`.
///
/// [`Lifetime::WithParent`] runs the command under `setpriv --pdeathsig KILL`, which sets
/// the parent-death signal (`PR_SET_PDEATHSIG`) and then executes the command in the same
/// process, so the pid, the exit status and the signals are the command's own. Setting it
/// ourselves would need code between fork and exec (`CommandExt::pre_exec`), which is
/// `unsafe`. The environment and working directory set on `command` carry over; an
/// `env_clear` does not.
pub(crate) fn spawn_logged(
    command: Command,
    log: &Path,
    lifetime: Lifetime,
) -> Result<Child, SpawnError> {
    let log_error = |source| SpawnError::Log {
        path: log.to_owned(),
        source,
    };
    let output = log::append(log).map_err(log_error)?;
    let stdout = output.try_clone().map_err(log_error)?;
    let mut command = match lifetime {
        Lifetime::WithParent if pdeathsig_supported() => under_pdeathsig(&command),
        Lifetime::WithParent => command,
        Lifetime::Detached => {
            let mut command = command;
            command.process_group(0);
            command
        }
    };
    command.stdin(Stdio::null()).stdout(stdout).stderr(output);
    command.spawn().map_err(|source| SpawnError::Run {
        program: PathBuf::from(command.get_program()),
        source,
    })
}

/// Whether `setpriv --pdeathsig` works here (util-linux 2.33 or later, Linux only); asked
/// once per process.
fn pdeathsig_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        cfg!(target_os = "linux")
            && Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--", "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
    })
}

/// `command`, run by `setpriv` with SIGKILL as its parent-death signal.
fn under_pdeathsig(command: &Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args(["--pdeathsig", "KILL", "--"])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;

    #[test]
    fn output_environment_and_directory_carry_over() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("echo.log");
        for lifetime in [Lifetime::WithParent, Lifetime::Detached] {
            let mut command = Command::new("sh");
            command
                .args(["-c", "echo \"$GREETING from $(pwd)\"; echo to stderr >&2"])
                .env("GREETING", "hello")
                .current_dir(dir.path());
            let status = spawn_logged(command, &log, lifetime)
                .map_err(io::Error::from)
                .and_then(|mut child| child.wait())
                .expect("runs");
            assert!(status.success(), "{lifetime:?}: {status}");
        }
        let text = std::fs::read_to_string(&log).expect("log");
        let once = format!("hello from {}\nto stderr\n", dir.path().display());
        assert_eq!(text, once.repeat(2));
    }

    #[test]
    fn a_child_dies_with_the_thread_that_spawned_it() {
        if !pdeathsig_supported() {
            return;
        }
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("sleep.log");
        let spawner = std::thread::spawn(move || {
            let mut sleep = Command::new("sleep");
            sleep.arg("60");
            let child = spawn_logged(sleep, &log, Lifetime::WithParent).map_err(io::Error::from)?;
            // The signal is set by `setpriv` before it executes `sleep`: a thread that ended
            // before then would leave the child unbound.
            let comm = format!("/proc/{}/comm", child.id());
            while std::fs::read_to_string(&comm)?.trim() != "sleep" {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            io::Result::Ok(child)
        });
        let mut child = spawner.join().expect("thread").expect("spawns");
        let status = child.wait().expect("waits");
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    }
}
