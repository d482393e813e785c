//! A replicated, sharded ClickHouse cluster on loopback: one standalone ZooKeeper and
//! shards × replicas `clickhouse-server`s of the deployed release (Debian's 18.16; current
//! ClickHouse exists here only as the in-process chdb engine, which has no server mode),
//! each with its own ports and state, all in one temporary directory.
//!
//! Ports come from one block below the kernel's ephemeral range, so a node killed and
//! started again finds its ports still free. The cluster is ready once every node answers,
//! sees the whole cluster in `system.clusters` and reaches ZooKeeper. Like every testkit
//! process, the servers die with the thread that started them, or with the handle.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use marketprism_servers::{
    free_port_block, get_text, ClickHouseSpec, ClusterMembership, Endpoint, NotReady, Readiness,
    Service, ZooKeeperInstall, ZooKeeperSpec,
};
use tempfile::TempDir;

use crate::release::{self, ClickHouseProgram, Release};
use crate::ServerError;

/// The cluster's name, as `remote_servers` and `ON CLUSTER` name it.
pub const CLUSTER_NAME: &str = "marketprism";

/// Longest wait for one server (ZooKeeper or ClickHouse) to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// ZooKeeper's session timeout for the nodes: a killed node's replica is free to come back
/// after this long. Short for tests; ZooKeeper grants no less than 4 s.
const SESSION_TIMEOUT_MS: u32 = 6_000;

/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(200);

/// Ports per ClickHouse node: HTTP, native (TCP), interserver HTTP.
const PORTS_PER_NODE: u16 = 3;

const CLICKHOUSE: &str = "clickhouse-server";
const ZOOKEEPER: &str = "zookeeper";

/// A running cluster of shards × replicas ClickHouse servers and their ZooKeeper; all stop
/// when it is dropped.
#[derive(Debug)]
pub struct ClickHouseCluster {
    nodes: Vec<Node>,
    replicas: usize,
    zookeeper: Service,
    binary: PathBuf,
    /// Every server's configuration, data and log, removed when the cluster is dropped.
    _state: TempDir,
}

/// One ClickHouse node and how to start it again.
#[derive(Debug)]
struct Node {
    process: Service,
    http_port: u16,
    tcp_port: u16,
    membership: ClusterMembership,
    dir: PathBuf,
}

