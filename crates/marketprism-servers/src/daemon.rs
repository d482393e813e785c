//! Background processes that outlive the command starting them: spawned detached, tracked by
//! pid file and command-line marker, stopped gracefully.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::signal;
use crate::spawn::{spawn_logged, Lifetime, SpawnError};

/// How often a stopping process is checked.
const POLL: Duration = Duration::from_millis(100);

/// Starts `command` in a process group of its own (so that a Ctrl-C at the terminal does not
/// reach it), output appended to `log`, and records its pid in `pid_file`.
///
/// The returned handle is for watching start-up only. It is never waited for to the end:
/// the process outlives this command, and when this command exits, init adopts and reaps it.
pub fn spawn_daemon(command: Command, log: &Path, pid_file: &Path) -> Result<Child, SpawnError> {
    let mut child = spawn_logged(command, log, Lifetime::Detached)?;
    if let Err(source) = std::fs::write(pid_file, format!("{}\n", child.id())) {
        // Untracked, it could never be stopped by `down`: stop it now.
        let _ = child.kill();
        let _ = child.wait();
        return Err(SpawnError::PidFile {
            path: pid_file.to_owned(),
            source,
        });
    }
    Ok(child)
}

/// The pid recorded in `pid_file`, if it holds one.
pub fn read_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) process whose command line mentions `marker`; the
/// marker guards against a recycled pid. Outside Linux only existence is checked.
pub fn is_alive(pid: u32, marker: &str) -> bool {
    if !signal::exists(pid) {
        return false;
    }
    if cfg!(target_os = "linux") {
        if matches!(process_state(pid), Some('Z') | None) {
            return false;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        return String::from_utf8_lossy(&cmdline).contains(marker);
    }
    true
}

/// Whether process `pid` is stopped by a signal (SIGSTOP, SIGTSTP) or a tracer, so it
/// answers nothing until it is continued. Always false outside Linux.
pub fn is_stopped(pid: u32) -> bool {
    cfg!(target_os = "linux") && matches!(process_state(pid), Some('T' | 't'))
}

/// The state letter of process `pid` in `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
}

/// Sends SIGTERM to the process `pid` (whose command line mentions `marker`) and waits up to
/// `grace` for it to exit, then SIGKILLs it. Returns true when it exited on SIGTERM or was
/// not running.
pub fn stop(pid: u32, marker: &str, grace: Duration) -> bool {
    if !is_alive(pid, marker) {
        return true;
    }
    let _ = signal::send(pid, Signal::SIGTERM);
    let started = Instant::now();
    while started.elapsed() < grace {
        if !is_alive(pid, marker) {
            return true;
        }
        std::thread::sleep(POLL);
    }
    let _ = signal::send(pid, Signal::SIGKILL);
    false
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn a_daemon_that_cannot_run_names_its_executable() {
        let dir = tempfile::tempdir().expect("dir");
        let program = dir.path().join("not-executable");
        std::fs::write(&program, "#!/bin/sh\n").expect("write");
        let error = spawn_daemon(
            Command::new(&program),
            &dir.path().join("daemon.log"),
            &dir.path().join("daemon.pid"),
        )
        .expect_err("not executable");
        assert!(matches!(error, SpawnError::Run { .. }), "{error:?}");
        assert_eq!(
            io::Error::from(error).to_string(),
            format!(
                "cannot run {}: Permission denied (os error 13)",
                program.display()
            )
        );

        let mut sleep = Command::new("sleep");
        sleep.arg("62");
        let pid_file = dir.path().join("missing/daemon.pid");
        let error = spawn_daemon(sleep, &dir.path().join("daemon.log"), &pid_file)
            .expect_err("no such directory");
        assert_eq!(
            error.to_string(),
            format!("cannot write the pid file {}", pid_file.display())
        );
        let log = dir.path().join("missing/daemon.log");
        let error = spawn_daemon(Command::new("true"), &log, &dir.path().join("daemon.pid"))
            .expect_err("no such directory");
        assert_eq!(
            error.to_string(),
            format!("cannot open the log {}", log.display())
        );
    }

    #[test]
    fn a_daemon_is_found_by_pid_file_and_marker_and_stopped() {
        let dir = tempfile::tempdir().expect("dir");
        let pid_file = dir.path().join("sleep.pid");
        let mut sleep = Command::new("sleep");
        sleep.arg("61");
        let mut child =
            spawn_daemon(sleep, &dir.path().join("sleep.log"), &pid_file).expect("spawns");
        let pid = read_pid(&pid_file).expect("pid recorded");
        assert_eq!(pid, child.id());
        // Right after the fork the command line may still be this process's.
        let started = Instant::now();
        while !is_alive(pid, "61") && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_alive(pid, "61"));
        assert!(!is_alive(pid, "a marker it lacks"));
        assert!(!is_stopped(pid));
        signal::send(pid, Signal::SIGSTOP).expect("stops");
        let started = Instant::now();
        while !is_stopped(pid) && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_stopped(pid));
        assert!(is_alive(pid, "61"), "a stopped process is alive");
        signal::send(pid, Signal::SIGCONT).expect("continues");
        // This test is the parent, so the stopped process stays a zombie until reaped; the
        // zombie counts as stopped.
        assert!(stop(pid, "61", Duration::from_secs(5)));
        assert!(!child.wait().expect("reaped").success());
        assert!(stop(pid, "61", Duration::from_secs(5)), "already stopped");
    }
}
