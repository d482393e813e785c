//! A supervised child process with its output in a log file, stopped when dropped.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::ready::{wait_ready, NotReady, Readiness};
use crate::signal;
use crate::spawn::{spawn_logged, Lifetime};

/// How long a service gets to exit after SIGTERM when dropped.
const DROP_GRACE: Duration = Duration::from_secs(10);

/// How often a terminating service is checked.
const POLL: Duration = Duration::from_millis(50);

/// A running child process: a MarketPrism service, a simulator, a server. On Linux the kernel
/// kills it when the thread that started it ends, so an aborted test or harness leaves
/// nothing running; it is asked to stop (SIGTERM, then SIGKILL after ten seconds) when
/// dropped.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `command` with stdout and stderr appended to `log`. The error names the
    /// executable or the log that failed.
    pub fn spawn(name: impl Into<String>, command: Command, log: &Path) -> io::Result<Self> {
        let child = spawn_logged(command, log, Lifetime::WithParent)?;
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

    /// Polls `readiness` until it holds, the process exits or `timeout` passes.
    pub fn wait_ready(&mut self, readiness: &Readiness, timeout: Duration) -> Result<(), NotReady> {
        wait_ready(&mut self.child, readiness, timeout)
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Freezes the process (SIGSTOP), as a hung server would be: its ports still accept
    /// connections, but nothing answers until [`Service::resume`].
    pub fn pause(&self) -> io::Result<()> {
        // The pid is this process's unreaped child, so it cannot have been reused.
        signal::send(self.child.id(), Signal::SIGSTOP)
    }

    /// Lets a paused process go on (SIGCONT).
    pub fn resume(&self) -> io::Result<()> {
        signal::send(self.child.id(), Signal::SIGCONT)
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
        // The pid is this process's unreaped child, so it cannot have been reused.
        signal::send(self.child.id(), Signal::SIGTERM)?;
        let started = Instant::now();
        while started.elapsed() < grace {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(POLL);
        }
        self.kill()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.terminate(DROP_GRACE);
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;

    use super::*;

    #[test]
    fn terminate_asks_first_and_kill_does_not() {
        let dir = tempfile::tempdir().expect("dir");
        let mut trapping = Command::new("sh");
        trapping.args([
            "-c",
            "trap 'echo stopping; exit 0' TERM; echo started; while :; do sleep 0.1; done",
        ]);
        let log = dir.path().join("trapping.log");
        let mut service = Service::spawn("trapping", trapping, &log).expect("spawns");
        assert_eq!(service.name(), "trapping");
        assert_eq!(service.log_path(), log);
        let started = Instant::now();
        while !std::fs::read_to_string(&log).is_ok_and(|text| text.contains("started")) {
            assert!(started.elapsed() < Duration::from_secs(10), "never started");
            std::thread::sleep(POLL);
        }
        let status = service.terminate(Duration::from_secs(10)).expect("stops");
        assert!(status.success(), "{status}");
        assert!(std::fs::read_to_string(&log)
            .expect("log")
            .contains("stopping"));

        let mut sleeping = Command::new("sleep");
        sleeping.arg("30");
        let mut service =
            Service::spawn("sleeping", sleeping, &dir.path().join("sleeping.log")).expect("spawns");
        assert_eq!(service.exit_status(), None);
        let status = service.kill().expect("killed");
        assert_eq!(status.signal(), Some(9));
    }
}
