//! What each kind of client may publish and subscribe to: the least a service needs to do
//! its job, for a server that admits users with permissions.
//!
//! JetStream is used through subjects: a request to `$JS.API.<call>` manages streams and
//! consumers, a publish to a stream's subject stores an event and gets its acknowledgement
//! on the client's `_INBOX.>`, and `$JS.ACK.<stream>.<consumer>.>` acknowledges a consumed
//! message. Granting a service the subjects of its own calls confines it to them.

use marketprism_model::DataType;

use crate::{event_subjects, StreamConfig};

/// A kind of client of the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role<'a> {
    /// Creates and updates streams and buckets (`streams init`, `up`); may do anything.
    Admin,
    /// Publishes events, gaps and listings, keeps its feeds' state in the state bucket,
    /// dead-letters what the stream refuses.
    Collector,
    /// Consumes the event stream through its durable consumer and dead-letters what
    /// ClickHouse refuses.
    Storage {
        /// Its durable consumer.
        durable: &'a str,
    },
    /// Consumes gaps through its durable consumer and publishes recovered trades and the
    /// gaps' outcomes.
    Backfill {
        /// Its durable consumer.
        durable: &'a str,
    },
    /// Reads: subscribes to events and dead letters, asks for stream and consumer state
    /// (`marketprism status`, analysts).
    Reader,
    /// The gateway: reads the event stream through ordered consumers of its own (which it
    /// cannot acknowledge, so it takes nothing from another consumer for good) and asks for
    /// stream and consumer state.
    Gateway,
}

/// Subjects a client may publish and subscribe to, with NATS wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish to (JetStream API calls are publishes).
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
}

/// Where replies to requests arrive.
const INBOX: &str = "_INBOX.>";

/// The permissions of `role` on the streams and bucket of `config`.
pub fn permissions(role: &Role<'_>, config: &StreamConfig) -> Permissions {
    let stream = &config.name;
    let bucket = &config.state_bucket;
    let inbox = vec![INBOX.to_owned()];
    match role {
        Role::Admin => Permissions {
            publish: vec![">".to_owned()],
            subscribe: vec![">".to_owned()],
        },
        Role::Collector => {
            let mut publish = event_subjects();
            publish.extend([
                "$JS.API.INFO".to_owned(),
                format!("$JS.API.STREAM.INFO.{stream}"),
                format!("$JS.API.STREAM.INFO.KV_{bucket}"),
                format!("$JS.API.STREAM.MSG.GET.KV_{bucket}"),
                format!("$JS.API.DIRECT.GET.KV_{bucket}.>"),
                format!("$KV.{bucket}.>"),
                "deadletter.collector.>".to_owned(),
            ]);
            Permissions {
                publish,
                subscribe: inbox,
            }
        }
        Role::Storage { durable } => {
            let mut publish = consuming(stream, durable);
            publish.push("deadletter.storage.>".to_owned());
            Permissions {
                publish,
                subscribe: inbox,
            }
        }
        Role::Backfill { durable } => {
            let mut publish = consuming(stream, durable);
            publish.extend([
                DataType::Trade.wildcard_subject(),
                DataType::Gap.wildcard_subject(),
                // Recovered trades go out through the collector's publisher.
                "deadletter.collector.>".to_owned(),
            ]);
            Permissions {
                publish,
                subscribe: inbox,
            }
        }
        Role::Gateway => Permissions {
            publish: reading(stream),
            subscribe: inbox,
        },
        Role::Reader => {
            let mut subscribe = event_subjects();
            subscribe.extend(["deadletter.>".to_owned(), INBOX.to_owned()]);
            Permissions {
                publish: vec![
                    "$JS.API.INFO".to_owned(),
                    "$JS.API.STREAM.NAMES".to_owned(),
                    "$JS.API.STREAM.LIST".to_owned(),
                    "$JS.API.STREAM.INFO.*".to_owned(),
                    "$JS.API.CONSUMER.NAMES.*".to_owned(),
                    "$JS.API.CONSUMER.LIST.*".to_owned(),
                    "$JS.API.CONSUMER.INFO.*.*".to_owned(),
                ],
                subscribe,
            }
        }
    }
}

/// The calls of the gateway: ordered consumers on `stream` (ephemeral, created with or
/// without a name and filter, pulled from) and the state of streams and consumers.
fn reading(stream: &str) -> Vec<String> {
    vec![
        "$JS.API.INFO".to_owned(),
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
        "$JS.API.CONSUMER.INFO.*.*".to_owned(),
    ]
}

