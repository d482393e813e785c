//! The end-to-end scenarios: `cargo xtask e2e [OPTIONS]` runs this binary.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "e2e",
    about = "Verify the pipeline end to end against real NATS and ClickHouse"
)]
struct Cli {
    #[command(flatten)]
    args: marketprism_tests::e2e::Args,
}

fn main() -> anyhow::Result<()> {
    marketprism_tests::e2e::run(Cli::parse().args)
}
