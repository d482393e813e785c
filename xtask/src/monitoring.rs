//! `cargo xtask monitoring`: checks the Prometheus rules in `monitoring/prometheus/` with
//! promtool: `promtool check rules` (syntax, PromQL, templates) and `promtool test rules` on
//! every unit test file in `monitoring/prometheus/tests/`. Which metrics the rules and the
//! dashboard may use is checked by `cargo test -p marketprism --test monitoring`.

use std::process::Command;

use anyhow::{bail, Context as _};

use marketprism_testkit::{run_command, workspace_root};

/// The rule file, from the workspace root.
const RULES: &str = "monitoring/prometheus/marketprism.rules.yml";

/// The folder of the rules' unit tests, from the workspace root.
const TESTS: &str = "monitoring/prometheus/tests";

/// Checks the rules, then runs their unit tests; fails on the first failure.
pub fn run() -> anyhow::Result<()> {
    let mut check = Command::new("promtool");
    check.args(["check", "rules", RULES]);
    run_command(check).context("promtool rejects the Prometheus rules")?;

    let mut tests: Vec<String> = std::fs::read_dir(workspace_root().join(TESTS))
        .with_context(|| format!("cannot list {TESTS}"))?
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {TESTS}"))?;
    tests.retain(|name| name.ends_with(".yml"));
    tests.sort();
    if tests.is_empty() {
        bail!("no unit tests of the Prometheus rules in {TESTS}");
    }
    let mut test = Command::new("promtool");
    test.args(["test", "rules"])
        .args(tests.iter().map(|name| format!("{TESTS}/{name}")));
    run_command(test).context("the Prometheus rules fail their unit tests")?;
    Ok(())
}

/// Whether promtool is installed.
pub fn available() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}
