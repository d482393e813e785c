//! `cargo xtask run`: the whole pipeline against the simulator, until Ctrl-C.
//!
//! Starts NATS and ClickHouse (see [`crate::services`]), initializes schema and streams, and
//! runs simulator, storage and collector as separate processes, printing rows per table
//! every few seconds. State is temporary: this is a demonstration and a development loop.

use std::time::Duration;

use anyhow::Context as _;

use crate::pipeline::{build_binary, Pipeline, Spec};
use crate::services::{self, Backend};

/// Options of `cargo xtask run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where NATS and ClickHouse come from.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// Simulator trades per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Build and run the optimized binary.
    #[arg(long)]
    release: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let binary = build_binary(args.release)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let services = services::start(args.backend).await?;
        let dir = tempfile::Builder::new().prefix("marketprism-run-").tempdir()?;
        let spec = Spec {
            name: "demo".into(),
            symbols: vec![("BTCUSDT".into(), "BTC-USDT".into()), ("ETHUSDT".into(), "ETH-USDT".into())],
            rate: args.rate,
            count: None,
            seed: 1,
        };
        let pipeline = Pipeline::start(&binary, &services, &spec, dir.path()).await?;
        println!("MarketPrism is running against the built-in simulator (no exchange is contacted).");
        println!("  services:   {}", services.description);
        println!("  NATS:       {}", services.nats_url);
        println!("  ClickHouse: {} (database marketprism_demo)", services.clickhouse_url);
        println!("  logs:       {}", pipeline.dir().display());
        println!("Press Ctrl-C to stop.");
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = ticker.tick() => {
                    let trades: u64 = pipeline.clickhouse.query("SELECT count() FROM trades FINAL").fetch_one().await?;
                    let gaps: u64 = pipeline.clickhouse.query("SELECT count() FROM gaps FINAL").fetch_one().await?;
                    println!("rows: trades {trades}, gaps {gaps}");
                }
            }
        }
        println!("Stopping: draining collector and storage.");
        pipeline.stop()?;
        anyhow::Ok(())
    })
}
