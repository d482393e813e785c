//! Local servers and processes: the plumbing `marketprism up`, the test kit, `cargo xtask`
//! and the end-to-end harness share.
//!
//! * finding `nats-server` and ClickHouse ([`find_binary`]) and asking their release
//!   ([`version_output`], [`is_at_least`]);
//! * their command lines and generated configurations ([`NatsSpec`], [`ClickHouseSpec`], a
//!   ClickHouse cluster node's [`ClusterMembership`], and the standalone ZooKeeper that
//!   coordinates the cluster, [`ZooKeeperSpec`]), and MarketPrism's own configuration files
//!   as typed values serialized as TOML ([`write_toml`]);
//! * spawning with output to a log file, tied to this process ([`Service`]) or detached and
//!   tracked by pid file ([`spawn_daemon`]), errors naming the file and the step
//!   ([`SpawnError`]); one-shot tools ([`run_logged`]);
//! * readiness: a port that accepts connections or HTTP endpoints that answer, checked once
//!   within a time bound or polled until it holds ([`Readiness`], [`wait_ready`]); whether
//!   a process is frozen by a signal ([`is_stopped`]);
//! * stopping: SIGTERM, a grace period, then SIGKILL ([`Service::terminate`], [`stop`]);
//! * loopback ports ([`free_port`], [`free_port_block`], [`port_free`], [`port_open`]).
//!
//! It knows nothing of MarketPrism's services: it is what they run on.

mod binary;
mod clickhouse;
mod config;
mod daemon;
mod http;
mod log;
mod nats;
mod port;
mod ready;
mod run;
mod service;
mod signal;
mod spawn;
mod version;
mod zookeeper;

pub use binary::{find_binary, Binary, BinaryError};
pub use clickhouse::{
    users_d_xml, Access, ClickHouseSpec, ClickHouseUser, ClusterMembership, Endpoint,
    READ_ONLY_MAX_EXECUTION_SECONDS,
};
pub use config::{write_toml, ConfigError};
pub use daemon::{is_alive, is_stopped, read_pid, spawn_daemon, stop};
pub use http::{get_text, HttpError};
pub use log::{log_tail, tail};
pub use nats::{authorization, meta_leader, write_authorization, write_config, NatsSpec, NatsUser};
pub use port::{free_port, free_port_block, port_free, port_open};
pub use ready::{wait_ready, Credentials, NotReady, Probe, Readiness};
pub use run::{run_logged, RunError};
pub use service::Service;
pub use spawn::SpawnError;
pub use version::{is_at_least, release_of, version_output};
pub use zookeeper::{ZooKeeperError, ZooKeeperInstall, ZooKeeperSpec};
