//! Real servers for tests and the local harness: `nats-server` with JetStream and ClickHouse,
//! each started as a child process on free loopback ports with its state in a temporary
//! directory, alone or as a cluster ([`NatsCluster`], and [`ClickHouseCluster`] with its
//! ZooKeeper). Tests run against current releases by default; see [`Release`] for where
//! they are found and for the releases a local deployment uses.
//!
//! A server is stopped (SIGKILL) and its state removed when its handle is dropped, including
//! during a panic; on Linux the kernel also kills it when the thread that started it ends,
//! so an aborted harness leaves nothing running. Spawning, readiness and stopping are
//! `marketprism-servers`'s, as `marketprism up` uses them.
//!
//! It also knows the workspace the automation drives (`cargo xtask` and the harness under
//! `tests/`): its root, cargo, and the `marketprism` binary it builds.

mod clickhouse;
mod clickhouse_cluster;
pub mod endpoints;
mod error;
mod nats;
mod nats_cluster;
mod pinned;
mod release;
mod tmpfs;
mod workspace;

pub use clickhouse::ClickHouseServer;
pub use clickhouse_cluster::{ClickHouseCluster, CLUSTER_NAME};
pub use error::ServerError;
pub use nats::NatsServer;
pub use nats_cluster::NatsCluster;
pub use pinned::{install_pinned, pinned_dir};
pub use release::Release;
pub use tmpfs::Tmpfs;
pub use workspace::{
    build_binaries, build_marketprism, cargo, run_command, target_dir, workspace_root, CommandError,
};
