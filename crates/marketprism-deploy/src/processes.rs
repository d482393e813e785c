//! The processes of a deployment, the one table `up`, `status`, `down` and `logs` work
//! from: on one machine one of each service; as a cluster (`up --cluster`) three
//! nats-servers in a JetStream cluster (three, so that streams with three replicas keep a
//! majority when one is lost), ZooKeeper, two ClickHouse shards of two replicas, two
//! storage workers sharing one durable consumer and two collectors recording the same
//! feeds, each process with its own name, ports, files and state.

use std::path::PathBuf;

use marketprism_servers::Readiness;
use serde::{Deserialize, Serialize};

use crate::{Identity, Manifest, Ports, ServiceName, Source, StateDir};

/// The name the cluster's servers know each other by: the JetStream cluster's and
/// ClickHouse's `remote_servers` entry.
pub const CLUSTER_NAME: &str = "marketprism";

/// Ports a cluster deployment numbers from its base.
pub const CLUSTER_PORTS: u16 = 30;

/// The ports of one nats-server of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsNodePorts {
    /// Client port.
    pub client: u16,
    /// HTTP monitoring port (`/healthz`, `/jsz`).
    pub monitoring: u16,
    /// Port the other nodes' routes connect to.
    pub route: u16,
}

/// The ports of one ClickHouse node of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseNodePorts {
    /// HTTP port.
    pub http: u16,
    /// Native-protocol port, which `Distributed` tables and `ON CLUSTER` queries use.
    pub tcp: u16,
    /// Port the node's replicas fetch its parts from.
    pub interserver: u16,
}

/// Every port of a cluster deployment but the simulator's and the backfill's, which stay in
/// [`Ports`]. [`Ports`] names the first node of each kind too, the one clients reach by
/// default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterPorts {
    /// Each nats-server's ports.
    pub nats: Vec<NatsNodePorts>,
    /// ZooKeeper's client port.
    pub zookeeper: u16,
    /// Each ClickHouse node's ports, shard by shard, replica by replica.
    pub clickhouse: Vec<Vec<ClickHouseNodePorts>>,
    /// Each storage worker's `/health`, `/ready`, `/metrics` port.
    pub storage: Vec<u16>,
    /// Each collector's `/health`, `/ready`, `/metrics` port.
    pub collectors: Vec<u16>,
}

impl ClusterPorts {
    /// The cluster's ports from `base` to `base + 29`: first those [`Ports::from_base`]
    /// gives (the first node of each kind, the simulator, the backfill, the gateway and
    /// Prometheus), then nats-servers 2 and 3 (client and monitoring each), the three route
    /// ports, ZooKeeper, the other ClickHouse nodes (HTTP and native each), the four
    /// interserver ports, the second storage worker and the second collector. `None` when
    /// they pass 65535.
    pub fn from_base(base: u16) -> Option<(Ports, ClusterPorts)> {
        let ports = Ports::from_base(base)?;
        let port = |offset: u16| base.checked_add(offset);
        let route = |node: u16| port(14 + node);
        let nats = vec![
            NatsNodePorts {
                client: ports.nats,
                monitoring: ports.nats_monitoring,
                route: route(0)?,
            },
            NatsNodePorts {
                client: port(10)?,
                monitoring: port(11)?,
                route: route(1)?,
            },
            NatsNodePorts {
                client: port(12)?,
                monitoring: port(13)?,
                route: route(2)?,
            },
        ];
        let node = |index: u16| -> Option<ClickHouseNodePorts> {
            let (http, tcp) = if index == 0 {
                (ports.clickhouse_http, ports.clickhouse_tcp)
            } else {
                (port(16 + 2 * index)?, port(17 + 2 * index)?)
            };
            Some(ClickHouseNodePorts {
                http,
                tcp,
                interserver: port(24 + index)?,
            })
        };
        let clickhouse = vec![vec![node(0)?, node(1)?], vec![node(2)?, node(3)?]];
        let cluster = ClusterPorts {
            nats,
            zookeeper: port(17)?,
            clickhouse,
            storage: vec![ports.storage, port(28)?],
            collectors: vec![ports.collector, port(29)?],
        };
        Some((ports, cluster))
    }
}

