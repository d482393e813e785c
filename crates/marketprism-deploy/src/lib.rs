//! Local deployment of the whole pipeline from one state directory.
//!
//! `marketprism up` finds `nats-server` and `clickhouse-server`, starts them with generated
//! configurations, initializes streams and schema, starts simulator (optional), storage and
//! collector as independent background processes, waits until they are ready, checks that
//! rows reach ClickHouse and prints a report. `status`, `down` and `logs` work on the same
//! state directory. Every step is idempotent: a running service is left running, a stopped
//! one is started; a failed `up` stops what it started and names the step, cause and fix.
//!
//! State directory layout:
//!
//! ```text
//! deployment.toml        ports, binaries and data source chosen by the first `up`
//! config/                collector.toml, storage.toml, backfill.toml, nats.conf (users
//!                        and their permissions)
//! secrets/               each identity's NATS nkey seed and ClickHouse password (0700,
//!                        files 0600)
//! nats/                  JetStream store
//! clickhouse/            config.xml, users.xml, data
//! logs/<service>.log     every process's output
//! run/<service>.pid      every background process's pid
//! ```

mod config;
mod credentials;
mod down;
mod error;
mod layout;
mod secrets;
mod status;
mod up;

pub use credentials::{write_credentials, CredentialsOptions};
pub use down::down;
pub use error::DeployError;
pub use layout::{default_state_dir, Manifest, Ports, ServiceName, Source, StateDir};
pub use secrets::{Identity, Secrets};
pub use status::{status, ServiceState, StatusReport, DEFAULT_TIMEOUT};
pub use up::{up, ServiceOutcome, ServiceReport, UpOptions, UpReport};
