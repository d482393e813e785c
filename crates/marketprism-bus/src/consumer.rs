//! Durable pull consumers of the event stream, as storage and the backfill read it: created
//! on first start (or bound to on every later one), explicitly acked, read from the start of
//! the stream, pulled in batches with a heartbeat.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};

use crate::Source;

/// How long the server keeps a pull request open; a new one follows at once.
const PULL_EXPIRES: Duration = Duration::from_secs(30);

/// How often an open pull request is confirmed alive; a missed heartbeat surfaces as an
/// error on the message stream, and the client pulls again.
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);

/// A durable pull consumer to read.
#[derive(Debug, Clone)]
pub struct DurablePull {
    /// The durable name; processes sharing it share the messages.
    pub durable: String,
    /// Only subjects matching this filter (e.g. `gap.>`), or every subject of the stream.
    pub filter_subject: Option<String>,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Messages delivered and not yet acked at most, or the server's default.
    pub max_ack_pending: Option<i64>,
    /// Messages asked for per pull.
    pub batch: usize,
}

/// Why a durable consumer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The event stream does not exist or does not answer.
    #[error("stream {stream} is not available ({source}); run `marketprism streams init`")]
    StreamUnavailable {
        /// The configured event stream.
        stream: String,
        /// The client's error.
        source: Source,
    },
    /// The consumer could not be created or read.
    #[error("JetStream consumer {durable}: {source}")]
    Consumer {
        /// The durable name.
        durable: String,
        /// The client's or server's error.
        source: Source,
    },
}

impl DurablePull {
    /// Creates (or binds to) this consumer of `stream` and starts pulling: the consumer, to
    /// ask for its state, and its messages.
    pub async fn start(
        &self,
        context: &jetstream::Context,
        stream: &str,
    ) -> Result<(consumer::PullConsumer, consumer::pull::Stream), ConsumerError> {
        let events = context.get_stream(stream).await.map_err(|source| {
            ConsumerError::StreamUnavailable {
                stream: stream.to_owned(),
                source: source.into(),
            }
        })?;
        let mut config = consumer::pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject: self.filter_subject.clone().unwrap_or_default(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        };
        if let Some(max_ack_pending) = self.max_ack_pending {
            config.max_ack_pending = max_ack_pending;
        }
        let consumer: consumer::PullConsumer = events
            .get_or_create_consumer(&self.durable, config)
            .await
            .map_err(|source| self.failed(source))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.batch)
            .heartbeat(PULL_HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|source| self.failed(source))?;
        Ok((consumer, messages))
    }

    /// The error for this consumer failing with `source` while being read.
    pub fn failed(&self, source: impl Into<Source>) -> ConsumerError {
        ConsumerError::Consumer {
            durable: self.durable.clone(),
            source: source.into(),
        }
    }
}
