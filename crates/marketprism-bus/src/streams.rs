//! Stream definitions and their idempotent creation.

use async_nats::jetstream::{self, kv, stream};
use marketprism_model::DataType;

use crate::{BusError, Source, StreamConfig};

/// The event stream's subjects: one wildcard per data type.
pub fn event_subjects() -> Vec<String> {
    DataType::ALL
        .into_iter()
        .map(DataType::wildcard_subject)
        .collect()
}

/// What `ensure_streams` did to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChange {
    /// The stream did not exist and was created.
    Created,
    /// The stream existed with other settings and was updated.
    Updated,
    /// The stream already matched.
    Unchanged,
}

/// The outcome for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReport {
    /// Stream name.
    pub name: String,
    /// What happened.
    pub change: StreamChange,
}

/// Dead letters are republished only by operators, so a short window suffices; it is set
/// explicitly so that a re-run compares equal to what the server stored.
const DEADLETTER_DUPLICATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

fn definitions(config: &StreamConfig) -> [stream::Config; 2] {
    [
        stream::Config {
            name: config.name.clone(),
            subjects: event_subjects(),
            max_age: config.max_age,
            duplicate_window: config.duplicate_window,
            max_bytes: config.max_bytes,
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            num_replicas: config.replicas,
            ..Default::default()
        },
        stream::Config {
            name: config.deadletter_name.clone(),
            subjects: vec!["deadletter.>".to_owned()],
            max_age: config.deadletter_max_age,
            duplicate_window: DEADLETTER_DUPLICATE_WINDOW,
            max_bytes: -1,
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: config.replicas,
            ..Default::default()
        },
    ]
}

/// True when the settings MarketPrism manages already hold on the server.
fn matches(existing: &stream::Config, wanted: &stream::Config) -> bool {
    let mut existing_subjects = existing.subjects.clone();
    let mut wanted_subjects = wanted.subjects.clone();
    existing_subjects.sort();
    wanted_subjects.sort();
    existing_subjects == wanted_subjects
        && existing.max_age == wanted.max_age
        && existing.duplicate_window == wanted.duplicate_window
        && existing.max_bytes == wanted.max_bytes
        && existing.num_replicas == wanted.num_replicas
}

fn is_stream_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(inner)
            if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Times the JetStream API's account info is asked for when it does not answer in time: a
/// cluster that has just elected its meta leader, or a loaded machine, answers late.
const INFO_ATTEMPTS: u32 = 3;

/// Asks the server's JetStream API for its account info; a server without JetStream does not
/// answer (no responders, or no answer after [`INFO_ATTEMPTS`]) or answers with error 503.
async fn check_jetstream(context: &jetstream::Context) -> Result<(), BusError> {
    let mut attempt = 1;
    let response = loop {
        match context
            .client()
            .request("$JS.API.INFO", Default::default())
            .await
        {
            Ok(response) => break response,
            Err(error)
                if error.kind() == async_nats::RequestErrorKind::TimedOut
                    && attempt < INFO_ATTEMPTS =>
            {
                tracing::warn!(
                    attempt,
                    "The JetStream API did not answer in time; asking again."
                );
                attempt += 1;
            }
            Err(source) => {
                return Err(BusError::JetStreamDisabled {
                    source: source.into(),
                })
            }
        }
    };
    let body = String::from_utf8_lossy(&response.payload);
    if body.contains("\"error\"") && body.contains("503") {
        return Err(BusError::JetStreamDisabled {
            source: body.into_owned().into(),
        });
    }
    Ok(())
}

/// Opens the feed-state bucket; it must exist.
pub async fn state_bucket(
    context: &jetstream::Context,
    config: &StreamConfig,
) -> Result<kv::Store, BusError> {
    context
        .get_key_value(&config.state_bucket)
        .await
        .map_err(|source| BusError::StateBucket {
            bucket: config.state_bucket.clone(),
            source: source.into(),
        })
}

