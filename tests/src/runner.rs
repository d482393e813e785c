//! The processes of one pipeline run, as the scenarios, the captures and the benchmark start
//! them: the run's directory, names and ports; its configurations, built as the collector's
//! and storage's typed values and written as TOML; the one-shot tools (`migrate`, `streams
//! init`); and the services (simulator, storage, collector, backfill), each started and
//! waited for.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use marketprism_collector::{
    BooksConfig, ConnectionConfig, DiscoverConfig, PollConfig, PublishConfig, VenueConfig,
};
use marketprism_servers::{free_port, log_tail, run_logged, write_toml, Readiness, Service};
use marketprism_storage::{BatchConfig, ClickHouseConfig, ConsumerConfig};
use serde::de::value::{Error as ValueError, MapDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer as _};
use serde::Deserialize as _;

use crate::services::Services;

/// Longest wait for a started service to be ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of a log an error quotes.
const QUOTED_LINES: usize = 20;

/// What one run's database, streams and storage consumer are called.
#[derive(Debug, Clone)]
pub struct Names {
    /// The ClickHouse database.
    pub database: String,
    /// The event stream.
    pub stream: String,
    /// The dead-letter stream: the event stream's name and `_DEADLETTER`.
    pub deadletter_stream: String,
    /// The collector's feed-state bucket: the event stream's name and `_STATE`, so that a
    /// run never continues from another's feeds.
    pub state_bucket: String,
    /// The storage consumer's durable name.
    pub durable: String,
}

impl Names {
    /// The names of a run with this database, event stream and durable consumer.
    pub fn new(database: String, stream: String, durable: String) -> Self {
        Names {
            database,
            deadletter_stream: format!("{stream}_DEADLETTER"),
            state_bucket: format!("{stream}_STATE"),
            stream,
            durable,
        }
    }
}

/// Loopback ports of the run's own processes, free when the run starts.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// The simulator's WebSocket, REST and control port.
    pub sim: u16,
    /// Storage's `/ready` and `/metrics`.
    pub storage: u16,
    /// The collector's `/ready` and `/metrics`.
    pub collector: u16,
    /// The backfill's `/ready` and `/metrics`.
    pub backfill: u16,
    /// The gateway's API, `/ready` and `/metrics`.
    pub gateway: u16,
}

/// One venue of the collector, pointed at the simulator, with venues, channels and polled
/// series named as the configuration file names them.
#[derive(Debug, Clone)]
pub struct VenueSpec {
    /// Venue kind, e.g. `binance_usdm`.
    pub venue: &'static str,
    /// Path of the venue's endpoint on the simulator, e.g. `/fapi`.
    pub path: &'static str,
    /// Configured symbols.
    pub symbols: Vec<String>,
    /// Channels, e.g. `trades`, `orderbook`.
    pub channels: Vec<&'static str>,
    /// Polled series: (data, interval, period).
    pub polls: Vec<(&'static str, &'static str, &'static str)>,
    /// Instruments chosen from the venue's list besides `symbols`, if any.
    pub discover: Option<DiscoverConfig>,
}

impl VenueSpec {
    /// Binance spot with the normalized symbols of (Binance, normalized) pairs.
    pub fn binance_spot(symbols: &[(String, String)], channels: Vec<&'static str>) -> Self {
        VenueSpec {
            venue: "binance_spot",
            path: "",
            symbols: symbols
                .iter()
                .map(|(_, normalized)| normalized.clone())
                .collect(),
            channels,
            polls: Vec::new(),
            discover: None,
        }
    }

