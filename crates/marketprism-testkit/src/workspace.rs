//! The workspace as the project's automation drives it: its root, its target directory,
//! cargo, and the `marketprism` binary it builds.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// A command of the automation could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The failure.
        source: io::Error,
    },
    /// The program ran and failed.
    #[error("{command} failed with {status}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
}

/// The repository root.
pub fn workspace_root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // This crate's manifest is at `<root>/crates/marketprism-testkit`.
    manifest.ancestors().nth(2).unwrap_or(manifest)
}

/// The build's target directory: `$CARGO_TARGET_DIR`, else `target` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// `cargo`: the one running the current build or task when there is one.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command from the workspace root, echoing it, and fails if it fails.
pub fn run_command(mut command: Command) -> Result<(), CommandError> {
    command.current_dir(workspace_root());
    eprintln!("$ {command:?}");
    let status = command.status().map_err(|source| CommandError::Spawn {
        command: format!("{command:?}"),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(CommandError::Failed {
            command: format!("{command:?}"),
            status,
        })
    }
}

/// Builds the `marketprism` binary and the end-to-end harness's binaries (`e2e`, `bench`),
/// optimized when `release`, and returns the directory holding them.
///
/// They are built by one cargo invocation: cargo resolves features per invocation, and the
/// two packages alone resolve some shared dependencies differently, so that built apart
/// every crate they share (the whole service code and most dependencies) would compile
/// twice.
pub fn build_binaries(release: bool) -> Result<PathBuf, CommandError> {
    let mut build = cargo();
    build.args([
        "build",
        "--package",
        "marketprism",
        "--package",
        "marketprism-tests",
        "--bins",
    ]);
    if release {
        build.arg("--release");
    }
    run_command(build)?;
    Ok(target_dir().join(if release { "release" } else { "debug" }))
}

/// Builds the `marketprism` binary (optimized when `release`, with the harness's binaries:
/// see [`build_binaries`]) and returns its path.
pub fn build_marketprism(release: bool) -> Result<PathBuf, CommandError> {
    Ok(build_binaries(release)?.join("marketprism"))
}
