//! A supervised child process with its output in a log file, stopped on drop.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::process::spawn_logged;

/// How long a service gets to exit after SIGTERM when dropped.
const DROP_GRACE: Duration = Duration::from_secs(10);

/// A running child process: a MarketPrism service, a simulator, a server.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: impl Into<String>, command: Command, log: &Path) -> io::Result<Self> {
        let child = spawn_logged(command, log)?;
        Ok(Service {
            name: name.into(),
            child,
            log: log.to_owned(),
        })
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> io::Result<ExitStatus> {
        self.child.kill()?;
        self.child.wait()
    }

    /// Asks the process to stop (SIGTERM), and kills it if it has not exited after `grace`.
    pub fn terminate(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.exit_status() {
            return Ok(status);
        }
        signal_terminate(self.child.id())?;
        let started = Instant::now();
        while started.elapsed() < grace {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.terminate(DROP_GRACE);
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn signal_terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's, which
    // cannot be reused before we reap it.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn signal_terminate(_pid: u32) -> io::Result<()> {
    Err(io::Error::other(
        "graceful termination needs a Unix platform",
    ))
}
