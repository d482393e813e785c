//! Signals to processes by pid.

use std::io;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sends `signal` to process `pid`.
pub fn send(pid: u32, signal: Signal) -> io::Result<()> {
    kill(to_pid(pid)?, signal).map_err(io::Error::from)
}

/// Whether process `pid` exists (it may be a zombie): signal 0 checks without sending.
pub fn exists(pid: u32) -> bool {
    to_pid(pid).is_ok_and(|pid| kill(pid, None).is_ok())
}

fn to_pid(pid: u32) -> io::Result<Pid> {
    i32::try_from(pid).map(Pid::from_raw).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("pid {pid} out of range"),
        )
    })
}
