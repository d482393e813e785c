//! The NATS JetStream bus between collector and storage.
//!
//! Every event is published to the event stream (default `MARKETPRISM`) under its
//! [`marketprism_model::Event::subject`], deduplicated by `Nats-Msg-Id` within the stream's
//! duplicate window. Anything that cannot be processed is kept on the dead-letter stream
//! (default `MARKETPRISM_DEADLETTER`, subjects `deadletter.>`) for inspection.

mod backoff;
mod config;
mod deadletter;
mod streams;

pub use backoff::Backoff;
pub use config::{Config, StreamConfig};
pub use deadletter::{
    deadletter_subject, DeadLetter, DeadLetterOrigin, DEADLETTER_ERROR_HEADER,
    DEADLETTER_ORIGINAL_HEADER, DEADLETTER_TRUNCATED_HEADER,
};
pub use streams::{ensure_streams, event_subjects, StreamChange, StreamReport};

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
    /// Reading the credentials file failed.
    #[error("cannot read NATS credentials {path}: {source}")]
    Credentials {
        /// The credentials file.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The server answers, but JetStream is not enabled on it.
    #[error("JetStream is not enabled on the NATS server: {detail}")]
    JetStreamDisabled {
        /// The client's explanation.
        detail: String,
    },
    /// A JetStream management call failed (JetStream disabled, permissions, bad limits).
    #[error("JetStream stream {stream}: {message}")]
    Stream {
        /// The stream concerned.
        stream: String,
        /// The server's or client's explanation.
        message: String,
    },
}

/// Connects to NATS, naming the connection `client_name` in server monitoring.
pub async fn connect(config: &Config, client_name: &str) -> Result<async_nats::Client, BusError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
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
    options
        .connect(config.url.as_str())
        .await
        .map_err(|source| BusError::Connect {
            url: config.url.clone(),
            source,
        })
}
