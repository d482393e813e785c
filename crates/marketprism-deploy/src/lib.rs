//! Local deployment of the whole pipeline from one state directory.
//!
//! `marketprism up` finds `nats-server` and `clickhouse-server`, starts them with generated
//! configurations, initializes streams and schema, starts simulator (optional), storage and
//! collector as independent background processes, waits until they are ready, checks that
//! rows reach ClickHouse and prints a report. `up --cluster` deploys the cluster topology
//! instead ([`processes`]): three nats-servers, ZooKeeper and two ClickHouse shards of two
//! replicas, two storage workers and two collectors. `status`, `down` and `logs` work on
//! the same state directory. Every step is idempotent: a running process is left running,
//! a stopped one is started; a failed `up` stops what it started and names the step, cause
//! and fix.
//!
//! State directory layout (`<process>` is a service's name, or in a cluster an instance's,
//! such as `nats-2` or `clickhouse-1-2`):
//!
//! ```text
//! deployment.toml        ports, binaries and data source chosen by the first `up`
//! config/                <process>.toml of storage, collectors and the backfill,
//!                        <process>.conf of each nats-server (users and their
//!                        permissions; in a cluster also its name and routes)
//! secrets/               each identity's NATS nkey seed and ClickHouse password (0700,
//!                        files 0600)
//! nats/                  JetStream store (in a cluster nats/<process>/)
//! clickhouse/            config.xml, users.xml, data (in a cluster clickhouse/<process>/)
//! zookeeper/             ZooKeeper's zoo.cfg and data, in a cluster
//! spool/                 the collector's spool (in a cluster spool/<process>/)
//! logs/<process>.log     every process's output
//! run/<process>.pid      every background process's pid
//! ```

mod config;
mod credentials;
mod down;
mod error;
mod layout;
mod processes;
mod secrets;
mod status;
mod up;

pub use credentials::{write_credentials, CredentialsOptions};
pub use down::down;
pub use error::DeployError;
pub use layout::{default_state_dir, Manifest, Ports, ServiceName, Source, StateDir};
pub use processes::{
    processes, ClickHouseNodePorts, ClusterPorts, NatsNodePorts, Process, CLUSTER_NAME,
    CLUSTER_PORTS,
};
pub use secrets::{Identity, Secrets};
pub use status::{status, ServiceState, StatusReport, DEFAULT_TIMEOUT};
pub use up::{up, ServiceOutcome, ServiceReport, UpOptions, UpReport};
