//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure: fmt, the
//! Nix checks, the Prometheus rules (promtool), clippy, the pinned current servers (installed
//! or checked), the workspace tests, the end-to-end check.

use marketprism_testkit::{cargo, run_command};

use crate::harness::{self, Harness};

pub fn run() -> anyhow::Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run_command(fmt)?;

    if crate::nix::available() {
        crate::nix::run()?;
    } else if std::env::var_os("CI").is_some() {
        anyhow::bail!("nix-instantiate is missing: CI must install nix-bin (see .ci/run)");
    } else {
        eprintln!(
            "nix-instantiate not found: skipping the Nix checks (Debian: apt-get install nix-bin)"
        );
    }

    if crate::monitoring::available() {
        crate::monitoring::run()?;
    } else if std::env::var_os("CI").is_some() {
        anyhow::bail!("promtool is missing: CI must install prometheus (see .ci/run)");
    } else {
        eprintln!(
            "promtool not found: skipping the Prometheus rules check (Debian: apt-get install prometheus)"
        );
    }

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

    crate::servers::run()?;

    let mut test = cargo();
    test.args(["test", "--workspace"]);
    run_command(test)?;

    harness::run(Harness::E2e, &[])
}
