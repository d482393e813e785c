//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.

use crate::{cargo, run_command};

pub fn run() -> anyhow::Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run_command(fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run_command(clippy)?;

    let mut test = cargo();
    test.args(["test", "--workspace"]);
    run_command(test)?;

    crate::e2e::run(crate::e2e::Args::default())
}
