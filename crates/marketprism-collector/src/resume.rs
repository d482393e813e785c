//! Where each feed stopped, kept in the JetStream feed-state bucket so that the next process
//! records the hole a restart leaves (a `restart` gap from the last event seen) and names the
//! trades it missed by id.
//!
//! One key per instrument, `<exchange>.<market>.<symbol>` (prefixed `<name>.` for a named
//! collector, so that collectors of one feed keep their own), holds a [`Remembered`] as JSON. A
//! connection saves the instruments that changed at most every `persist_interval`, in the
//! background so that a slow or absent NATS never holds up reading, and once more at
//! shutdown.
//!
//! A save is written only once every event the connection handed to the publisher before
//! it is stored (acknowledged by JetStream, or synced to the spool): the saved state never
//! names an event a SIGKILL could still lose, so a restart gap always starts before the
//! first event lost. A save that cannot be written leaves the older state, whose gap starts
//! earlier.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures::future::join_all;
use marketprism_model::{Exchange, MarketType, Symbol};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::continuity::Streams;
use crate::publisher::Outgoing;

/// The longest a load or a save may take before it is given up (and logged).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest a save waits for the events handed over before it to be stored.
const STORED_TIMEOUT: Duration = Duration::from_secs(5);

/// What a feed remembers of one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Remembered {
    /// Venue time of the last event seen, Unix milliseconds.
    pub(crate) last_seen_ms: i64,
    /// The last single trade and aggregate seen, where the venue numbers them.
    #[serde(default)]
    pub(crate) trades: Streams,
    /// The update id of the last book published.
    #[serde(default)]
    pub(crate) book_update_id: Option<u64>,
}

/// The feed-state bucket, seen from one venue market.
#[derive(Clone)]
pub(crate) struct FeedStore {
    bucket: kv::Store,
    /// `<name>.` of a named collector, else empty.
    prefix: String,
    exchange: Exchange,
    market_type: MarketType,
}

impl FeedStore {
    /// The store of `exchange` `market_type` feeds in `bucket`, for the collector `name`.
    pub(crate) fn new(
        bucket: kv::Store,
        name: Option<&str>,
        exchange: Exchange,
        market_type: MarketType,
    ) -> Self {
        FeedStore {
            bucket,
            prefix: name.map(|name| format!("{name}.")).unwrap_or_default(),
            exchange,
            market_type,
        }
    }

    fn key(&self, symbol: &Symbol) -> String {
        format!(
            "{}{}.{}.{}",
            self.prefix,
            self.exchange.as_str(),
            self.market_type.as_str(),
            symbol
        )
    }

    /// What was saved for `symbols`; instruments never saved (or unreadable, which is
    /// logged) are absent.
    pub(crate) async fn load<'a>(
        &self,
        symbols: impl IntoIterator<Item = &'a Symbol>,
    ) -> HashMap<Symbol, Remembered> {
        let reads = symbols.into_iter().map(|symbol| async move {
            let key = self.key(symbol);
            let value = tokio::time::timeout(REQUEST_TIMEOUT, self.bucket.get(key.as_str())).await;
            match value {
                Ok(Ok(Some(bytes))) => match serde_json::from_slice::<Remembered>(&bytes) {
                    Ok(remembered) => Some((symbol.clone(), remembered)),
                    Err(error) => {
                        tracing::error!(%key, %error, "Saved feed state unreadable; no restart gap for it.");
                        None
                    }
                },
                Ok(Ok(None)) => None,
                Ok(Err(error)) => {
                    tracing::error!(%key, %error, "Cannot read saved feed state; no restart gap for it.");
                    None
                }
                Err(_) => {
                    tracing::error!(%key, "Reading saved feed state timed out; no restart gap for it.");
                    None
                }
            }
        });
        join_all(reads).await.into_iter().flatten().collect()
    }

    /// Saves `changed` once everything handed to the publisher through `sender` before now
    /// is stored; returns how many instruments were not saved (each failure is logged).
    pub(crate) async fn save_once_stored(
        &self,
        sender: &mpsc::Sender<Outgoing>,
        changed: Vec<(Symbol, Remembered)>,
    ) -> usize {
        if changed.is_empty() {
            return 0;
        }
        let (checkpoint, stored) = oneshot::channel();
        let waited = async {
            sender.send(Outgoing::Checkpoint(checkpoint)).await.ok()?;
            stored.await.ok()
        };
        match tokio::time::timeout(STORED_TIMEOUT, waited).await {
            Ok(Some(())) => self.save(changed).await,
            _ => {
                tracing::warn!(
                    instruments = changed.len(),
                    "Events before this feed-state save are not stored yet; the saved state stays older, so a restart now would start its gap earlier."
                );
                changed.len()
            }
        }
    }

    /// Saves `changed`; returns how many saves failed (each is logged).
    async fn save(&self, changed: Vec<(Symbol, Remembered)>) -> usize {
        let writes = changed.into_iter().map(|(symbol, remembered)| async move {
            let key = self.key(&symbol);
            let value = match serde_json::to_vec(&remembered) {
                Ok(value) => value,
                Err(error) => {
                    tracing::error!(%key, %error, "Cannot encode feed state.");
                    return false;
                }
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, self.bucket.put(key.as_str(), value.into()))
                .await
            {
                Ok(Ok(_)) => true,
                Ok(Err(error)) => {
                    tracing::warn!(%key, %error, "Cannot save feed state; a restart now would start its gap earlier.");
                    false
                }
                Err(_) => {
                    tracing::warn!(%key, "Saving feed state timed out; a restart now would start its gap earlier.");
                    false
                }
            }
        });
        join_all(writes)
            .await
            .into_iter()
            .filter(|saved| !saved)
            .count()
    }
}
