//! Project automation, invoked as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! * `bench`: benchmarks with same-run baselines (`--e2e`: the whole pipeline), run from
//!   the harness in `tests/`;
//! * `ci`: formatting, lints, the workspace tests and the end-to-end check, as CI runs them;
//! * `deploy`: local deployment from a bare machine (`--fresh`, `--update`, `--clean`);
//! * `e2e`: the whole pipeline against real NATS and ClickHouse, checked row by row, run from
//!   the harness in `tests/`;
//! * `monitoring`: the Prometheus rules checked and unit-tested with promtool;
//! * `nix`: the Nix checks possible without a Nix store;
//! * `schema`: renders the ClickHouse DDL into `sql/`;
//! * `servers`: installs the pinned current servers the tests run against.

mod ci;
mod deploy;
mod harness;
mod monitoring;
mod nix;
mod schema;
mod servers;
mod tidy;

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use harness::Harness;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "MarketPrism project automation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
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
    Deploy(deploy::Args),
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

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Bench { args } => harness::run(Harness::Bench, &args),
        Task::Ci => ci::run(),
        Task::Deploy(args) => deploy::run(args),
        Task::E2e { args } => harness::run(Harness::E2e, &args),
        Task::Monitoring => monitoring::run(),
        Task::Nix => nix::run(),
        Task::Schema { check } => schema::run(check),
        Task::Servers => servers::run(),
    }
}
