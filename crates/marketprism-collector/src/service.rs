//! Wires configuration, connections, the publisher and the HTTP endpoint together.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use marketprism_bus::Backoff;
use marketprism_rest::RestClients;
use marketprism_telemetry::Readiness;
use marketprism_venues::{MessageScope, VenueError};
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::books::RecoverySettings;
use crate::config::{Config, PublishConfig};
use crate::connection::Gate;
use crate::feed::{Feed, FeedParts};
use crate::instruments::{check_symbols, SymbolCheck};
use crate::metrics::{watch_readiness, Metrics, ReadyRules};
use crate::publisher::Publisher;
use crate::resume::FeedStore;
use crate::sharding::{connection_pacer, message_pacer};
use crate::spool::Spool;

/// The collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// NATS is unavailable.
    #[error(transparent)]
    Bus(#[from] marketprism_bus::BusError),
    /// The publisher had to stop: events can no longer be stored.
    #[error(transparent)]
    Publish(#[from] crate::publisher::PublisherError),
    /// The publisher task panicked.
    #[error("the publisher failed: {0}")]
    PublisherPanicked(#[from] tokio::task::JoinError),
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
    /// The HTTP endpoint could not bind.
    #[error("cannot serve metrics on {address}: {source}")]
    Listen {
        /// The configured address.
        address: std::net::SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

/// Runs the collector until `shutdown` is cancelled; then stops reading, publishes what was
/// read and waits for every ack before returning. Returns early, with the reason, when the
/// publisher has to stop (the stream is missing): connections are stopped then.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), CollectorError> {
    // Connections stop at shutdown, or when the publisher can no longer store what they read.
    let reading = shutdown.child_token();
    config.validate().map_err(CollectorError::Config)?;
    let config = config.for_shard().map_err(CollectorError::Config)?;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let readiness = Readiness::new("collector", env!("CARGO_PKG_VERSION"));
    let http_shutdown = CancellationToken::new();
    let (_, http) = marketprism_telemetry::bind(
        config.listen,
        registry,
        readiness.clone(),
        http_shutdown.clone(),
    )
    .await
    .map_err(|source| CollectorError::Listen {
        address: config.listen,
        source,
    })?;
    let http = tokio::spawn(http);

    let spool = match &config.publish.spool {
        Some(spool) => Some(Spool::open(&spool.path, spool.max_bytes)?),
        None => {
            tracing::warn!(
                max_outstanding_acks = config.publish.max_outstanding_acks,
                "No publish.spool configured: during a JetStream outage the collector holds at \
                 most max_outstanding_acks messages in memory, then stops reading its venues."
            );
            None
        }
    };
    let Some(client) = connect(&config, &readiness, &shutdown).await? else {
        tracing::info!("Shutdown requested before NATS was reachable; no venue was connected.");
        http_shutdown.cancel();
        let _ = http.await;
        return Ok(());
    };
    let state_bucket =
        marketprism_bus::state_bucket(&jetstream::new(client.clone()), &config.nats.stream).await?;
    let (sender, receiver) = mpsc::channel(config.publish.queue_capacity);
    let publisher = tokio::spawn(
        Publisher::new(
            client.clone(),
            config.nats.stream.clone(),
            config.publish.clone(),
            metrics.clone(),
            spool,
            config.name.clone(),
        )
        .run(receiver),
    );

    // One budget per venue endpoint, spent by its connections' snapshots and its pollers.
    let mut rest_clients = RestClients::new(
        http_client(&config)?,
        config.rest.budget_share,
        metrics.rest.clone(),
    );
    let book_recovery = RecoverySettings {
        retry_initial: config.books.snapshot_retry_initial,
        retry_max: config.books.snapshot_retry_max,
        unsynced_after: config.books.unsynced_gap_after,
    };
    let config_error = |error: VenueError| CollectorError::Config(error.to_string());
    let connections = TaskTracker::new();
    // Per endpoint and venue: the gate of new connections, and the gate of messages where
    // the venue counts them per IP; shared by every connection there.
    let mut gates: HashMap<(String, &'static str), (Gate, Option<Gate>)> = HashMap::new();
    let mut feeds = Vec::new();
    for venue in &config.venues {
        let protocol = venue.protocol().map_err(config_error)?;
        let limits = protocol.ws_limits();
        let (connect_gate, message_gate) = gates
            .entry((venue.endpoint().to_owned(), limits.name))
            .or_insert_with(|| {
                let per_ip = limits.message_scope == MessageScope::Ip;
                (
                    Gate::new(connection_pacer(&limits)),
                    per_ip.then(|| Gate::new(message_pacer(&limits))),
                )
            })
            .clone();
        let parts = FeedParts {
            venue: venue.clone(),
            shard: config.shard,
            rest_client: rest_clients.client(venue.rest_endpoint(), protocol.rest_limits()),
            book_recovery,
            book_settings: config.books.publish_settings(),
            connection: config.connection.clone(),
            connect_gate,
            message_gate,
            sender: sender.clone(),
            metrics: metrics.clone(),
            store: FeedStore::new(
                state_bucket.clone(),
                config.name.as_deref(),
                protocol.exchange(),
                protocol.market_type(),
            ),
            tasks: connections.clone(),
            reading: reading.clone(),
        };
        feeds.push(Feed::new(parts).map_err(config_error)?);
    }
    // Every venue's list at once, so that venues that do not answer delay the start once.
    futures::future::join_all(feeds.iter_mut().map(Feed::read_list)).await;
    for mut feed in feeds {
        let mut warned = HashSet::new();
        let selected = feed.selection(&mut warned);
        feed.apply(&selected)
            .map_err(|error| CollectorError::Config(error.to_string()))?;
        tracing::info!(
            feed = %feed.name(),
            instruments = selected.len(),
            connections = feed.connection_count(),
            "Connections planned within the venue's limits."
        );
        if let Some(discover) = feed.discover_interval() {
            connections.spawn(feed.discover(discover, warned));
        }
    }
    connections.close();
    drop(sender);

    // Ready while every connection is subscribed and JetStream acknowledges in time.
    let rules = ReadyRules {
        watchdog: config.connection.watchdog,
        ack_deadline: config.publish.ack_deadline,
        outstanding_acks_bound: config.publish.outstanding_acks_bound(),
        spool: config
            .publish
            .spool
            .as_ref()
            .map(|spool| spool.path.clone()),
    };
    let readiness_task = tokio::spawn(watch_readiness(
        metrics.clone(),
        client,
        rules,
        readiness,
        reading.clone(),
    ));

    let mut publisher = publisher;
    let published = tokio::select! {
        () = connections.wait() => {
            tracing::info!("Connections closed; draining the publisher.");
            publisher.await
        }
        // The publisher ends before the connections only when it had to stop.
        ended = &mut publisher => {
            reading.cancel();
            connections.wait().await;
            ended
        }
    };
    reading.cancel();
    let _ = readiness_task.await;
    http_shutdown.cancel();
    let _ = http.await;
    published??;
    Ok(())
}

/// The HTTP client of REST requests: each bounded by the subscribe timeout.
fn http_client(config: &Config) -> Result<reqwest::Client, CollectorError> {
    reqwest::Client::builder()
        .timeout(config.connection.subscribe_timeout)
        .build()
        .map_err(|error| CollectorError::Config(format!("HTTP client: {error}")))
}

/// Checks every venue's configured symbols against its instrument list, all venues at once
/// (`check-config --symbols`): each feed (`binance.spot`) with what its list says.
pub async fn check_configured_symbols(
    config: &Config,
) -> Result<Vec<(String, SymbolCheck)>, CollectorError> {
    let config_error = |error: VenueError| CollectorError::Config(error.to_string());
    let mut rest_clients = RestClients::new(
        http_client(config)?,
        config.rest.budget_share,
        Metrics::default().rest,
    );
    let mut checks = Vec::new();
    for venue in &config.venues {
        let protocol = venue.protocol().map_err(config_error)?;
        let rest_client = rest_clients.client(venue.rest_endpoint(), protocol.rest_limits());
        let symbols = venue.normalized_symbols().map_err(config_error)?;
        checks.push(async move {
            let feed = format!("{}.{}", protocol.exchange(), protocol.market_type());
            let check = check_symbols(
                protocol.as_ref(),
                venue.rest_endpoint(),
                &rest_client,
                &symbols,
            )
            .await;
            (feed, check)
        });
    }
    Ok(futures::future::join_all(checks).await)
}

/// Connects to NATS and waits until the connection is up, retrying with backoff and saying
/// which URL does not answer; no venue is connected before, since nothing read could be
/// published. `None` when `shutdown` comes first.
async fn connect(
    config: &Config,
    readiness: &Readiness,
    shutdown: &CancellationToken,
) -> Result<Option<async_nats::Client>, CollectorError> {
    // The client connects in the background and keeps trying; this waits for it.
    let client = marketprism_bus::connect(&config.nats, "marketprism-collector").await?;
    let url = &config.nats.url;
    let mut backoff = Backoff::new(
        config.connection.backoff_initial,
        config.connection.backoff_max,
    );
    let started = Instant::now();
    let mut next_report = started + backoff.next_delay();
    while client.connection_state() != State::Connected {
        if Instant::now() >= next_report {
            let waited = started.elapsed();
            tracing::warn!(%url, waited = ?waited, "NATS does not answer; retrying, and not connecting to any venue until it does.");
            readiness.set(Err(format!(
                "NATS at {url} has not answered for {:.0} s; no venue is connected until it does",
                waited.as_secs_f64()
            )));
            next_report = Instant::now() + backoff.next_delay();
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            () = tokio::time::sleep(CONNECTED_POLL) => {}
        }
    }
    if started.elapsed() > CONNECTED_POLL {
        tracing::info!(%url, "Connected to NATS.");
    }
    Ok(Some(client))
}

/// How often the connection state is checked while waiting for NATS.
const CONNECTED_POLL: Duration = Duration::from_millis(100);

/// Publishes `events` to JetStream exactly as the collector does with the `publish`
/// settings (deterministic `Nats-Msg-Id`s, a bounded window of outstanding acks, events of
/// one subject sharing messages, republish until acknowledged) and returns once every one is
/// stored; used to backfill from captures. Creates the streams when missing. Returns how many
/// were published.
pub async fn publish_events(
    nats: &marketprism_bus::Config,
    publish: &PublishConfig,
    events: impl IntoIterator<Item = marketprism_model::Event>,
) -> Result<u64, CollectorError> {
    let client = marketprism_bus::connect(nats, "marketprism-replay").await?;
    marketprism_bus::ensure_streams(&jetstream::new(client.clone()), &nats.stream).await?;
    publish_with(client, &nats.stream, publish, events).await
}

/// Publishes `events` as [`publish_events`] does, on an existing connection to streams that
/// exist; returns once every one is stored.
pub async fn publish_with(
    client: async_nats::Client,
    stream: &marketprism_bus::StreamConfig,
    publish: &PublishConfig,
    events: impl IntoIterator<Item = marketprism_model::Event>,
) -> Result<u64, CollectorError> {
    let metrics = Metrics::default();
    let (sender, receiver) = mpsc::channel(publish.queue_capacity.max(1));
    let publisher = tokio::spawn(
        Publisher::new(
            client,
            stream.clone(),
            publish.clone(),
            metrics.clone(),
            None,
            None,
        )
        .run(receiver),
    );
    let mut sent = 0;
    for event in events {
        if sender
            .send(crate::publisher::Outgoing::Event(event))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    drop(sender);
    // The publisher drains its window (every ack received) before it returns.
    publisher.await??;
    Ok(sent)
}
