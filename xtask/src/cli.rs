//! The command line of `cargo xtask`: every task and its options, parsed by clap.
//!
//! A library module so that tests can parse command lines (those the documentation shows)
//! without running them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `cargo xtask`: the project's automation tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "MarketPrism project automation")]
pub struct Cli {
    /// The task.
    #[command(subcommand)]
    pub task: Task,
}

/// The tasks.
#[derive(Debug, Subcommand)]
pub enum Task {
    /// Run the criterion benchmarks (or, with `--e2e`, the whole pipeline) and report
    /// throughput and ratios to baselines measured in the same run (`--help`: options).
    #[command(disable_help_flag = true)]
    Bench {
        /// Options of the benchmark harness.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Run every check CI runs: fmt, Nix, Prometheus rules, clippy, tests, e2e.
    Ci,
    /// Deploy locally: `--fresh`, `--update` or `--clean --yes`.
    Deploy(DeployArgs),
    /// Verify the pipeline end to end against real NATS and ClickHouse (`--help`: options).
    #[command(disable_help_flag = true)]
    E2e {
        /// Options of the end-to-end harness.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Check the Prometheus rules with promtool: `check rules`, then `test rules`.
    Monitoring,
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

/// Options of `cargo xtask deploy`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["fresh", "update", "clean"])))]
pub struct DeployArgs {
    /// Check the machine, install what is missing, build and start everything.
    #[arg(long)]
    pub fresh: bool,
    /// Rebuild and restart without losing data.
    #[arg(long)]
    pub update: bool,
    /// Stop everything and delete the state (needs --yes).
    #[arg(long)]
    pub clean: bool,
    /// Confirms --clean.
    #[arg(long)]
    pub yes: bool,
    /// Use the simulator as the data source.
    #[arg(long)]
    pub sim: bool,
    /// State directory (default: marketprism's default).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}
