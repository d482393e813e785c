//! What the command-line tests share: running `marketprism` on a state directory as a user
//! does, and reading what it printed.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `marketprism args --state-dir state` to its end.
pub fn marketprism(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marketprism"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("marketprism runs")
}

/// What `output` printed, standard output then standard error.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
