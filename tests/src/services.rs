//! NATS and ClickHouse for the harness: the servers of a [`Release`] as child processes on
//! free loopback ports with temporary state (see `marketprism-testkit`: current releases by
//! default, or what a local deployment finds).

use anyhow::Context as _;
use marketprism_testkit::{ClickHouseServer, NatsServer, Release};

/// Running NATS and ClickHouse; dropping it stops them.
pub struct Services {
    /// NATS client URL.
    pub nats_url: String,
    /// ClickHouse HTTP URL.
    pub clickhouse_url: String,
    /// What runs, for reports.
    pub description: String,
    /// Process ids of the servers, by name.
    pub pids: Vec<(&'static str, u32)>,
    nats: NatsServer,
    _clickhouse: ClickHouseServer,
}

impl Services {
    /// The NATS server, to pause, kill or restart it.
    pub fn nats_server(&mut self) -> &mut NatsServer {
        &mut self.nats
    }
}

/// Starts the servers of `release`.
pub fn start(release: Release) -> anyhow::Result<Services> {
    let nats = NatsServer::start_release(release)
        .with_context(|| format!("starting the {release} nats-server"))?;
    let clickhouse = ClickHouseServer::start_release(release)
        .with_context(|| format!("starting the {release} ClickHouse"))?;
    Ok(Services {
        nats_url: nats.url(),
        clickhouse_url: clickhouse.url(),
        description: format!(
            "{release}: {}; {}",
            nats.description(),
            clickhouse.description()
        ),
        pids: vec![
            ("nats-server", nats.pid()),
            ("clickhouse", clickhouse.pid()),
        ],
        nats,
        _clickhouse: clickhouse,
    })
}
