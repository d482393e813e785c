//! Wires configuration, connections, the publisher and the HTTP endpoint together.

use async_nats::jetstream;
use marketprism_telemetry::Readiness;
use marketprism_venues::VenueError;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, PublishConfig};
use crate::connection::Connection;
use crate::metrics::{watch_readiness, Metrics, ReadyRules};
use crate::pollers::Poller;
use crate::publisher::Publisher;
use crate::resume::FeedStore;

/// Binance allows 1024 streams per connection; stay a little below.
const SUBSCRIPTIONS_PER_CONNECTION: usize = 1000;

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

    let client = marketprism_bus::connect(&config.nats, "marketprism-collector").await?;
    let state_bucket =
        marketprism_bus::state_bucket(&jetstream::new(client.clone()), &config.nats.stream).await?;
    let (sender, receiver) = mpsc::channel(config.publish.queue_capacity);
    let publisher = tokio::spawn(
        Publisher::new(
            client.clone(),
            config.nats.stream.clone(),
            config.publish.clone(),
            metrics.clone(),
        )
        .run(receiver),
    );

    let rest_client = reqwest::Client::builder()
        .timeout(config.connection.subscribe_timeout)
        .build()
        .map_err(|error| CollectorError::Config(format!("HTTP client: {error}")))?;
    let connections = TaskTracker::new();
    let mut connection_count = 0;
    for venue in &config.venues {
        let config_error = |error: VenueError| CollectorError::Config(error.to_string());
        let protocol = venue.protocol().map_err(config_error)?;
        let subscriptions = venue.subscriptions().map_err(config_error)?;
        for chunk in subscriptions.chunks(SUBSCRIPTIONS_PER_CONNECTION) {
            connection_count += 1;
            let connection = Connection {
                protocol: protocol.clone(),
                endpoint: venue.endpoint().to_owned(),
                rest_endpoint: venue.rest_endpoint().to_owned(),
                rest_client: rest_client.clone(),
                subscriptions: chunk.to_vec(),
                symbols: chunk
                    .iter()
                    .map(|subscription| subscription.symbol.clone())
                    .collect(),
                book_settings: config.books.publish_settings(),
                settings: config.connection.clone(),
                sender: sender.clone(),
                metrics: metrics.clone(),
                store: FeedStore::new(
                    state_bucket.clone(),
                    protocol.exchange(),
                    protocol.market_type(),
                ),
            };
            connections.spawn(connection.run(reading.clone()));
        }
        for (poll, every) in venue.polls().map_err(config_error)? {
            let poller = Poller {
                protocol: protocol.clone(),
                rest_endpoint: venue.rest_endpoint().to_owned(),
                poll,
                every,
                sender: sender.clone(),
                metrics: metrics.clone(),
            };
            connections.spawn(poller.run(rest_client.clone(), reading.clone()));
        }
    }
    connections.close();
    drop(sender);

    // Ready while every connection is subscribed and JetStream acknowledges in time.
    let rules = ReadyRules {
        connections: connection_count,
        watchdog: config.connection.watchdog,
        ack_deadline: config.publish.ack_deadline,
        outstanding_acks_bound: config.publish.outstanding_acks_bound(),
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
        Publisher::new(client, stream.clone(), publish.clone(), metrics.clone()).run(receiver),
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