impl ClickHouseCluster {
    /// Starts ZooKeeper and `shards` × `replicas` servers of the deployed release, and waits
    /// until each answers and sees the cluster and ZooKeeper.
    pub fn start(shards: usize, replicas: usize) -> Result<Self, ServerError> {
        let binary = match release::clickhouse(Release::Deployed)? {
            ClickHouseProgram::Server(binary) => binary,
            ClickHouseProgram::Chdb(_) => {
                return Err(io_error(
                    CLICKHOUSE,
                    std::io::Error::new(
                        std::io::ErrorKind::Unsupported,
                        "the chdb engine has no server mode and cannot form a cluster",
                    ),
                ))
            }
        };
        let install = ZooKeeperInstall::find()?;
        let state = tempfile::Builder::new()
            .prefix("marketprism-clickhouse-cluster-")
            .tempdir()
            .map_err(|source| io_error(CLICKHOUSE, source))?;
        let node_count = u16::try_from(shards * replicas).unwrap_or(u16::MAX);
        let base = free_port_block(1 + PORTS_PER_NODE * node_count)
            .map_err(|source| io_error(CLICKHOUSE, source))?;
        let zookeeper_port = base;

        let zookeeper_dir = state.path().join(ZOOKEEPER);
        let command = ZooKeeperSpec {
            client_port: zookeeper_port,
            dir: &zookeeper_dir,
        }
        .command(&install)
        .map_err(|source| io_error(ZOOKEEPER, source))?;
        let zookeeper_log = zookeeper_dir.join("zookeeper.log");
        let mut zookeeper = Service::spawn(ZOOKEEPER, command, &zookeeper_log)
            .map_err(|source| io_error(ZOOKEEPER, source))?;
        // ClickHouse must not start before ZooKeeper serves clients: 18.16 keeps a failed
        // first ZooKeeper session and crashes on its next `ON CLUSTER` query.
        if let Err(reason) =
            zookeeper.wait_ready(&Readiness::ZooKeeper(zookeeper_port), READY_TIMEOUT)
        {
            let _ = zookeeper.kill();
            return Err(ServerError::not_ready(ZOOKEEPER, reason, &zookeeper_log));
        }

        let node_ports = |index: usize| {
            let first = base + 1 + PORTS_PER_NODE * u16::try_from(index).unwrap_or(0);
            (first, first + 1, first + 2)
        };
        let layout: Vec<Vec<Endpoint>> = (0..shards)
            .map(|shard| {
                (0..replicas)
                    .map(|replica| Endpoint {
                        host: "127.0.0.1".to_owned(),
                        port: node_ports(shard * replicas + replica).1,
                    })
                    .collect()
            })
            .collect();
        let mut nodes = Vec::with_capacity(shards * replicas);
        for shard in 0..shards {
            for replica in 0..replicas {
                let (http_port, tcp_port, interserver_http_port) =
                    node_ports(shard * replicas + replica);
                let membership = ClusterMembership {
                    name: CLUSTER_NAME.to_owned(),
                    shards: layout.clone(),
                    shard: format!("{:02}", shard + 1),
                    replica: format!("r{}", replica + 1),
                    interserver_http_port,
                    zookeeper: vec![Endpoint {
                        host: "127.0.0.1".to_owned(),
                        port: zookeeper_port,
                    }],
                    zookeeper_session_timeout_ms: SESSION_TIMEOUT_MS,
                    login: None,
                };
                let dir = state.path().join(format!("s{}r{}", shard + 1, replica + 1));
                let process = spawn_node(&binary, http_port, tcp_port, &membership, &dir)?;
                nodes.push(Node {
                    process,
                    http_port,
                    tcp_port,
                    membership,
                    dir,
                });
            }
        }
        let mut cluster = ClickHouseCluster {
            nodes,
            replicas,
            zookeeper,
            binary,
            _state: state,
        };
        for index in 0..cluster.nodes.len() {
            cluster.wait_for_node(index)?;
        }
        Ok(cluster)
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        CLUSTER_NAME
    }

    /// How many shards the cluster has.
    pub fn shards(&self) -> usize {
        self.nodes.len() / self.replicas.max(1)
    }

    /// How many replicas each shard has.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The HTTP interface URL of replica `replica` of shard `shard` (both from 0).
    ///
    /// # Panics
    ///
    /// When the cluster has no such node.
    pub fn url(&self, shard: usize, replica: usize) -> String {
        format!("http://127.0.0.1:{}", self.node(shard, replica).http_port)
    }

    /// The log of replica `replica` of shard `shard`.
    ///
    /// # Panics
    ///
    /// When the cluster has no such node.
    pub fn log_path(&self, shard: usize, replica: usize) -> PathBuf {
        self.node(shard, replica).dir.join("clickhouse.log")
    }

    /// Kills replica `replica` of shard `shard` (SIGKILL), as a crash would;
    /// [`ClickHouseCluster::restart`] starts it again.
    ///
    /// # Panics
    ///
    /// When the cluster has no such node.
    pub fn kill(&mut self, shard: usize, replica: usize) -> Result<(), ServerError> {
        let index = self.index(shard, replica);
        self.nodes[index]
            .process
            .kill()
            .map(drop)
            .map_err(|source| io_error(CLICKHOUSE, source))
    }

    /// Starts replica `replica` of shard `shard` again with its ports and data, and waits
    /// until it answers and reaches ZooKeeper. It must be called on the thread that started
    /// the cluster, which the new process is tied to like the others.
    ///
    /// # Panics
    ///
    /// When the cluster has no such node.
    pub fn restart(&mut self, shard: usize, replica: usize) -> Result<(), ServerError> {
        let index = self.index(shard, replica);
        let node = &mut self.nodes[index];
        let _ = node.process.kill();
        node.process = spawn_node(
            &self.binary,
            node.http_port,
            node.tcp_port,
            &node.membership,
            &node.dir,
        )?;
        self.wait_for_node(index)
    }

    fn index(&self, shard: usize, replica: usize) -> usize {
        assert!(
            replica < self.replicas && shard < self.shards(),
            "the cluster has {} shards of {} replicas, not shard {shard} replica {replica}",
            self.shards(),
            self.replicas
        );
        shard * self.replicas + replica
    }

