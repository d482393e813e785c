//! The state directory and the deployment manifest it holds.

use std::path::{Path, PathBuf};

use marketprism_servers::{write_toml, ConfigError};
use serde::{Deserialize, Serialize};

use crate::{ClusterPorts, DeployError};

/// The processes of a deployment, in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    /// `nats-server` with JetStream.
    Nats,
    /// ZooKeeper, coordinating a ClickHouse cluster.
    Zookeeper,
    /// `clickhouse-server`.
    Clickhouse,
    /// `marketprism sim`.
    Sim,
    /// `marketprism store`.
    Storage,
    /// `marketprism collect`.
    Collector,
    /// `marketprism backfill`.
    Backfill,
    /// `marketprism gateway`: the API and the status page.
    Gateway,
    /// Prometheus, scraping every service and evaluating the alert rules.
    Prometheus,
}

impl ServiceName {
    /// The name used for files and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceName::Nats => "nats",
            ServiceName::Zookeeper => "zookeeper",
            ServiceName::Clickhouse => "clickhouse",
            ServiceName::Sim => "sim",
            ServiceName::Storage => "storage",
            ServiceName::Collector => "collector",
            ServiceName::Backfill => "backfill",
            ServiceName::Gateway => "gateway",
            ServiceName::Prometheus => "prometheus",
        }
    }
}

/// Where market data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The built-in simulator.
    Sim,
    /// The real exchanges.
    Exchanges,
}

/// Ports of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    /// NATS client port.
    pub nats: u16,
    /// ClickHouse HTTP port.
    pub clickhouse_http: u16,
    /// ClickHouse native-protocol port.
    pub clickhouse_tcp: u16,
    /// Simulator port.
    pub sim: u16,
    /// Storage `/health`, `/ready`, `/metrics`.
    pub storage: u16,
    /// Collector `/health`, `/ready`, `/metrics`.
    pub collector: u16,
    /// NATS HTTP monitoring (`/healthz`, `/jsz`); 8222 in manifests written before it
    /// existed.
    #[serde(default = "default_nats_monitoring")]
    pub nats_monitoring: u16,
    /// Backfill `/health`, `/ready`, `/metrics`; 9103 in manifests written before it
    /// existed.
    #[serde(default = "default_backfill")]
    pub backfill: u16,
    /// Gateway: the API, the status page, `/health`, `/ready`, `/metrics`; 9104 in manifests
    /// written before it existed.
    #[serde(default = "default_gateway")]
    pub gateway: u16,
    /// Prometheus's web interface and API; 9090 in manifests written before it existed.
    #[serde(default = "default_prometheus")]
    pub prometheus: u16,
}

/// The backfill's port in manifests written before it existed.
const fn default_backfill() -> u16 {
    9103
}

/// The gateway's port in manifests written before it existed.
const fn default_gateway() -> u16 {
    9104
}

/// Prometheus's customary port.
const fn default_prometheus() -> u16 {
    9090
}

/// NATS's customary monitoring port.
const fn default_nats_monitoring() -> u16 {
    8222
}

impl Ports {
    /// Ports `base`, `base + 1`, ... in the order NATS, ClickHouse HTTP, ClickHouse native,
    /// simulator, storage, collector, NATS monitoring, backfill, gateway, Prometheus; `None`
    /// when they pass 65535.
    pub fn from_base(base: u16) -> Option<Ports> {
        let port = |offset: u16| base.checked_add(offset);
        Some(Ports {
            nats: port(0)?,
            clickhouse_http: port(1)?,
            clickhouse_tcp: port(2)?,
            sim: port(3)?,
            storage: port(4)?,
            collector: port(5)?,
            nats_monitoring: port(6)?,
            backfill: port(7)?,
            gateway: port(8)?,
            prometheus: port(9)?,
        })
    }
}

impl Ports {
    /// How many ports a deployment of one server of each kind takes from its base.
    pub const COUNT: u16 = 10;

    /// Every port with what listens on it, in the order of [`Ports::from_base`].
    pub fn named(&self) -> [(u16, &'static str); Ports::COUNT as usize] {
        [
            (self.nats, "NATS clients"),
            (self.clickhouse_http, "ClickHouse HTTP"),
            (self.clickhouse_tcp, "ClickHouse native"),
            (self.sim, "simulator"),
            (self.storage, "storage"),
            (self.collector, "collector"),
            (self.nats_monitoring, "NATS monitoring"),
            (self.backfill, "backfill"),
            (self.gateway, "gateway"),
            (self.prometheus, "Prometheus"),
        ]
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            nats: 4222,
            clickhouse_http: 8123,
            clickhouse_tcp: 9000,
            sim: 9443,
            storage: 9102,
            collector: 9101,
            nats_monitoring: default_nats_monitoring(),
            backfill: default_backfill(),
            gateway: default_gateway(),
            prometheus: default_prometheus(),
        }
    }
}