/// What one process is, with what starting it needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Instance {
    /// A nats-server.
    Nats {
        /// Its ports; a server on its own has no route port.
        ports: NatsNodePorts,
        /// Its configuration file (users, and in a cluster its name and routes).
        config: PathBuf,
        /// Its JetStream store.
        store: PathBuf,
    },
    /// ZooKeeper, coordinating the ClickHouse cluster.
    ZooKeeper {
        /// Client port.
        port: u16,
        /// Configuration and data.
        dir: PathBuf,
    },
    /// A clickhouse-server.
    ClickHouse {
        /// Its ports; a server on its own has no interserver port.
        ports: ClickHouseNodePorts,
        /// Configuration and data.
        dir: PathBuf,
        /// Its (shard, replica), from 0, in a cluster.
        node: Option<(usize, usize)>,
    },
    /// The simulator.
    Sim {
        /// Its WebSocket and REST port.
        port: u16,
    },
    /// Prometheus.
    Prometheus {
        /// Its web interface and API.
        port: u16,
        /// Its configuration file (scrape targets and rule files).
        config: PathBuf,
        /// Its time-series store.
        store: PathBuf,
    },
    /// A MarketPrism service run as `marketprism <subcommand> --config <config>`.
    Service {
        /// `store`, `collect`, `backfill` or `gateway`.
        subcommand: &'static str,
        /// Its configuration file.
        config: PathBuf,
        /// Its `/health`, `/ready`, `/metrics` port.
        port: u16,
    },
}

/// One process of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// The service it runs.
    pub service: ServiceName,
    /// Its name in files and reports: the service's on one machine; in a cluster with the
    /// instance appended, e.g. `nats-2`, `clickhouse-1-2` (shard 1, replica 2), `storage-1`.
    pub name: String,
    pub(crate) instance: Instance,
}

impl Process {
    /// The port reported for it (ClickHouse: HTTP; NATS: client).
    pub fn port(&self) -> u16 {
        match &self.instance {
            Instance::Nats { ports, .. } => ports.client,
            Instance::ZooKeeper { port, .. }
            | Instance::Sim { port }
            | Instance::Prometheus { port, .. }
            | Instance::Service { port, .. } => *port,
            Instance::ClickHouse { ports, .. } => ports.http,
        }
    }

    /// Every port it listens on.
    pub(crate) fn all_ports(&self) -> Vec<u16> {
        match &self.instance {
            Instance::Nats { ports, .. } => {
                let mut all = vec![ports.client, ports.monitoring];
                all.extend((ports.route != 0).then_some(ports.route));
                all
            }
            Instance::ClickHouse { ports, .. } => {
                let mut all = vec![ports.http, ports.tcp];
                all.extend((ports.interserver != 0).then_some(ports.interserver));
                all
            }
            _ => vec![self.port()],
        }
    }

    /// How `up` and `status` tell that it is ready, each by asking it: NATS its monitoring
    /// `/healthz`, ZooKeeper `srvr`, ClickHouse `/ping` and then `SELECT 1` (as the reader),
    /// the simulator `/control/summary`, Prometheus `/-/ready`, storage, the collector, the
    /// backfill and the gateway `/ready`.
    /// An open port alone proves nothing: the kernel accepts connections for a frozen
    /// process too.
    pub(crate) fn readiness(&self, state: &StateDir) -> Readiness {
        match &self.instance {
            Instance::Nats { ports, .. } => Readiness::Http(format!(
                "http://127.0.0.1:{}/healthz?js-enabled-only=true",
                ports.monitoring
            )),
            Instance::ZooKeeper { port, .. } => Readiness::ZooKeeper(*port),
            Instance::ClickHouse { ports, .. } => Readiness::HttpEach {
                urls: vec![
                    format!("http://127.0.0.1:{}/ping", ports.http),
                    format!("http://127.0.0.1:{}/?query=SELECT%201", ports.http),
                ],
                credentials: state.secrets().clickhouse_credentials(Identity::Reader),
            },
            Instance::Sim { port } => {
                Readiness::Http(format!("http://127.0.0.1:{port}/control/summary"))
            }
            Instance::Prometheus { port, .. } => {
                Readiness::Http(format!("http://127.0.0.1:{port}/-/ready"))
            }
            Instance::Service { port, .. } => {
                Readiness::Http(format!("http://127.0.0.1:{port}/ready"))
            }
        }
    }