/// Creates the feed-state bucket if it does not exist: one value per key, kept on file.
///
/// The bucket is created as the stream a key-value bucket is (`KV_<bucket>` on
/// `$KV.<bucket>.>`): the client's own bucket creation first reads account limits in a form
/// nats-server 2.9 does not send.
async fn ensure_state_bucket(
    context: &jetstream::Context,
    config: &StreamConfig,
) -> Result<StreamChange, BusError> {
    let bucket = &config.state_bucket;
    let failed = |source: Source| BusError::StateBucket {
        bucket: bucket.clone(),
        source,
    };
    if state_bucket(context, config).await.is_ok() {
        // Only its replica count is managed once it exists.
        let mut stream = context
            .get_stream(format!("KV_{bucket}"))
            .await
            .map_err(|source| failed(source.into()))?;
        let info = stream
            .info()
            .await
            .map_err(|source| failed(source.into()))?;
        if info.config.num_replicas == config.replicas {
            return Ok(StreamChange::Unchanged);
        }
        context
            .update_stream(stream::Config {
                num_replicas: config.replicas,
                ..info.config.clone()
            })
            .await
            .map_err(|source| failed(source.into()))?;
        return Ok(StreamChange::Updated);
    }
    context
        .create_stream(stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("Where each collector feed stopped".to_owned()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_message_size: -1,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: config.replicas,
            ..Default::default()
        })
        .await
        .map_err(|source| failed(source.into()))?;
    Ok(StreamChange::Created)
}