/// What the first `up` decided; later commands reuse it so ports and paths stay stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Data source.
    pub source: Source,
    /// Ports.
    pub ports: Ports,
    /// `nats-server` executable.
    pub nats_server: PathBuf,
    /// `clickhouse-server` (or `clickhouse`) executable.
    pub clickhouse_server: PathBuf,
    /// ClickHouse database.
    pub database: String,
    /// The `prometheus` executable, when one was found: `up` then runs Prometheus too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PathBuf>,
    /// The cluster's ports, for a deployment made with `up --cluster`; absent on one
    /// machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterPorts>,
}

/// Paths inside a state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

/// The default state directory: `$XDG_STATE_HOME/marketprism`, else
/// `~/.local/state/marketprism`.
pub fn default_state_dir() -> PathBuf {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(state).join("marketprism");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/marketprism")
}

impl StateDir {
    /// A state directory at `root` (not created until `up`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir { root: root.into() }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest file.
    pub fn manifest_path(&self) -> PathBuf {
        self.root.join("deployment.toml")
    }

    /// The log file of the process named `name` (see [`crate::Process::name`]).
    pub fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }

    /// The pid file of the process named `name`.
    pub fn pid_file(&self, name: &str) -> PathBuf {
        self.root.join("run").join(format!("{name}.pid"))
    }

    /// The generated configuration directory.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// The JetStream store.
    pub fn nats_dir(&self) -> PathBuf {
        self.root.join("nats")
    }

    /// ClickHouse configuration and data.
    pub fn clickhouse_dir(&self) -> PathBuf {
        self.root.join("clickhouse")
    }

    /// Creates the directories.
    pub fn create(&self) -> Result<(), DeployError> {
        for dir in [
            self.root.clone(),
            self.root.join("logs"),
            self.root.join("run"),
            self.config_dir(),
            self.nats_dir(),
            self.clickhouse_dir(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|error| {
                DeployError::new(
                    "preparing the state directory",
                    format!("cannot create {}: {error}", dir.display()),
                    "choose a writable --state-dir",
                )
            })?;
        }
        Ok(())
    }

    /// Reads the manifest, if a deployment exists here.
    pub fn manifest(&self) -> Result<Option<Manifest>, DeployError> {
        let path = self.manifest_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map(Some).map_err(|error| {
                DeployError::new(
                    "reading the deployment manifest",
                    format!("{}: {error}", path.display()),
                    "fix or delete the file (`cargo xtask deploy --clean --yes` removes the whole state)",
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(DeployError::new(
                "reading the deployment manifest",
                format!("{}: {error}", path.display()),
                "check the permissions of the state directory",
            )),
        }
    }

    /// Writes the manifest.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), DeployError> {
        write_toml(&self.manifest_path(), "", manifest).map_err(|error| {
            let fix = match error {
                ConfigError::Serialize { .. } => "report this as a bug",
                ConfigError::Write { .. } => "check the permissions of the state directory",
            };
            DeployError::caused_by("writing the deployment manifest", &error, fix)
        })
    }

    /// The manifest, or an error telling the operator to run `up` first.
    pub fn require_manifest(&self, step: &str) -> Result<Manifest, DeployError> {
        self.manifest()?.ok_or_else(|| {
            DeployError::new(
                step,
                format!("no deployment in {}", self.root.display()),
                "run `marketprism up --sim` first (or pass the right --state-dir)",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_the_base_with_nats_monitoring_last() {
        let ports = Ports::from_base(20_000).expect("in range");
        assert_eq!(
            (ports.nats, ports.collector, ports.nats_monitoring),
            (20_000, 20_005, 20_006)
        );
        assert_eq!((ports.gateway, ports.prometheus), (20_008, 20_009));
        let numbered: Vec<u16> = ports.named().iter().map(|(port, _)| *port).collect();
        assert_eq!(numbered, (20_000..20_010).collect::<Vec<u16>>());
        assert_eq!(Ports::from_base(65_530), None);
    }

    #[test]
    fn a_manifest_without_the_later_ports_reads_with_the_defaults() {
        let manifest: Manifest = toml::from_str(
            "source = \"sim\"\nnats_server = \"/usr/sbin/nats-server\"\n\
             clickhouse_server = \"/usr/sbin/clickhouse-server\"\ndatabase = \"marketprism\"\n\n\
             [ports]\nnats = 4222\nclickhouse_http = 8123\nclickhouse_tcp = 9000\nsim = 9443\n\
             storage = 9102\ncollector = 9101\n",
        )
        .expect("parses");
        assert_eq!(manifest.ports, Ports::default());
    }
}
