//! The `marketprism` command: every MarketPrism service and tool behind one binary.

mod config_file;
mod deploy;
mod replay;
mod shutdown;

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use config_file::{Layers, Service};
use tracing_subscriber::EnvFilter;

/// Records crypto market data: exchanges → NATS JetStream → ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "marketprism", version, about)]
struct Cli {
    /// Log filter, e.g. `info` or `marketprism_collector=debug` (also `RUST_LOG`); services
    /// log at `info` by default, interactive commands at `warn`.
    #[arg(long, global = true, env = "RUST_LOG")]
    log: Option<String>,
    /// Environment whose overlay applies to configuration files, e.g. `production` reads
    /// `storage.production.toml` over `storage.toml`.
    #[arg(long = "env", global = true, env = "MARKETPRISM_ENV")]
    environment: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
        #[arg(long, required_unless_present_any = ["storage", "backfill"])]
        collector: Option<PathBuf>,
        /// A storage configuration to check.
        #[arg(long)]
        storage: Option<PathBuf>,
        /// A backfill configuration to check.
        #[arg(long)]
        backfill: Option<PathBuf>,
        /// Also ask each venue of the collector configuration for its instrument list and
        /// fail on a symbol it does not list (this connects to the venues' REST endpoints).
        #[arg(long, requires = "collector")]
        symbols: bool,
    },
    /// Inspect configuration.
    Config {
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

#[derive(Debug, Subcommand)]
enum StreamsCommand {
    /// Create the event and dead-letter streams, or update them to the configuration.
    Init {
        /// Storage configuration (TOML); its `[nats]` section is used.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
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

#[derive(Debug, clap::Args)]
struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9443")]
    listen: SocketAddr,
    /// Seed of the deterministic trade sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Binance symbols, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT,ETHUSDT")]
    symbols: Vec<String>,
    /// Trades per second across all symbols.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Stop generating after this many trades (default: never).
    #[arg(long)]
    count: Option<u64>,
    /// Order-book levels per side of every symbol.
    #[arg(long, default_value_t = marketprism_sim::DEFAULT_LEVELS)]
    book_levels: u32,
    /// Seconds between server pings.
    #[arg(long, default_value_t = 20)]
    ping_interval: u64,
    /// Replay a capture file (its WebSocket frames and REST responses, every instrument it
    /// holds) instead of generating data; `--symbols`, `--rate` and the like do not apply.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Replay speed factor; 0 replays as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    replay_speed: f64,
    /// Hold the replay until `POST /control/start`, e.g. until every connection of a
    /// collector is subscribed; by default it starts when a client first subscribes.
    #[arg(long, requires = "replay")]
    replay_hold: bool,
    /// How many of its latest trades per symbol each venue's trade history serves, as
    /// `venue=N` pairs (`binance`, `okx`, `deribit`, `bybit`); by default every trade kept,
    /// and Bybit's latest 1000.
    #[arg(long, default_value = "")]
    history_retention: marketprism_sim::HistoryRetention,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let interactive = matches!(
        cli.command,
        Command::Up(_)
            | Command::Status(_)
            | Command::Down(_)
            | Command::Logs(_)
            | Command::Credentials { .. }
            | Command::Migrate { .. }
            | Command::Streams { .. }
            | Command::Replay(_)
            | Command::Config { .. }
    );
    let filter = cli
        .log
        .as_deref()
        .unwrap_or(if interactive { "warn" } else { "info" });
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(filter).context("invalid --log filter")?)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(execute(cli.command, cli.environment.as_deref()))
}

async fn execute(command: Command, environment: Option<&str>) -> anyhow::Result<()> {
    let collector_layers = |path: &Path| Layers::new(Service::Collector, path, environment);
    let storage_layers = |path: &Path| Layers::new(Service::Storage, path, environment);
    let backfill_layers = |path: &Path| Layers::new(Service::Backfill, path, environment);
    match command {
        Command::Collect { config } => {
            let config: marketprism_collector::Config = collector_layers(&config).load()?;
            let shutdown = shutdown::on_signal();
            marketprism_collector::run(config, shutdown).await?;
        }
        Command::Store { config } => {
            let config: marketprism_storage::Config = storage_layers(&config).load()?;
            let shutdown = shutdown::on_signal();
            marketprism_storage::run(config, shutdown).await?;
        }
        Command::Backfill { config } => {
            let config: marketprism_backfill::Config = backfill_layers(&config).load()?;
            let shutdown = shutdown::on_signal();
            marketprism_backfill::run(config, shutdown).await?;
        }
        Command::Migrate { config } => {
            let config: marketprism_storage::Config = storage_layers(&config).load()?;
            let report = marketprism_storage::migrate::migrate(&config.clickhouse)
                .await
                .context("migration failed")?;
            println!(
                "ClickHouse {} ({} dialect), database {}: applied {:?}, already applied {:?}",
                report.server_version,
                report.dialect,
                config.clickhouse.database,
                report.applied,
                report.already_applied
            );
        }
        Command::Archive { config, watch } => {
            let config: marketprism_storage::Config = storage_layers(&config).load()?;
            let archive = config
                .archive
                .clone()
                .context("the configuration has no [archive] section naming the cold tier")?;
            let shutdown = shutdown::on_signal();
            loop {
                let reports = marketprism_storage::archive::archive(&config.clickhouse, &archive)
                    .await
                    .context("archive failed")?;
                for table in reports {
                    println!(
                        "{}: {} windows, {} rows archived; watermark {:?}{}",
                        table.table,
                        table.windows,
                        table.rows,
                        table.watermark_ms,
                        if table.pruned {
                            "; archived hot rows past retention deleted"
                        } else {
                            ""
                        }
                    );
                }
                if !watch {
                    break;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(archive.interval) => {}
                }
            }
        }
        Command::Streams {
            command: StreamsCommand::Init { config },
        } => {
            let config: marketprism_storage::Config = storage_layers(&config).load()?;
            let client = marketprism_bus::connect(&config.nats, "marketprism-streams").await?;
            let context = async_nats::jetstream::new(client);
            let reports = marketprism_bus::ensure_streams(&context, &config.nats.stream)
                .await
                .context("streams init failed")?;
            for report in reports {
                println!("stream {}: {:?}", report.name, report.change);
            }
        }
        Command::Sim(args) => {
            let config = marketprism_sim::Config {
                listen: args.listen,
                seed: args.seed,
                symbols: args.symbols,
                rate: args.rate,
                count: args.count,
                book_levels: args.book_levels,
                ping_interval: Duration::from_secs(args.ping_interval.max(1)),
                replay: args.replay,
                replay_speed: args.replay_speed,
                replay_hold: args.replay_hold,
                history_retention: args.history_retention,
            };
            marketprism_sim::run(config, shutdown::on_signal()).await?;
        }
        Command::CheckConfig {
            collector,
            storage,
            backfill,
            symbols,
        } => {
            if let Some(path) = collector {
                let config: marketprism_collector::Config = collector_layers(&path).load()?;
                config.validate().map_err(|error| {
                    anyhow::anyhow!("invalid configuration {}: {error}", path.display())
                })?;
                println!("{}: valid collector configuration", path.display());
                if symbols {
                    check_symbols(&config).await?;
                }
            }
            if let Some(path) = storage {
                let config: marketprism_storage::Config = storage_layers(&path).load()?;
                config.validate().map_err(|error| {
                    anyhow::anyhow!("invalid configuration {}: {error}", path.display())
                })?;
                println!("{}: valid storage configuration", path.display());
            }
            if let Some(path) = backfill {
                let config: marketprism_backfill::Config = backfill_layers(&path).load()?;
                config.validate().map_err(|error| {
                    anyhow::anyhow!("invalid configuration {}: {error}", path.display())
                })?;
                println!("{}: valid backfill configuration", path.display());
            }
        }
        Command::Config {
            command: ConfigCommand::Show { service, config },
        } => {
            let layers = Layers::new(service, &config, environment);
            let shown = match service {
                Service::Collector => layers.show::<marketprism_collector::Config>()?,
                Service::Storage => layers.show::<marketprism_storage::Config>()?,
                Service::Backfill => layers.show::<marketprism_backfill::Config>()?,
            };
            print!("{shown}");
        }
        Command::Replay(args) => replay::replay(args, environment).await?,
        Command::Up(args) => deploy::up(args).await?,
        Command::Status(args) => deploy::status(args).await?,
        Command::Down(args) => deploy::down(args).await?,
        Command::Logs(args) => deploy::logs(args)?,
        Command::Credentials {
            dir,
            storage_config,
            backfill_config,
            nats_base,
            nats_config,
            clickhouse_users,
        } => {
            let storage: marketprism_storage::Config = storage_layers(&storage_config).load()?;
            let backfill: marketprism_backfill::Config = match &backfill_config {
                Some(path) => backfill_layers(path).load()?,
                None => marketprism_backfill::Config::default(),
            };
            marketprism_deploy::write_credentials(&marketprism_deploy::CredentialsOptions {
                dir,
                stream: storage.nats.stream,
                storage_durable: storage.consumer.durable_name,
                backfill_durable: backfill.consumer.durable_name,
                database: storage.clickhouse.database,
                nats_base,
                nats_config,
                clickhouse_users,
            })?;
        }
    }
    Ok(())
}

/// Checks the collector's symbols against each venue's instrument list, printing what each
/// venue said; fails when a venue does not list a configured symbol.
async fn check_symbols(config: &marketprism_collector::Config) -> anyhow::Result<()> {
    use marketprism_collector::SymbolCheck;
    let mut unlisted = Vec::new();
    for (feed, check) in marketprism_collector::check_configured_symbols(config).await? {
        match check {
            SymbolCheck::Checked { unlisted: missing } if missing.is_empty() => {
                println!("{feed}: the venue lists every symbol");
            }
            SymbolCheck::Checked { unlisted: missing } => {
                for symbol in missing {
                    println!("{feed}: the venue does not list {symbol}");
                    unlisted.push(format!("{feed} {symbol}"));
                }
            }
            SymbolCheck::Unchecked(reason) => println!("{feed}: symbols not checked: {reason}"),
        }
    }
    if !unlisted.is_empty() {
        anyhow::bail!(
            "the venues do not list {}: remove them from the configuration",
            unlisted.join(", ")
        );
    }
    Ok(())
}
