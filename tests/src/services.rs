//! NATS and ClickHouse for the harness: child processes (`native`) or containers.
//!
//! `native` runs the servers of a [`Release`] as children on free loopback ports with
//! temporary state (see `marketprism-testkit`: current releases by default, or what a local
//! deployment finds). `containers` runs the official images through testcontainers; it is
//! the path for CI systems with a Docker engine and is chosen automatically when one
//! answers.

use std::time::Duration;

use anyhow::{bail, Context as _};
use marketprism_testkit::{ClickHouseServer, NatsServer, Release};
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// Which services backend to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// `containers` when a Docker engine answers, `native` otherwise.
    #[default]
    Auto,
    /// Child processes from `PATH`.
    Native,
    /// Official images through testcontainers.
    Containers,
}

/// Running NATS and ClickHouse; dropping it stops them.
pub struct Services {
    /// NATS client URL.
    pub nats_url: String,
    /// ClickHouse HTTP URL.
    pub clickhouse_url: String,
    /// What runs, for reports.
    pub description: String,
    /// Process ids of the servers, by name, when they run as local children.
    pub pids: Vec<(&'static str, u32)>,
    _running: Running,
}

enum Running {
    Native {
        _nats: Box<NatsServer>,
        _clickhouse: Box<ClickHouseServer>,
    },
    Containers {
        _nats: Box<ContainerAsync<GenericImage>>,
        _clickhouse: Box<ContainerAsync<GenericImage>>,
    },
}

/// Starts the services of `release` with the chosen backend.
pub async fn start(backend: Backend, release: Release) -> anyhow::Result<Services> {
    let use_containers = match backend {
        Backend::Auto => docker_answers().await,
        Backend::Native => false,
        Backend::Containers => {
            if !docker_answers().await {
                bail!("--backend containers needs a Docker engine, and none answers on /var/run/docker.sock");
            }
            true
        }
    };
    if use_containers {
        start_containers(release).await
    } else {
        start_native(release)
    }
}

fn start_native(release: Release) -> anyhow::Result<Services> {
    let nats = NatsServer::start_release(release)
        .with_context(|| format!("starting the {release} nats-server"))?;
    let clickhouse = ClickHouseServer::start_release(release)
        .with_context(|| format!("starting the {release} ClickHouse"))?;
    Ok(Services {
        nats_url: nats.url(),
        clickhouse_url: clickhouse.url(),
        description: format!(
            "{release}, native: {}; {}",
            nats.description(),
            clickhouse.description()
        ),
        pids: vec![
            ("nats-server", nats.pid()),
            ("clickhouse", clickhouse.pid()),
        ],
        _running: Running::Native {
            _nats: Box::new(nats),
            _clickhouse: Box::new(clickhouse),
        },
    })
}

async fn start_containers(release: Release) -> anyhow::Result<Services> {
    // The deployed release is what `cargo xtask deploy --fresh` installs on Debian 12.
    let (nats_tag, clickhouse_image, clickhouse_tag) = match release {
        Release::Current => ("2.10-alpine", "clickhouse/clickhouse-server", "24.8"),
        Release::Deployed => ("2.9-alpine", "yandex/clickhouse-server", "18.16"),
    };
    let nats = GenericImage::new("nats", nats_tag)
        .with_exposed_port(4222.tcp())
        .with_wait_for(WaitFor::message_on_stderr("Server is ready"))
        .with_cmd(["--jetstream"])
        .start()
        .await
        .context("starting the nats container")?;
    let clickhouse = GenericImage::new(clickhouse_image, clickhouse_tag)
        .with_exposed_port(8123.tcp())
        .with_env_var("CLICKHOUSE_SKIP_USER_SETUP", "1")
        .start()
        .await
        .context("starting the clickhouse container")?;
    let nats_url = format!("nats://127.0.0.1:{}", nats.get_host_port_ipv4(4222).await?);
    let clickhouse_url = format!(
        "http://127.0.0.1:{}",
        clickhouse.get_host_port_ipv4(8123).await?
    );
    wait_for_clickhouse(&clickhouse_url).await?;
    Ok(Services {
        nats_url,
        clickhouse_url,
        description: format!(
            "{release}, containers: nats:{nats_tag}; {clickhouse_image}:{clickhouse_tag}"
        ),
        pids: Vec::new(),
        _running: Running::Containers {
            _nats: Box::new(nats),
            _clickhouse: Box::new(clickhouse),
        },
    })
}

async fn wait_for_clickhouse(url: &str) -> anyhow::Result<()> {
    for _ in 0..120 {
        if let Ok(response) = reqwest::get(format!("{url}/ping")).await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("ClickHouse at {url} did not answer /ping within 60 s")
}

/// True when a Docker engine answers `GET /_ping` on its Unix socket.
async fn docker_answers() -> bool {
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(str::to_owned))
        .unwrap_or_else(|| "/var/run/docker.sock".to_owned());
    let Ok(client) = reqwest::Client::builder()
        .unix_socket(socket)
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    // Over a Unix socket the host name only fills the request's `Host` header.
    client
        .get("http://docker/_ping")
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}
