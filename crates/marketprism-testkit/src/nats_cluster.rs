//! A JetStream cluster of nats-servers on loopback: each node with its own name, client,
//! cluster and monitoring ports and store, routes to every node, started together and ready
//! once the cluster has elected a meta leader (only then can streams be created).

use std::time::{Duration, Instant};

use marketprism_servers::{free_port_block, meta_leader, write_config, NotReady};
use serde_json::json;
use tempfile::TempDir;

use crate::nats::{io_error, Launch};
use crate::release::{self, Release};
use crate::{NatsServer, ServerError};

/// Longest wait for the cluster's meta leader.
const LEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// The cluster's name.
const CLUSTER: &str = "marketprism";

/// A running JetStream cluster; its nodes stop when it is dropped.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
    /// The nodes' configuration files.
    _configs: TempDir,
}

impl NatsCluster {
    /// Starts `size` current servers as one cluster and waits until it has a meta leader.
    pub fn start(size: usize) -> Result<Self, ServerError> {
        Self::start_release(Release::Current, size)
    }

    /// Starts `size` servers of `release` as one cluster and waits until it has a meta
    /// leader.
    pub fn start_release(release: Release, size: usize) -> Result<Self, ServerError> {
        let program = release::nats_server(release)?;
        let configs = tempfile::Builder::new()
            .prefix("marketprism-nats-cluster-")
            .tempdir()
            .map_err(io_error)?;
        // Ports of one block below the kernel's ephemeral range, so that no outgoing
        // connection takes one as its local port before the nodes bind them: per node a
        // route, a client and a monitoring port.
        let too_many = || {
            io_error(std::io::Error::other(format!(
                "{size} nodes: too many ports"
            )))
        };
        let nodes = u16::try_from(size).map_err(|_| too_many())?;
        let base = free_port_block(nodes.checked_mul(3).ok_or_else(too_many)?).map_err(io_error)?;
        let route_ports: Vec<u16> = (0..nodes).map(|index| base + index).collect();
        let routes: Vec<String> = route_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect();
        let mut launches = Vec::new();
        for (index, route_port) in (0..nodes).zip(&route_ports) {
            let config = configs.path().join(format!("n{index}.json"));
            write_config(
                &config,
                &json!({
                    "server_name": node_name(usize::from(index)),
                    "cluster": {
                        "name": CLUSTER,
                        "listen": format!("127.0.0.1:{route_port}"),
                        "routes": routes,
                    },
                }),
            )
            .map_err(io_error)?;
            launches.push(Launch {
                program: program.clone(),
                port: base + nodes + index,
                monitoring_port: base + 2 * nodes + index,
                jetstream: true,
                store_dir: None,
                config: Some(config),
            });
        }
        // Every node is started before any is waited for: a node's JetStream is ready only
        // once it sees the others.
        let mut nodes = launches
            .into_iter()
            .map(NatsServer::launch_unready)
            .collect::<Result<Vec<_>, _>>()?;
        for node in &mut nodes {
            node.wait_until_ready()?;
        }
        let cluster = NatsCluster {
            nodes,
            _configs: configs,
        };
        cluster.wait_for_leader()?;
        Ok(cluster)
    }

    /// Waits until a node reports the cluster's meta leader.
    fn wait_for_leader(&self) -> Result<(), ServerError> {
        let started = Instant::now();
        loop {
            if self.meta_leader().is_some() {
                return Ok(());
            }
            if started.elapsed() > LEADER_TIMEOUT {
                return Err(ServerError::not_ready(
                    "nats-server",
                    NotReady::TimedOut(LEADER_TIMEOUT),
                    &self.nodes[0].log_path(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The meta leader's name, as the first node that answers `/jsz` reports it.
    fn meta_leader(&self) -> Option<String> {
        self.nodes
            .iter()
            .find_map(|node| meta_leader(&node.monitoring_url()))
    }

    /// Every node's client URL, separated by commas, as `nats.url` takes them.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes, in the order of their names (`n0`, `n1`, ...).
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// The node named `name` (as a stream's cluster info names its leader), mutably, to
    /// kill or restart it.
    pub fn node_named(&mut self, name: &str) -> Option<&mut NatsServer> {
        let index = (0..self.nodes.len()).find(|&index| node_name(index) == name)?;
        self.nodes.get_mut(index)
    }
}

/// The server name of node `index`.
fn node_name(index: usize) -> String {
    format!("n{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_nodes_elect_a_meta_leader_and_each_takes_clients() {
        let cluster = NatsCluster::start(3).expect("cluster");
        let leader = cluster.meta_leader().expect("a meta leader");
        assert!((0..3).any(|index| node_name(index) == leader), "{leader}");
        assert_eq!(cluster.url().split(',').count(), 3);
        for node in cluster.nodes() {
            assert!(
                marketprism_servers::port_open(node.port()),
                "{}",
                node.url()
            );
        }
    }
}
