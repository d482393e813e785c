//! REST book snapshots for venues whose books start from one (Binance): one request at a
//! time per connection, so snapshot requests never stack, with the venue's rate-limit answers
//! (HTTP 429, and 418 for an IP ban) honoured through `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use marketprism_book::BookUpdate;
use marketprism_model::Symbol;
use marketprism_venues::VenueProtocol;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::http::{get_text, FetchError};
use marketprism_bus::Backoff;
use marketprism_model::now_ms;

/// A fetched snapshot.
pub(crate) struct Snapshot {
    pub(crate) symbol: Symbol,
    pub(crate) update: BookUpdate,
}

/// The connection's side of the fetch task.
pub(crate) struct SnapshotFetcher {
    requests: mpsc::UnboundedSender<Symbol>,
    results: mpsc::Receiver<Snapshot>,
}

/// What the fetch task needs.
pub(crate) struct FetchSettings {
    pub(crate) protocol: Arc<dyn VenueProtocol>,
    pub(crate) rest_endpoint: String,
    pub(crate) depth: usize,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    /// The collector's REST client (shared with the pollers).
    pub(crate) client: reqwest::Client,
}

impl SnapshotFetcher {
    /// Starts the fetch task; it ends with `shutdown` or when this handle is dropped.
    pub(crate) fn spawn(settings: FetchSettings, shutdown: CancellationToken) -> Self {
        let (requests, mut queue) = mpsc::unbounded_channel::<Symbol>();
        let (results, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
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
        }
    }

    /// Queues a snapshot request.
    pub(crate) fn request(&self, symbol: Symbol) {
        // The task only stops at shutdown, when nobody waits for the answer.
        let _ = self.requests.send(symbol);
    }

    /// The next fetched snapshot.
    pub(crate) async fn next(&mut self) -> Option<Snapshot> {
        self.results.recv().await
    }
}

/// Fetches one snapshot, retrying with backoff (or the venue's `Retry-After`) until it
/// succeeds.
async fn fetch_until_done(settings: &FetchSettings, symbol: &Symbol) -> BookUpdate {
    let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
    loop {
        let delay = match fetch(settings, symbol).await {
            Ok(update) => return update,
            Err(FetchError::RateLimited(retry_after)) => {
                tracing::warn!(%symbol, ?retry_after, "Book snapshot rate limited; waiting.");
                retry_after
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
    let body = get_text(&settings.client, &url).await?;
    settings
        .protocol
        .parse_book_snapshot(&body, now_ms())
        .map_err(|error| FetchError::Failed(format!("GET {url}: {error}")))
}