/// The calls that create (or bind to), read and pull from consumer `durable` of `stream`,
/// and acknowledge its messages.
fn consuming(stream: &str, durable: &str) -> Vec<String> {
    vec![
        "$JS.API.INFO".to_owned(),
        format!("$JS.API.STREAM.INFO.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.{durable}.>"),
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.INFO.{stream}.{durable}"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"),
        format!("$JS.ACK.{stream}.{durable}.>"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether NATS subject `pattern` (with `*` and `>`) matches `subject`.
    fn matches(pattern: &str, subject: &str) -> bool {
        let mut subject_tokens = subject.split('.');
        for token in pattern.split('.') {
            match (token, subject_tokens.next()) {
                (">", Some(_)) => return true,
                ("*", Some(_)) => {}
                (token, Some(actual)) if token == actual => {}
                _ => return false,
            }
        }
        subject_tokens.next().is_none()
    }

    fn may_publish(role: &Role<'_>, subject: &str) -> bool {
        permissions(role, &StreamConfig::default())
            .publish
            .iter()
            .any(|pattern| matches(pattern, subject))
    }

    #[test]
    fn each_role_may_publish_its_own_subjects_only() {
        let storage = Role::Storage {
            durable: "marketprism-storage",
        };
        let backfill = Role::Backfill {
            durable: "marketprism-backfill",
        };
        let trade = "trade.binance.spot.BTC-USDT";
        let gap = "gap.binance.spot.BTC-USDT";
        let listing = "listing.deribit.options.BTC-USD-261225-60000-C";
        let stream_create = "$JS.API.STREAM.CREATE.MARKETPRISM";

        assert!(may_publish(&Role::Collector, trade));
        assert!(may_publish(&Role::Collector, gap));
        assert!(may_publish(&Role::Collector, listing));
        assert!(may_publish(
            &Role::Collector,
            "$KV.marketprism_feed_state.binance.spot.BTC-USDT"
        ));
        assert!(!may_publish(&Role::Collector, stream_create));
        assert!(!may_publish(&Role::Collector, "deadletter.storage.trade.x"));

        assert!(may_publish(
            &storage,
            "$JS.API.CONSUMER.MSG.NEXT.MARKETPRISM.marketprism-storage"
        ));
        assert!(may_publish(
            &storage,
            "$JS.ACK.MARKETPRISM.marketprism-storage.1.2.3.4.5.6"
        ));
        assert!(may_publish(&storage, "deadletter.storage.trade.x"));
        assert!(!may_publish(&storage, trade));
        assert!(!may_publish(&storage, listing));
        assert!(!may_publish(
            &storage,
            "$JS.API.CONSUMER.MSG.NEXT.MARKETPRISM.marketprism-backfill"
        ));
        assert!(!may_publish(&storage, stream_create));

        assert!(may_publish(&backfill, trade));
        assert!(may_publish(&backfill, gap));
        assert!(!may_publish(&backfill, "orderbook.binance.spot.BTC-USDT"));
        assert!(!may_publish(&backfill, listing));
        assert!(!may_publish(
            &backfill,
            "$JS.API.CONSUMER.MSG.NEXT.MARKETPRISM.marketprism-storage"
        ));

        assert!(!may_publish(&Role::Reader, trade));
        assert!(may_publish(
            &Role::Reader,
            "$JS.API.CONSUMER.INFO.MARKETPRISM.marketprism-storage"
        ));
        assert!(!may_publish(
            &Role::Reader,
            "$JS.API.CONSUMER.DELETE.MARKETPRISM.marketprism-storage"
        ));

        assert!(may_publish(
            &Role::Gateway,
            "$JS.API.CONSUMER.CREATE.MARKETPRISM.gateway_1.trade.binance.spot.BTC-USDT"
        ));
        assert!(may_publish(
            &Role::Gateway,
            "$JS.API.CONSUMER.MSG.NEXT.MARKETPRISM.gateway_1"
        ));
        assert!(!may_publish(&Role::Gateway, trade));
        assert!(!may_publish(
            &Role::Gateway,
            "$JS.API.CONSUMER.DELETE.MARKETPRISM.marketprism-storage"
        ));
        assert!(!may_publish(
            &Role::Gateway,
            "$JS.ACK.MARKETPRISM.marketprism-storage.1.2.3.4.5.6"
        ));

        assert!(may_publish(&Role::Admin, stream_create));
    }
}