    /// The collector's section for this venue, its endpoints on the simulator at `sim_port`.
    /// Each name is read by the configuration's own types, so a misspelt one fails here.
    pub fn config(&self, sim_port: u16) -> anyhow::Result<VenueConfig> {
        Ok(VenueConfig {
            venue: named(self.venue)?,
            endpoint: Some(format!("ws://127.0.0.1:{sim_port}{}", self.path)),
            rest_endpoint: Some(format!("http://127.0.0.1:{sim_port}")),
            symbols: self.symbols.clone(),
            discover: self.discover.clone(),
            channels: self
                .channels
                .iter()
                .map(|channel| named(channel))
                .collect::<anyhow::Result<_>>()?,
            polls: self
                .polls
                .iter()
                .map(|&(data, interval, period)| {
                    let fields = [("data", data), ("interval", interval), ("period", period)];
                    PollConfig::deserialize(MapDeserializer::<_, ValueError>::new(
                        fields.into_iter(),
                    ))
                    .with_context(|| format!("polled series {fields:?}"))
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// The value a configuration file writes as `name`, e.g. `binance_usdm` or `orderbook`.
pub(crate) fn named<T: DeserializeOwned>(name: &str) -> anyhow::Result<T> {
    T::deserialize(name.into_deserializer())
        .map_err(|error: ValueError| anyhow!("{name:?}: {error}"))
}

/// One pipeline run's directory, names, ports and processes.
#[derive(Debug)]
pub struct Runner {
    binary: PathBuf,
    dir: PathBuf,
    nats_url: String,
    clickhouse_url: String,
    /// Copies of each stream JetStream keeps: 1 on one server, 3 on a cluster.
    replicas: usize,
    /// The run's database, streams and consumer.
    pub names: Names,
    /// The run's ports.
    pub ports: Ports,
}

impl Runner {
    /// A run of `binary` on `services` with its files in `dir` (created) and free ports.
    pub fn new(
        binary: &Path,
        services: &Services,
        dir: &Path,
        names: Names,
    ) -> anyhow::Result<Self> {
        Self::on(
            binary,
            &services.nats_url,
            &services.clickhouse_url,
            1,
            dir,
            names,
        )
    }

    /// A run of `binary` on the NATS at `nats_url` (comma-separated for a cluster) keeping
    /// `replicas` copies of each stream, and the ClickHouse at `clickhouse_url`.
    pub fn on(
        binary: &Path,
        nats_url: &str,
        clickhouse_url: &str,
        replicas: usize,
        dir: &Path,
        names: Names,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Runner {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            nats_url: nats_url.to_owned(),
            clickhouse_url: clickhouse_url.to_owned(),
            replicas,
            names,
            ports: Ports {
                sim: free_port()?,
                storage: free_port()?,
                collector: free_port()?,
                backfill: free_port()?,
                gateway: free_port()?,
            },
        })
    }

    /// The NATS settings of every service: the run's server and streams.
    pub fn nats(&self) -> marketprism_bus::Config {
        let mut nats = marketprism_bus::Config {
            url: self.nats_url.clone(),
            ..marketprism_bus::Config::default()
        };
        nats.stream.name = self.names.stream.clone();
        nats.stream.deadletter_name = self.names.deadletter_stream.clone();
        nats.stream.state_bucket = self.names.state_bucket.clone();
        nats.stream.replicas = self.replicas;
        nats
    }

    /// Storage on the run's streams, database and consumer, with default settings otherwise.
    pub fn storage_config(&self) -> marketprism_storage::Config {
        marketprism_storage::Config {
            nats: self.nats(),
            clickhouse: ClickHouseConfig {
                url: self.clickhouse_url.clone(),
                database: self.names.database.clone(),
                ..ClickHouseConfig::default()
            },
            consumer: ConsumerConfig {
                durable_name: self.names.durable.clone(),
                ..ConsumerConfig::default()
            },
            batch: BatchConfig::default(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.storage)),
            archive: None,
            disks: Vec::new(),
        }
    }

    /// The collector on the run's streams with `books` and `venues`; it reconnects within
    /// two seconds and replaces a connection silent for ten.
    pub fn collector_config(
        &self,
        books: BooksConfig,
        venues: Vec<VenueConfig>,
    ) -> marketprism_collector::Config {
        marketprism_collector::Config {
            name: None,
            shard: None,
            nats: self.nats(),
            venues,
            connection: ConnectionConfig {
                backoff_initial: Duration::from_millis(200),
                backoff_max: Duration::from_secs(2),
                watchdog: Duration::from_secs(10),
                ..ConnectionConfig::default()
            },
            publish: PublishConfig::default(),
            books,
            rest: marketprism_collector::RestConfig::default(),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.collector)),
        }
    }

    /// The backfill on the run's streams, filling the trade gaps of `venues` (those of them
    /// with a trade channel) from the simulator's history.
    pub fn backfill_config(
        &self,
        venues: &[VenueSpec],
    ) -> anyhow::Result<marketprism_backfill::Config> {
        let mut filled = Vec::new();
        for venue in venues {
            let channels = venue
                .channels
                .iter()
                .map(|channel| named(channel))
                .collect::<anyhow::Result<Vec<marketprism_venues::Channel>>>()?
                .into_iter()
                .filter(|channel| {
                    matches!(
                        channel,
                        marketprism_venues::Channel::Trades
                            | marketprism_venues::Channel::AggregateTrades
                    )
                })
                .collect::<Vec<_>>();
            if channels.is_empty() {
                continue;
            }
            filled.push(marketprism_backfill::VenueConfig {
                venue: named(venue.venue)?,
                rest_endpoint: Some(format!("http://127.0.0.1:{}", self.ports.sim)),
                channels,
            });
        }
        Ok(marketprism_backfill::Config {
            nats: self.nats(),
            venues: filled,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.backfill)),
            ..marketprism_backfill::Config::default()
        })
    }

