//! The NATS JetStream bus between collector and storage.
//!
//! Every event is published to the event stream (default `MARKETPRISM`) under its
//! [`marketprism_model::Event::subject`], deduplicated by `Nats-Msg-Id` within the stream's
//! duplicate window. Anything that cannot be processed is kept on the dead-letter stream
//! (default `MARKETPRISM_DEADLETTER`, subjects `deadletter.>`) for inspection.

mod backoff;
mod config;
mod consumer;
mod deadletter;
mod permissions;
mod streams;

pub use backoff::Backoff;
pub use config::{check_endpoint, Config, StreamConfig};
pub use consumer::{ConsumerError, DurablePull};
pub use deadletter::{
    deadletter_subject, DeadLetter, DeadLetterOrigin, DEADLETTER_ERROR_HEADER,
    DEADLETTER_ORIGINAL_HEADER, DEADLETTER_TRUNCATED_HEADER,
};
pub use permissions::{permissions, Permissions, Role};
pub use streams::{ensure_streams, event_subjects, state_bucket, StreamChange, StreamReport};

/// The cause of a failure, kept whole for `source()` chains.
pub type Source = Box<dyn std::error::Error + Send + Sync>;

/// A bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The configured URL.
        url: String,
        /// The client's explanation.
        source: async_nats::ConnectError,
    },
    /// Reading the credentials or nkey seed file failed.
    #[error("cannot read NATS credentials {path}: {source}")]
    Credentials {
        /// The credentials file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The server answers, but JetStream is not enabled on it.
    #[error("JetStream is not enabled on the NATS server: {source}")]
    JetStreamDisabled {
        /// The request's failure, or the server's answer.
        source: Source,
    },
    /// A JetStream management call failed (permissions, bad limits, no leader).
    #[error("JetStream stream {stream}: {source}")]
    Stream {
        /// The stream concerned.
        stream: String,
        /// The client's or server's error.
        source: Source,
    },
    /// The feed-state bucket could not be opened or created.
    #[error(
        "JetStream key-value bucket {bucket}: {source} (`marketprism streams init` creates it)"
    )]
    StateBucket {
        /// The bucket concerned.
        bucket: String,
        /// The client's or server's error.
        source: Source,
    },
}

/// What kind of bus failure happened, for callers that act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// NATS could not be reached.
    Connect,
    /// The credentials file could not be read.
    Credentials,
    /// The server runs without JetStream.
    JetStreamDisabled,
    /// A stream could not be read, created or updated.
    Stream,
    /// The feed-state bucket could not be opened or created.
    StateBucket,
}

impl BusError {
    /// What kind of failure this is.
    pub fn kind(&self) -> BusErrorKind {
        match self {
            BusError::Connect { .. } => BusErrorKind::Connect,
            BusError::Credentials { .. } => BusErrorKind::Credentials,
            BusError::JetStreamDisabled { .. } => BusErrorKind::JetStreamDisabled,
            BusError::Stream { .. } => BusErrorKind::Stream,
            BusError::StateBucket { .. } => BusErrorKind::StateBucket,
        }
    }
}

/// How often the client pings its server. It gives a server up, and connects to another
/// of the configured ones, after two pings without an answer: a server that is frozen or cut
/// off, rather than gone, holds its clients until then (the client's default is 60 s).
const PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3);

/// Connects to NATS, naming the connection `client_name` in server monitoring.
pub async fn connect(config: &Config, client_name: &str) -> Result<async_nats::Client, BusError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .ping_interval(PING_INTERVAL)
        .connection_timeout(std::time::Duration::from_secs(5));
    if let Some(path) = &config.credentials_file {
        options = options
            .credentials_file(path)
            .await
            .map_err(|source| BusError::Credentials {
                path: path.clone(),
                source,
            })?;
    }
    if let Some(path) = &config.nkey_seed_file {
        let seed = std::fs::read_to_string(path).map_err(|source| BusError::Credentials {
            path: path.clone(),
            source,
        })?;
        options = options.nkey(seed.trim().to_owned());
    }
    options
        .connect(config.servers())
        .await
        .map_err(|source| BusError::Connect {
            url: config.url.clone(),
            source,
        })
}
