//! The `marketprism` command: every MarketPrism service and tool behind one binary. The
//! binary calls [`main`]; [`cli`] holds the command line, which tests parse.

pub mod cli;
mod config_file;
mod deploy;
mod replay;
mod shutdown;

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use cli::{Cli, Command, ConfigCommand, StreamsCommand};
use config_file::{Layers, Service};
use tracing_subscriber::EnvFilter;

/// Parses the command line, sets up logging and runs the command.
pub fn main() -> anyhow::Result<()> {
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
    let gateway_layers = |path: &Path| Layers::new(Service::Gateway, path, environment);
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
        Command::Gateway { config } => {
            let config: marketprism_gateway::Config = gateway_layers(&config).load()?;
            let shutdown = shutdown::on_signal();
            marketprism_gateway::run(config, shutdown).await?;
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
                first_trade_id: args.first_trade_id,
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
            gateway,
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
            if let Some(path) = gateway {
                let config: marketprism_gateway::Config = gateway_layers(&path).load()?;
                config.validate().map_err(|error| {
                    anyhow::anyhow!("invalid configuration {}: {error}", path.display())
                })?;
                println!("{}: valid gateway configuration", path.display());
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
                Service::Gateway => layers.show::<marketprism_gateway::Config>()?,
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
