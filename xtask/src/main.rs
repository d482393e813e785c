//! Project automation, invoked as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! * `bench`: benchmarks with same-run baselines (`--e2e`: the whole pipeline);
//! * `ci`: formatting, lints, the workspace tests and the end-to-end check, as CI runs them;
//! * `deploy`: local deployment from a bare machine (`--fresh`, `--update`, `--clean`);
//! * `e2e`: the whole pipeline against real NATS and ClickHouse, checked row by row;
//! * `nix`: the Nix checks possible without a Nix store;
//! * `schema`: renders the ClickHouse DDL into `sql/`;
//! * `servers`: installs the pinned current servers the tests run against.

mod bench;
mod ci;
mod deploy;
mod e2e;
mod nix;
mod pipeline;
mod schema;
mod servers;
mod services;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "MarketPrism project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run the criterion benchmarks (or, with `--e2e`, the whole pipeline) and report
    /// throughput and ratios to baselines measured in the same run.
    Bench(bench::Args),
    /// Run every check CI runs: fmt, clippy, tests, e2e.
    Ci,
    /// Deploy locally: `--fresh`, `--update` or `--clean --yes`.
    Deploy(deploy::Args),
    /// Verify the pipeline end to end against real NATS and ClickHouse.
    E2e(e2e::Args),
    /// Check the Nix files without a Nix store: parse, lock, pure evaluation.
    Nix,
    /// Render the ClickHouse DDL into `sql/` (`--check` fails if it is stale).
    Schema {
        /// Fail instead of writing when `sql/` differs from the code.
        #[arg(long)]
        check: bool,
    },
    /// Install the pinned current servers (nats-server, ClickHouse engine) into
    /// `target/servers`.
    Servers,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Bench(args) => bench::run(args),
        Task::Ci => ci::run(),
        Task::Deploy(args) => deploy::run(args),
        Task::E2e(args) => e2e::run(args),
        Task::Nix => nix::run(),
        Task::Schema { check } => schema::run(check),
        Task::Servers => servers::run(),
    }
}

/// The repository root.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs a command from the repository root, echoing it, and fails if it fails.
fn run_command(mut command: Command) -> anyhow::Result<()> {
    command.current_dir(project_root());
    eprintln!("$ {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// `cargo`, as the one running this task.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}
