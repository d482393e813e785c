//! One-shot commands run to their end with their output in a log file.

use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use crate::log;

/// Lines of the log an error quotes.
const QUOTED_LINES: usize = 20;

/// A one-shot command could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not be started, or its log could not be opened.
    #[error("cannot run {what}")]
    Spawn {
        /// The command, as the caller named it.
        what: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// It ran and failed.
    #[error("{what} failed ({status}); log:\n{log_tail}")]
    Failed {
        /// The command, as the caller named it.
        what: String,
        /// Its exit status.
        status: ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
}

/// Runs `command` to its end with stdin closed and stdout and stderr appended to `log`, and
/// fails, quoting the log's last lines, when it fails. `what` names the command in errors,
/// e.g. `marketprism migrate`.
pub fn run_logged(what: &str, mut command: Command, log: &Path) -> Result<(), RunError> {
    let spawn_error = |source| RunError::Spawn {
        what: what.to_owned(),
        source,
    };
    let output = log::append(log).map_err(spawn_error)?;
    let status = command
        .stdin(Stdio::null())
        .stdout(output.try_clone().map_err(spawn_error)?)
        .stderr(output)
        .status()
        .map_err(spawn_error)?;
    if status.success() {
        return Ok(());
    }
    Err(RunError::Failed {
        what: what.to_owned(),
        status,
        log_tail: log::log_tail(log, QUOTED_LINES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_quotes_the_log() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("tool.log");
        let mut succeeding = Command::new("sh");
        succeeding.args(["-c", "echo first run"]);
        run_logged("first", succeeding, &log).expect("succeeds");
        let mut failing = Command::new("sh");
        failing.args(["-c", "echo cannot connect >&2; exit 2"]);
        let error = run_logged("second", failing, &log).expect_err("fails");
        assert!(matches!(&error, RunError::Failed { status, .. } if status.code() == Some(2)));
        assert_eq!(
            error.to_string(),
            "second failed (exit status: 2); log:\nfirst run\ncannot connect"
        );
    }
}