    /// Writes the backfill's configuration for `venues` into the run's `backfill.toml`.
    pub fn write_backfill_config(&self, venues: &[VenueSpec]) -> anyhow::Result<()> {
        Ok(write_toml(
            &self.dir.join("backfill.toml"),
            "",
            &self.backfill_config(venues)?,
        )?)
    }

    /// Starts the backfill with the run's `backfill.toml` and waits until it is ready.
    pub fn start_backfill(&self) -> anyhow::Result<Service> {
        self.start_service(
            "backfill",
            "backfill",
            self.dir.join("backfill.toml"),
            self.ports.backfill,
        )
    }

    /// Writes the gateway's configuration (the run's streams and database, its own port)
    /// into the run's `gateway.toml`, starts it and waits until it is ready.
    pub fn start_gateway(&self) -> anyhow::Result<Service> {
        let config = marketprism_gateway::Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.gateway)),
            nats: self.nats(),
            clickhouse: self.storage_config().clickhouse,
            ..marketprism_gateway::Config::default()
        };
        let path = self.dir.join("gateway.toml");
        write_toml(&path, "", &config)?;
        self.start_service("gateway", "gateway", path, self.ports.gateway)
    }

    /// Writes `storage` into the run's `storage.toml`.
    pub fn write_storage_config(
        &self,
        storage: &marketprism_storage::Config,
    ) -> anyhow::Result<()> {
        Ok(write_toml(&self.storage_config_path(), "", storage)?)
    }

    /// Writes `collector` into the run's `collector.toml`.
    pub fn write_collector_config(
        &self,
        collector: &marketprism_collector::Config,
    ) -> anyhow::Result<()> {
        Ok(write_toml(&self.collector_config_path(), "", collector)?)
    }

    /// The storage configuration file.
    pub fn storage_config_path(&self) -> PathBuf {
        self.dir.join("storage.toml")
    }

    /// The collector configuration file.
    pub fn collector_config_path(&self) -> PathBuf {
        self.dir.join("collector.toml")
    }

    /// A log file of the run, e.g. `storage.log`.
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// The last lines of a log of the run, for error messages.
    pub fn log_tail(&self, name: &str) -> String {
        log_tail(&self.log(name), QUOTED_LINES)
    }

    /// Applies the schema and creates the streams (`marketprism migrate`, `marketprism
    /// streams init`) with the storage configuration.
    pub fn init(&self) -> anyhow::Result<()> {
        self.migrate()?;
        self.tool("streams-init", &["streams", "init"])
    }

    /// Applies the schema (`marketprism migrate`) with the storage configuration.
    pub fn migrate(&self) -> anyhow::Result<()> {
        self.tool("migrate", &["migrate"])
    }

    /// Runs `marketprism <args> --config storage.toml`, its output in `<name>.log`.
    fn tool(&self, name: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .args(args)
            .arg("--config")
            .arg(self.storage_config_path());
        Ok(run_logged(
            &format!("marketprism {}", args.join(" ")),
            command,
            &self.log(name),
        )?)
    }

    /// Starts the simulator on its port with `args` and waits until it listens: the
    /// collector's first connection must find it, since a refused connection is (rightly)
    /// recorded as a gap.
    pub fn start_sim<I, S>(&self, args: I) -> anyhow::Result<Service>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(&self.binary);
        command
            .args(["sim", "--listen"])
            .arg(format!("127.0.0.1:{}", self.ports.sim))
            .args(args);
        self.start("sim", command, Readiness::Port(self.ports.sim))
    }

    /// Starts storage with the run's configuration and waits until it is ready.
    pub fn start_storage(&self) -> anyhow::Result<Service> {
        self.start_service(
            "storage",
            "store",
            self.storage_config_path(),
            self.ports.storage,
        )
    }

    /// Starts storage worker `index` (1, 2, ...) beside the one [`Runner::start_storage`]
    /// starts: the configuration [`Runner::write_storage_config`] wrote, sharing its durable
    /// consumer, on a port of its own, with its configuration in `storage-<index>.toml` and
    /// its log in `storage-<index>.log`.
    pub fn start_storage_worker(&self, index: usize) -> anyhow::Result<Service> {
        let name = format!("storage-{index}");
        let port = free_port()?;
        let written = self.storage_config_path();
        let text = std::fs::read_to_string(&written)
            .with_context(|| format!("reading {}", written.display()))?;
        let mut config: marketprism_storage::Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", written.display()))?;
        config.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let path = self.dir.join(format!("{name}.toml"));
        write_toml(&path, "", &config)?;
        self.start_service(&name, "store", path, port)
    }

    /// Writes the configuration of the collector `name`, one of several on the same feeds
    /// (active-active): `collector` under that name, listening on `port`, in
    /// `collector-<name>.toml`.
    pub fn write_named_collector_config(
        &self,
        collector: &marketprism_collector::Config,
        name: &str,
        port: u16,
    ) -> anyhow::Result<()> {
        let config = marketprism_collector::Config {
            name: Some(name.to_owned()),
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ..collector.clone()
        };
        Ok(write_toml(&self.named_collector_path(name), "", &config)?)
    }

    /// Starts the collector `name` with the configuration
    /// [`write_named_collector_config`](Self::write_named_collector_config) wrote, on `port`,
    /// its log in `collector-<name>.log`, and waits until it is ready.
    pub fn start_named_collector(&self, name: &str, port: u16) -> anyhow::Result<Service> {
        self.start_service(
            &format!("collector-{name}"),
            "collect",
            self.named_collector_path(name),
            port,
        )
    }

    fn named_collector_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("collector-{name}.toml"))
    }

    /// Starts the collector with the run's configuration and waits until it is ready.
    pub fn start_collector(&self) -> anyhow::Result<Service> {
        self.start_service(
            "collector",
            "collect",
            self.collector_config_path(),
            self.ports.collector,
        )
    }

    fn start_service(
        &self,
        name: &str,
        subcommand: &str,
        config: PathBuf,
        port: u16,
    ) -> anyhow::Result<Service> {
        let mut command = Command::new(&self.binary);
        command.arg(subcommand).arg("--config").arg(config);
        let ready = Readiness::Http(format!("http://127.0.0.1:{port}/ready"));
        self.start(name, command, ready)
    }

    /// Spawns `command` as `name`, its output in `<name>.log`, and waits for `ready`.
    fn start(&self, name: &str, command: Command, ready: Readiness) -> anyhow::Result<Service> {
        let mut service = Service::spawn(name, command, &self.log(name))
            .with_context(|| format!("starting {name}"))?;
        service
            .wait_ready(&ready, READY_TIMEOUT)
            .map_err(|reason| anyhow!("{name} {reason}; log:\n{}", self.log_tail(name)))?;
        Ok(service)
    }

    /// Messages of the event stream the storage consumer has not been delivered yet, plus
    /// those awaiting its ack.
    pub async fn consumer_lag(&self) -> anyhow::Result<u64> {
        let client = marketprism_bus::connect(&self.nats(), "e2e").await?;
        let context = async_nats::jetstream::new(client);
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = context
            .get_consumer_from_stream(&self.names.durable, &self.names.stream)
            .await?;
        let info = consumer.info().await?;
        Ok(info.num_pending + info.num_ack_pending as u64)
    }

    /// The event stream's state (messages, bytes), as the server it reaches reports it.
    pub async fn stream_state(&self) -> anyhow::Result<async_nats::jetstream::stream::State> {
        let client = marketprism_bus::connect(&self.nats(), "e2e").await?;
        let mut stream = async_nats::jetstream::new(client)
            .get_stream(&self.names.stream)
            .await?;
        Ok(stream.info().await?.state.clone())
    }

    /// The simulator's counts.
    pub async fn sim_summary(&self) -> anyhow::Result<marketprism_sim::Summary> {
        let url = format!("http://127.0.0.1:{}/control/summary", self.ports.sim);
        Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
    }

    /// Messages in the dead-letter stream.
    pub async fn dead_letters(&self) -> anyhow::Result<u64> {
        let client = marketprism_bus::connect(&self.nats(), "e2e").await?;
        let mut stream = async_nats::jetstream::new(client)
            .get_stream(&self.names.deadletter_stream)
            .await?;
        Ok(stream.info().await?.state.messages)
    }

    /// Deletes the run's streams and feed-state bucket, so that another run's can claim the
    /// same subjects.
    pub async fn delete_streams(&self) -> anyhow::Result<()> {
        let client = marketprism_bus::connect(&self.nats(), "e2e").await?;
        let context = async_nats::jetstream::new(client);
        for stream in [&self.names.stream, &self.names.deadletter_stream] {
            context
                .delete_stream(stream)
                .await
                .with_context(|| format!("deleting stream {stream}"))?;
        }
        context
            .delete_key_value(&self.names.state_bucket)
            .await
            .with_context(|| format!("deleting bucket {}", self.names.state_bucket))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venues_are_read_by_the_configuration_types() {
        let spec = VenueSpec {
            venue: "binance_usdm",
            path: "/fapi",
            symbols: vec!["BTC-USDT".into()],
            channels: vec!["aggregate_trades", "orderbook"],
            polls: vec![("long_short_top_positions", "1s", "5m")],
            discover: None,
        };
        let config = spec.config(9443).expect("valid names");
        assert_eq!(config.endpoint(), "ws://127.0.0.1:9443/fapi");
        assert_eq!(config.rest_endpoint(), "http://127.0.0.1:9443");
        assert_eq!(config.polls[0].interval, Duration::from_secs(1));
        assert_eq!(config.polls[0].period, "5m");
        let section: toml::Table =
            toml::from_str(&toml::to_string(&config).expect("serializes")).expect("parses");
        assert_eq!(
            section["channels"],
            toml::Value::Array(vec!["aggregate_trades".into(), "orderbook".into()])
        );
        let misspelt = VenueSpec {
            channels: vec!["order_book"],
            ..spec
        };
        assert!(misspelt.config(9443).is_err());
    }
}
