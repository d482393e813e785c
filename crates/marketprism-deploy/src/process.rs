//! Background processes: spawn detached, track by pid file, stop gracefully.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Starts `command` in its own process group (so a Ctrl-C at the terminal does not reach
/// it), output appended to `log`, and records its pid in `pid_file`.
///
/// The returned handle is for watching start-up only. It is never waited for to the end:
/// the process outlives this command, and when this command exits, init adopts and reaps it.
pub(crate) fn spawn_daemon(mut command: Command, log: &Path, pid_file: &Path) -> io::Result<Child> {
    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    command
        .stdin(Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output)
        .process_group(0);
    let child = command.spawn()?;
    std::fs::write(pid_file, format!("{}\n", child.id()))?;
    Ok(child)
}

/// The pid recorded in `pid_file`.
pub(crate) fn read_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) process whose command line mentions `marker`; the
/// marker guards against a recycled pid.
pub(crate) fn is_alive(pid: u32, marker: &str) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if kill(Pid::from_raw(raw), None).is_err() {
        return false;
    }
    if cfg!(target_os = "linux") {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, Some('Z') | None) {
            return false;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        return String::from_utf8_lossy(&cmdline).contains(marker);
    }
    true
}

/// Sends SIGTERM and waits up to `grace` for the process to exit, then SIGKILLs it.
/// Returns true when it exited on SIGTERM.
pub(crate) fn stop(pid: u32, marker: &str, grace: Duration) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return true;
    };
    if !is_alive(pid, marker) {
        return true;
    }
    let _ = kill(Pid::from_raw(raw), Signal::SIGTERM);
    let started = Instant::now();
    while started.elapsed() < grace {
        if !is_alive(pid, marker) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
    false
}

/// True when nothing listens on `127.0.0.1:port`.
pub(crate) fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// True when something accepts connections on `127.0.0.1:port`.
pub(crate) fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &(std::net::Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// The last `lines` lines of a log file.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
