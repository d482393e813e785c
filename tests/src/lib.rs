//! MarketPrism's end-to-end harness: the whole pipeline (simulator → collector → JetStream →
//! storage → ClickHouse), each stage its own process of the `marketprism` binary as in
//! production, on real NATS and ClickHouse servers.
//!
//! * [`e2e`]: the scenarios, each checked row by row against what the simulator sent (the
//!   `e2e` binary; `cargo xtask e2e` runs it);
//! * [`bench`]: the criterion benchmarks' report and the end-to-end benchmark (the `bench`
//!   binary; `cargo xtask bench` runs it).

pub mod bench;
mod discovered;
pub mod e2e;
mod pipeline;
mod progress;
mod runner;
mod services;
mod topology;
