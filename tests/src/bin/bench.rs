//! The benchmarks: `cargo xtask bench [OPTIONS]` runs this binary.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Run the criterion benchmarks (or, with --e2e, the whole pipeline) and report throughput and ratios to baselines measured in the same run"
)]
struct Cli {
    #[command(flatten)]
    args: marketprism_tests::bench::Args,
}

fn main() -> anyhow::Result<()> {
    marketprism_tests::bench::run(Cli::parse().args)
}
