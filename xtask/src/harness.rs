//! `cargo xtask e2e` and `cargo xtask bench`: the end-to-end scenarios and the benchmarks
//! live in the `marketprism-tests` crate under `tests/`; these tasks run its binaries,
//! optimized, with the options given (`--help` lists them).

use std::ffi::OsString;
use std::process::Command;

use marketprism_testkit::{build_binaries, run_command};

/// A binary of the harness.
#[derive(Debug, Clone, Copy)]
pub enum Harness {
    /// The end-to-end scenarios.
    E2e,
    /// The benchmarks.
    Bench,
}

/// Runs `harness` with `args`. It is built optimized (the benchmark's baselines run inside
/// it) by the same build as the `marketprism` binary it runs.
pub fn run(harness: Harness, args: &[OsString]) -> anyhow::Result<()> {
    let binary = match harness {
        Harness::E2e => "e2e",
        Harness::Bench => "bench",
    };
    let mut command = Command::new(build_binaries(true)?.join(binary));
    command.args(args);
    Ok(run_command(command)?)
}