    /// Text that its command line contains, so a pid recycled by an unrelated process is
    /// not mistaken for it.
    pub(crate) fn marker(&self) -> String {
        match &self.instance {
            Instance::Nats { store, .. } => store.display().to_string(),
            Instance::ZooKeeper { dir, .. } => dir.join("zoo.cfg").display().to_string(),
            Instance::ClickHouse { dir, .. } => dir.join("config.xml").display().to_string(),
            Instance::Sim { port } => format!("127.0.0.1:{port}"),
            Instance::Prometheus { config, .. } | Instance::Service { config, .. } => {
                config.display().to_string()
            }
        }
    }

    /// Its pid file.
    pub fn pid_file(&self, state: &StateDir) -> PathBuf {
        state.pid_file(&self.name)
    }

    /// Its log file.
    pub fn log(&self, state: &StateDir) -> PathBuf {
        state.log(&self.name)
    }
}

/// The deployment's processes in start order: NATS, ZooKeeper, ClickHouse, the simulator
/// (when it is the source), storage, collectors, the backfill, the gateway and Prometheus
/// (when it is installed).
pub fn processes(state: &StateDir, manifest: &Manifest) -> Vec<Process> {
    let ports = &manifest.ports;
    let config = |name: &str| state.config_dir().join(format!("{name}.toml"));
    let mut processes = Vec::new();
    let mut push = |service: ServiceName, name: String, instance: Instance| {
        processes.push(Process {
            service,
            name,
            instance,
        });
    };
    match &manifest.cluster {
        None => {
            push(
                ServiceName::Nats,
                "nats".to_owned(),
                Instance::Nats {
                    ports: NatsNodePorts {
                        client: ports.nats,
                        monitoring: ports.nats_monitoring,
                        route: 0,
                    },
                    config: state.config_dir().join("nats.conf"),
                    store: state.nats_dir(),
                },
            );
            push(
                ServiceName::Clickhouse,
                "clickhouse".to_owned(),
                Instance::ClickHouse {
                    ports: ClickHouseNodePorts {
                        http: ports.clickhouse_http,
                        tcp: ports.clickhouse_tcp,
                        interserver: 0,
                    },
                    dir: state.clickhouse_dir(),
                    node: None,
                },
            );
        }
        Some(cluster) => {
            for (index, node) in cluster.nats.iter().enumerate() {
                let name = format!("nats-{}", index + 1);
                push(
                    ServiceName::Nats,
                    name.clone(),
                    Instance::Nats {
                        ports: *node,
                        config: state.config_dir().join(format!("{name}.conf")),
                        store: state.nats_dir().join(&name),
                    },
                );
            }
            push(
                ServiceName::Zookeeper,
                "zookeeper".to_owned(),
                Instance::ZooKeeper {
                    port: cluster.zookeeper,
                    dir: state.root().join("zookeeper"),
                },
            );
            for (shard, replicas) in cluster.clickhouse.iter().enumerate() {
                for (replica, node) in replicas.iter().enumerate() {
                    let name = format!("clickhouse-{}-{}", shard + 1, replica + 1);
                    push(
                        ServiceName::Clickhouse,
                        name.clone(),
                        Instance::ClickHouse {
                            ports: *node,
                            dir: state.clickhouse_dir().join(&name),
                            node: Some((shard, replica)),
                        },
                    );
                }
            }
        }
    }
    if manifest.source == Source::Sim {
        push(
            ServiceName::Sim,
            "sim".to_owned(),
            Instance::Sim { port: ports.sim },
        );
    }
    let (storage, collectors) = match &manifest.cluster {
        None => (vec![ports.storage], vec![ports.collector]),
        Some(cluster) => (cluster.storage.clone(), cluster.collectors.clone()),
    };
    for (service, subcommand, instances) in [
        (ServiceName::Storage, "store", storage),
        (ServiceName::Collector, "collect", collectors),
    ] {
        let single = instances.len() == 1 && manifest.cluster.is_none();
        for (index, port) in instances.into_iter().enumerate() {
            let name = if single {
                service.as_str().to_owned()
            } else {
                format!("{}-{}", service.as_str(), index + 1)
            };
            push(
                service,
                name.clone(),
                Instance::Service {
                    subcommand,
                    config: config(&name),
                    port,
                },
            );
        }
    }
    push(
        ServiceName::Backfill,
        "backfill".to_owned(),
        Instance::Service {
            subcommand: "backfill",
            config: config("backfill"),
            port: ports.backfill,
        },
    );
    push(
        ServiceName::Gateway,
        "gateway".to_owned(),
        Instance::Service {
            subcommand: "gateway",
            config: config("gateway"),
            port: ports.gateway,
        },
    );
    if manifest.prometheus.is_some() {
        push(
            ServiceName::Prometheus,
            "prometheus".to_owned(),
            Instance::Prometheus {
                port: ports.prometheus,
                config: state.config_dir().join("prometheus.yml"),
                store: state.root().join("prometheus"),
            },
        );
    }
    processes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(cluster: Option<ClusterPorts>, ports: Ports) -> Manifest {
        Manifest {
            source: Source::Sim,
            ports,
            nats_server: PathBuf::from("/usr/sbin/nats-server"),
            clickhouse_server: PathBuf::from("/usr/sbin/clickhouse-server"),
            database: "marketprism".to_owned(),
            prometheus: Some(PathBuf::from("/usr/bin/prometheus")),
            cluster,
        }
    }

    #[test]
    fn a_cluster_numbers_every_port_once_from_its_base() {
        let (ports, cluster) = ClusterPorts::from_base(20_000).expect("in range");
        let state = StateDir::new("/state");
        let processes = processes(&state, &manifest(Some(cluster), ports));
        let mut all: Vec<u16> = processes.iter().flat_map(Process::all_ports).collect();
        all.sort_unstable();
        let expected: Vec<u16> = (20_000..20_000 + CLUSTER_PORTS).collect();
        assert_eq!(all, expected);
        let names: Vec<&str> = processes
            .iter()
            .map(|process| process.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "nats-1",
                "nats-2",
                "nats-3",
                "zookeeper",
                "clickhouse-1-1",
                "clickhouse-1-2",
                "clickhouse-2-1",
                "clickhouse-2-2",
                "sim",
                "storage-1",
                "storage-2",
                "collector-1",
                "collector-2",
                "backfill",
                "gateway",
                "prometheus"
            ]
        );
        assert_eq!(ClusterPorts::from_base(65_510), None);
        assert_eq!(ClusterPorts::from_base(65_506).map(|_| ()), Some(()));
    }

    #[test]
    fn one_machine_keeps_the_service_names_and_files() {
        let state = StateDir::new("/state");
        let processes = processes(&state, &manifest(None, Ports::default()));
        let names: Vec<&str> = processes
            .iter()
            .map(|process| process.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "nats",
                "clickhouse",
                "sim",
                "storage",
                "collector",
                "backfill",
                "gateway",
                "prometheus"
            ]
        );
        assert_eq!(
            processes[3].pid_file(&state),
            PathBuf::from("/state/run/storage.pid")
        );
        assert_eq!(
            processes[3].marker(),
            "/state/config/storage.toml".to_owned()
        );
        assert_eq!(processes[0].all_ports(), [4222, 8222]);
    }
}