    fn node(&self, shard: usize, replica: usize) -> &Node {
        &self.nodes[self.index(shard, replica)]
    }

    /// Waits until node `index` answers `/ping`, lists every node of the cluster and reads
    /// ZooKeeper; a node that does not in time is killed.
    fn wait_for_node(&mut self, index: usize) -> Result<(), ServerError> {
        let expected = self.nodes.len();
        let node = &mut self.nodes[index];
        let url = format!("http://127.0.0.1:{}", node.http_port);
        let log = node.dir.join("clickhouse.log");
        let ping = Readiness::Http(format!("{url}/ping"));
        if let Err(reason) = node.process.wait_ready(&ping, READY_TIMEOUT) {
            let _ = node.process.kill();
            return Err(ServerError::not_ready(CLICKHOUSE, reason, &log));
        }
        let clusters = query_url(
            &url,
            &format!("SELECT count() FROM system.clusters WHERE cluster = '{CLUSTER_NAME}'"),
        );
        let zookeeper = query_url(
            &url,
            "SELECT count() FROM system.zookeeper WHERE path = '/'",
        );
        let started = Instant::now();
        loop {
            let sees_cluster = get_text(&clusters)
                .is_ok_and(|answer| answer.trim() == expected.to_string().as_str());
            if sees_cluster && get_text(&zookeeper).is_ok() {
                return Ok(());
            }
            if let Some(status) = node.process.exit_status() {
                return Err(ServerError::not_ready(
                    CLICKHOUSE,
                    NotReady::Exited(status),
                    &log,
                ));
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = node.process.kill();
                return Err(ServerError::not_ready(
                    CLICKHOUSE,
                    NotReady::TimedOut(READY_TIMEOUT),
                    &log,
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for ClickHouseCluster {
    /// Kills the nodes, then ZooKeeper: a test's servers need no orderly shutdown.
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.process.kill();
        }
        let _ = self.zookeeper.kill();
    }
}

/// Writes node `dir`'s configuration and starts its server.
fn spawn_node(
    binary: &std::path::Path,
    http_port: u16,
    tcp_port: u16,
    membership: &ClusterMembership,
    dir: &std::path::Path,
) -> Result<Service, ServerError> {
    let command = ClickHouseSpec {
        http_port,
        tcp_port,
        dir,
        users: &[],
        cluster: Some(membership),
    }
    .command(binary)
    .map_err(|source| io_error(CLICKHOUSE, source))?;
    Service::spawn(CLICKHOUSE, command, &dir.join("clickhouse.log"))
        .map_err(|source| io_error(CLICKHOUSE, source))
}

/// The URL running `query` through the HTTP interface at `url`.
fn query_url(url: &str, query: &str) -> String {
    let encoded: String = query
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(byte).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("{url}/?query={encoded}")
}

/// A failure of `program` to be configured or spawned.
fn io_error(program: &'static str, source: std::io::Error) -> ServerError {
    ServerError::Io { program, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_shards_of_two_replicas_answer_and_a_killed_replica_comes_back() {
        let mut cluster = ClickHouseCluster::start(2, 2).expect("cluster");
        assert_eq!((cluster.shards(), cluster.replicas()), (2, 2));
        let shard_macro = |cluster: &ClickHouseCluster, shard, replica| {
            get_text(&query_url(
                &cluster.url(shard, replica),
                "SELECT substitution FROM system.macros WHERE macro = 'shard'",
            ))
            .expect("macros")
            .trim()
            .to_owned()
        };
        assert_eq!(shard_macro(&cluster, 0, 1), "01");
        assert_eq!(shard_macro(&cluster, 1, 0), "02");
        cluster.kill(1, 1).expect("kill");
        assert!(get_text(&format!("{}/ping", cluster.url(1, 1))).is_err());
        cluster.restart(1, 1).expect("restart");
        assert_eq!(shard_macro(&cluster, 1, 1), "02");
    }

    #[test]
    fn queries_are_url_encoded() {
        assert_eq!(
            query_url("http://h", "SELECT 'a' = 1"),
            "http://h/?query=SELECT%20%27a%27%20%3D%201"
        );
    }
}
