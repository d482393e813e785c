//! `marketprism replay`: captured frames through the collector's parsers and sequencers.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use marketprism_book::PublishSettings;
use marketprism_capture::records;
use marketprism_model::{codec, Event};
use marketprism_replay::{ReplayError, Replayer};

/// Arguments of `marketprism replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A capture file (JSON Lines, optionally gzipped), as in `tests/fixtures/captures/`.
    capture: PathBuf,
    /// Publish the events to JetStream instead of printing them, each as its own message
    /// with its own `Nats-Msg-Id`, so that publishing again stores nothing twice.
    #[arg(long)]
    publish: bool,
    /// Collector configuration whose `[nats]`, `[books]` and `[publish]` sections apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// NATS server URL (overrides the configuration).
    #[arg(long)]
    nats_url: Option<String>,
}

/// Replays the capture; prints events as JSON lines (or publishes them) and a summary of
/// what each feed produced on stderr. Fails if any record could not be parsed, after
/// replaying every other record.
pub async fn replay(args: ReplayArgs, environment: Option<&str>) -> anyhow::Result<()> {
    let config: Option<marketprism_collector::Config> = match &args.config {
        Some(path) => Some(
            crate::config_file::Layers::new(
                crate::config_file::Service::Collector,
                path,
                environment,
            )
            .load()?,
        ),
        None => None,
    };
    let settings = config
        .as_ref()
        .map_or_else(PublishSettings::default, |config| {
            config.books.publish_settings()
        });
    let mut nats = config
        .as_ref()
        .map(|config| config.nats.clone())
        .unwrap_or_default();
    if let Some(url) = args.nats_url {
        nats.url = url;
    }
    let capture = records(&args.capture)?;
    let mut replayer = Replayer::new(settings);
    let mut failures = 0_u64;
    let mut unsupported = 0_u64;
    let path = args.capture.display().to_string();
    let events = capture.flat_map(|record| {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                eprintln!("{error}");
                failures += 1;
                return Vec::new();
            }
        };
        match replayer.replay(&record) {
            Ok(events) => events,
            Err(ReplayError::UnsupportedFeed { .. }) => {
                unsupported += 1;
                Vec::new()
            }
            Err(error) => {
                eprintln!("{path}: {error}");
                failures += 1;
                Vec::new()
            }
        }
    });
    if args.publish {
        // Every event alone, with its own Nats-Msg-Id: a backfill is often run again (after
        // an interruption, or over a range already published), and the stream then drops
        // every event it holds instead of storing a second, differently grouped copy.
        let publish = marketprism_collector::PublishConfig {
            max_events_per_message: 1,
            ..config
                .as_ref()
                .map(|config| config.publish.clone())
                .unwrap_or_default()
        };
        let published = marketprism_collector::publish_events(&nats, &publish, events)
            .await
            .with_context(|| format!("publishing to {}", nats.url))?;
        eprintln!("published {published} events to {}", nats.url);
    } else {
        print_events(events)?;
    }
    eprintln!(
        "{}",
        serde_json::to_string_pretty(replayer.stats()).unwrap_or_default()
    );
    if unsupported > 0 {
        eprintln!("skipped {unsupported} records of feeds MarketPrism does not record");
    }
    anyhow::ensure!(failures == 0, "{failures} records could not be replayed");
    Ok(())
}

fn print_events(events: impl Iterator<Item = Event>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for event in events {
        out.write_all(&codec::encode(&event))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