/// Creates the event and dead-letter streams, or updates them to the configuration, and the
/// feed-state bucket. Running it again with the same configuration changes nothing.
pub async fn ensure_streams(
    context: &jetstream::Context,
    config: &StreamConfig,
) -> Result<Vec<StreamReport>, BusError> {
    // Without JetStream every management request goes unanswered; say so plainly instead of
    // reporting a timeout on the first stream.
    check_jetstream(context).await?;
    let mut reports = Vec::new();
    for wanted in definitions(config) {
        let error = |source: Source| BusError::Stream {
            stream: wanted.name.clone(),
            source,
        };
        let change = match context.get_stream(&wanted.name).await {
            Ok(mut existing) => {
                let info = existing
                    .info()
                    .await
                    .map_err(|source| error(source.into()))?;
                if matches(&info.config, &wanted) {
                    StreamChange::Unchanged
                } else {
                    let mut updated = info.config.clone();
                    updated.subjects = wanted.subjects.clone();
                    updated.max_age = wanted.max_age;
                    updated.duplicate_window = wanted.duplicate_window;
                    updated.max_bytes = wanted.max_bytes;
                    updated.num_replicas = wanted.num_replicas;
                    context
                        .update_stream(updated)
                        .await
                        .map_err(|source| error(source.into()))?;
                    StreamChange::Updated
                }
            }
            Err(lookup) if is_stream_not_found(&lookup) => {
                context
                    .create_stream(wanted.clone())
                    .await
                    .map_err(|source| error(source.into()))?;
                StreamChange::Created
            }
            Err(lookup) => return Err(error(lookup.into())),
        };
        tracing::info!(stream = %wanted.name, ?change, "Stream ensured.");
        reports.push(StreamReport {
            name: wanted.name,
            change,
        });
    }
    let change = ensure_state_bucket(context, config).await?;
    tracing::info!(bucket = %config.state_bucket, ?change, "Feed-state bucket ensured.");
    reports.push(StreamReport {
        name: config.state_bucket.clone(),
        change,
    });
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn on_a_cluster_every_stream_and_the_bucket_get_the_configured_copies() {
        let cluster = marketprism_testkit::NatsCluster::start(3).expect("cluster");
        let config = crate::Config {
            url: cluster.url(),
            ..Default::default()
        };
        let client = crate::connect(&config, "test").await.expect("connect");
        let context = jetstream::new(client);
        ensure_streams(&context, &config.stream)
            .await
            .expect("create with one copy");
        let mut replicated = config.stream.clone();
        replicated.replicas = 3;
        let reports = ensure_streams(&context, &replicated)
            .await
            .expect("three copies");
        assert!(
            reports
                .iter()
                .all(|report| report.change == StreamChange::Updated),
            "{reports:?}"
        );
        // The cluster applies a new replica count once its meta leader has placed them.
        for name in [
            replicated.name.clone(),
            replicated.deadletter_name.clone(),
            format!("KV_{}", replicated.state_bucket),
        ] {
            let mut replicas = 0;
            for _ in 0..100 {
                let mut stream = context.get_stream(&name).await.expect("stream");
                replicas = stream.info().await.expect("info").config.num_replicas;
                if replicas == 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(replicas, 3, "{name}");
        }
        let again = ensure_streams(&context, &replicated).await.expect("again");
        assert!(again
            .iter()
            .all(|report| report.change == StreamChange::Unchanged));
    }

    #[tokio::test]
    async fn ensure_is_idempotent_and_applies_changes() {
        let server = marketprism_testkit::NatsServer::start().expect("nats-server");
        let config = crate::Config {
            url: server.url(),
            ..Default::default()
        };
        let client = crate::connect(&config, "test").await.expect("connect");
        let context = jetstream::new(client);

        let first = ensure_streams(&context, &config.stream)
            .await
            .expect("create");
        let names: Vec<&str> = first.iter().map(|report| report.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MARKETPRISM",
                "MARKETPRISM_DEADLETTER",
                "marketprism_feed_state"
            ]
        );
        state_bucket(&context, &config.stream)
            .await
            .expect("the state bucket opens");
        assert!(first
            .iter()
            .all(|report| report.change == StreamChange::Created));
        let second = ensure_streams(&context, &config.stream)
            .await
            .expect("again");
        assert!(second
            .iter()
            .all(|report| report.change == StreamChange::Unchanged));

        let mut changed = config.stream.clone();
        changed.duplicate_window = Duration::from_secs(30);
        let third = ensure_streams(&context, &changed).await.expect("update");
        assert_eq!(third[0].change, StreamChange::Updated);
        assert_eq!(third[1].change, StreamChange::Unchanged);
        let info = context
            .get_stream(&changed.name)
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .config
            .clone();
        assert_eq!(info.duplicate_window, Duration::from_secs(30));
    }

    /// A stream made before a data type existed (here: listings) gains its subject.
    #[tokio::test]
    async fn a_stream_without_a_newer_data_type_gains_its_subject() {
        let server = marketprism_testkit::NatsServer::start().expect("nats-server");
        let config = crate::Config {
            url: server.url(),
            ..Default::default()
        };
        let client = crate::connect(&config, "test").await.expect("connect");
        let context = jetstream::new(client);
        let listings = DataType::Listing.wildcard_subject();
        let [mut older, _] = definitions(&config.stream);
        older.subjects.retain(|subject| *subject != listings);
        context.create_stream(older).await.expect("an older stream");

        let reports = ensure_streams(&context, &config.stream)
            .await
            .expect("ensure");
        assert_eq!(reports[0].change, StreamChange::Updated);
        let subjects = context
            .get_stream(&config.stream.name)
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .config
            .subjects
            .clone();
        assert!(subjects.contains(&listings), "{subjects:?}");
        assert!(subjects.contains(&"trade.>".to_owned()), "{subjects:?}");
    }

    #[tokio::test]
    async fn a_server_without_jetstream_is_named_with_its_cause() {
        let server =
            marketprism_testkit::NatsServer::start_without_jetstream().expect("nats-server");
        let config = crate::Config {
            url: server.url(),
            ..Default::default()
        };
        let client = crate::connect(&config, "test").await.expect("connect");
        let error = ensure_streams(&jetstream::new(client), &config.stream)
            .await
            .expect_err("no JetStream");
        assert_eq!(error.kind(), crate::BusErrorKind::JetStreamDisabled);
        assert!(std::error::Error::source(&error).is_some(), "{error}");
    }

    #[test]
    fn config_rejects_unknown_keys() {
        let error = toml::from_str::<crate::Config>("url = \"nats://x\"\nstrem = {}\n")
            .expect_err("typo must fail");
        assert!(error.to_string().contains("strem"), "{error}");
    }
}
