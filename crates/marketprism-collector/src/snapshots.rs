//! REST book snapshots for venues whose books start from one (Binance): one request at a
//! time per connection, so snapshot requests never stack, each within the venue's request
//! budget (whose rate-limit pause, after a 429 or 418, holds every request to the venue).
//! A snapshot can be asked for after a delay: the backoff between snapshots that do not
//! bridge the stream.

use std::sync::Arc;
use std::time::Duration;

use marketprism_book::BookUpdate;
use marketprism_model::Symbol;
use marketprism_venues::VenueProtocol;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use marketprism_bus::Backoff;
use marketprism_model::now_ms;
use marketprism_rest::{FetchError, RestClient};
use marketprism_venues::RestCall;

/// A fetched snapshot.
pub(crate) struct Snapshot {
    pub(crate) symbol: Symbol,
    pub(crate) update: BookUpdate,
}

/// The connection's side of the fetch task.
pub(crate) struct SnapshotFetcher {
    requests: mpsc::UnboundedSender<Symbol>,
    results: mpsc::Receiver<Snapshot>,
    /// Ends the delayed requests with the fetch task.
    shutdown: CancellationToken,
}

/// What the fetch task needs.
pub(crate) struct FetchSettings {
    pub(crate) protocol: Arc<dyn VenueProtocol>,
    pub(crate) rest_endpoint: String,
    pub(crate) depth: usize,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    /// The venue's REST client (its budget shared with the pollers).
    pub(crate) client: RestClient,
}

impl SnapshotFetcher {
    /// Starts the fetch task; it ends with `shutdown` or when this handle is dropped.
    pub(crate) fn spawn(settings: FetchSettings, shutdown: CancellationToken) -> Self {
        let (requests, mut queue) = mpsc::unbounded_channel::<Symbol>();
        let (results, receiver) = mpsc::channel(16);
        let task_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let shutdown = task_shutdown;
            loop {
                let symbol = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    symbol = queue.recv() => match symbol {
                        Some(symbol) => symbol,
                        None => return,
                    },
                };
                let fetch = fetch_until_done(&settings, &symbol);
                let update = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    update = fetch => update,
                };
                if results.send(Snapshot { symbol, update }).await.is_err() {
                    return;
                }
            }
        });
        SnapshotFetcher {
            requests,
            results: receiver,
            shutdown,
        }
    }

    /// Queues a snapshot request.
    pub(crate) fn request(&self, symbol: Symbol) {
        // The task only stops at shutdown, when nobody waits for the answer.
        let _ = self.requests.send(symbol);
    }

    /// Queues a snapshot request once `delay` has passed.
    pub(crate) fn request_after(&self, symbol: Symbol, delay: Duration) {
        let requests = self.requests.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => {
                    let _ = requests.send(symbol);
                }
            }
        });
    }

    /// The next fetched snapshot.
    pub(crate) async fn next(&mut self) -> Option<Snapshot> {
        self.results.recv().await
    }
}

/// Fetches one snapshot, retrying with backoff until it succeeds; after a rate-limit answer
/// the next attempt waits in the budget until the venue's `Retry-After` has passed.
async fn fetch_until_done(settings: &FetchSettings, symbol: &Symbol) -> BookUpdate {
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    loop {
        let delay = match fetch(settings, symbol).await {
            Ok(update) => return update,
            Err(FetchError::RateLimited(retry_after)) => {
                tracing::warn!(%symbol, ?retry_after, "Book snapshot rate limited; waiting.");
                continue;
            }
            Err(FetchError::Failed(reason)) => {
                let delay = backoff.next_delay();
                tracing::warn!(%symbol, %reason, ?delay, "Book snapshot failed; retrying.");
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
}

async fn fetch(settings: &FetchSettings, symbol: &Symbol) -> Result<BookUpdate, FetchError> {
    let Some(url) =
        settings
            .protocol
            .book_snapshot_url(&settings.rest_endpoint, symbol, settings.depth)
    else {
        return Err(FetchError::Failed("the venue has no REST snapshot".into()));
    };
    let cost = settings.protocol.request_cost(RestCall::BookSnapshot {
        depth: settings.depth,
    });
    let body = settings.client.get(cost, &url).await?;
    settings
        .protocol
        .parse_book_snapshot(&body, now_ms())
        .map_err(|error| FetchError::Failed(format!("GET {url}: {error}")))
}
