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

use clap::Parser as _;
use harness::Harness;
use xtask::cli::{Cli, Task};

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
