//! The command line: every subcommand and option of `marketprism`, parsed by clap.
//!
//! A library module so that tests can parse command lines (those the documentation shows)
//! without running them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config_file::Service;
use crate::{deploy, replay};

/// Records crypto market data: exchanges → NATS JetStream → ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "marketprism", version, about)]
pub struct Cli {
    /// Log filter, e.g. `info` or `marketprism_collector=debug` (also `RUST_LOG`); services
    /// log at `info` by default, interactive commands at `warn`.
    #[arg(long, global = true, env = "RUST_LOG")]
    pub log: Option<String>,
    /// Environment whose overlay applies to configuration files, e.g. `production` reads
    /// `storage.production.toml` over `storage.toml`.
    #[arg(long = "env", global = true, env = "MARKETPRISM_ENV")]
    pub environment: Option<String>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands: services, tools and the local deployment.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to venues and publish normalized events to JetStream.
    Collect {
        /// Collector configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Consume events from JetStream and write them to ClickHouse.
    Store {
        /// Storage configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Fill trade gaps from the venues' REST history, publishing the recovered trades and
    /// each gap's final status to JetStream.
    Backfill {
        /// Backfill configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Serve the read API over ClickHouse: what is recorded, its coverage and gaps, and
    /// replay of a range.
    Gateway {
        /// Gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Apply the ClickHouse schema (idempotent).
    Migrate {
        /// Storage configuration (TOML); its `[clickhouse]` section is used.
        #[arg(long)]
        config: PathBuf,
    },
    /// Copy closed time windows from the hot ClickHouse tier to the cold one.
    Archive {
        /// Storage configuration (TOML) with an `[archive]` section.
        #[arg(long)]
        config: PathBuf,
        /// Keep running, archiving every `archive.interval`, until Ctrl-C or SIGTERM.
        #[arg(long)]
        watch: bool,
    },
    /// Manage the JetStream streams.
    Streams {
        /// What to do with the streams.
        #[command(subcommand)]
        command: StreamsCommand,
    },
    /// Run captured frames through the parsers and book sequencers: print the normalized
    /// events as JSON lines, or publish them to JetStream with `--publish` (backfill).
    Replay(replay::ReplayArgs),
    /// Run the local exchange simulator (generated data, or a capture replayed).
    Sim(SimArgs),
    /// Validate configuration files (without connecting anywhere, unless `--symbols`); exits
    /// non-zero on errors.
    CheckConfig {
        /// A collector configuration to check.
        #[arg(long, required_unless_present_any = ["storage", "backfill", "gateway"])]
        collector: Option<PathBuf>,
        /// A storage configuration to check.
        #[arg(long)]
        storage: Option<PathBuf>,
        /// A backfill configuration to check.
        #[arg(long)]
        backfill: Option<PathBuf>,
        /// A gateway configuration to check.
        #[arg(long)]
        gateway: Option<PathBuf>,
        /// Also ask each venue of the collector configuration for its instrument list and
        /// fail on a symbol it does not list (this connects to the venues' REST endpoints).
        #[arg(long, requires = "collector")]
        symbols: bool,
    },
    /// Inspect configuration.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Start everything locally (NATS, ClickHouse, storage, collector) and verify data flows.
    Up(deploy::UpArgs),
    /// Show the health of a local deployment, consumer lag and rows per table.
    Status(deploy::StatusArgs),
    /// Stop a local deployment without losing data.
    Down(deploy::StateArgs),
    /// Print the end of a service's log.
    Logs(deploy::LogsArgs),
    /// Create the identities `up` creates (an nkey each, a ClickHouse password for those
    /// that use it), for a nats-server and ClickHouse run elsewhere: writes nats-server's
    /// configuration with the users and their permissions, and a ClickHouse `users.d` file.
    Credentials {
        /// The credentials directory: created 0700, each secret 0600; existing ones are kept.
        #[arg(long)]
        dir: PathBuf,
        /// Storage configuration: its streams, durable consumer and database.
        #[arg(long)]
        storage_config: PathBuf,
        /// Backfill configuration: its durable consumer (the default one without it).
        #[arg(long)]
        backfill_config: Option<PathBuf>,
        /// A nats-server configuration in JSON to extend with the users.
        #[arg(long)]
        nats_base: Option<PathBuf>,
        /// Where to write nats-server's configuration.
        #[arg(long)]
        nats_config: PathBuf,
        /// Where to write the ClickHouse users (a file for the server's `users.d`).
        #[arg(long)]
        clickhouse_users: PathBuf,
    },
}

/// The subcommands of `streams`.
#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// Create the event and dead-letter streams, or update them to the configuration.
    Init {
        /// Storage configuration (TOML); its `[nats]` section is used.
        #[arg(long)]
        config: PathBuf,
    },
}

/// The subcommands of `config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a service's effective configuration, every key with the layer it came from
    /// (file, variable or default); passwords in URLs are masked.
    Show {
        /// The service.
        #[arg(value_enum)]
        service: Service,
        /// The service's base configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Options of `marketprism sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub listen: SocketAddr,
    /// Seed of the deterministic trade sequence.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The id of each symbol's first trade. A simulator restarted against the same
    /// database must begin above the ids it gave before, or its trades replace stored ones.
    #[arg(long, default_value_t = marketprism_sim::FIRST_TRADE_ID)]
    pub first_trade_id: u64,
    /// Binance symbols, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT,ETHUSDT")]
    pub symbols: Vec<String>,
    /// Trades per second across all symbols.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Stop generating after this many trades (default: never).
    #[arg(long)]
    pub count: Option<u64>,
    /// Order-book levels per side of every symbol.
    #[arg(long, default_value_t = marketprism_sim::DEFAULT_LEVELS)]
    pub book_levels: u32,
    /// Seconds between server pings.
    #[arg(long, default_value_t = 20)]
    pub ping_interval: u64,
    /// Replay a capture file (its WebSocket frames and REST responses, every instrument it
    /// holds) instead of generating data; `--symbols`, `--rate` and the like do not apply.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Replay speed factor; 0 replays as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub replay_speed: f64,
    /// Hold the replay until `POST /control/start`, e.g. until every connection of a
    /// collector is subscribed; by default it starts when a client first subscribes.
    #[arg(long, requires = "replay")]
    pub replay_hold: bool,
    /// How many of its latest trades per symbol each venue's trade history serves, as
    /// `venue=N` pairs (`binance`, `okx`, `deribit`, `bybit`); by default every trade kept,
    /// and Bybit's latest 1000.
    #[arg(long, default_value = "")]
    pub history_retention: marketprism_sim::HistoryRetention,
}
