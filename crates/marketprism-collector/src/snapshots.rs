//! REST book snapshots for venues whose books start from one (Binance): up to
//! [`IN_FLIGHT`] requests at a time per connection, each within the venue's request budget
//! (whose rate-limit pause, after a 429 or 418, holds every request to the venue) and
//! leaving [`LEFT_TO_OTHERS`] of it to the venue's other requests. A snapshot can be asked
//! for after a delay: the backoff between snapshots that do not bridge the stream.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use marketprism_book::BookUpdate;
use marketprism_model::Symbol;
use marketprism_venues::VenueProtocol;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use marketprism_bus::Backoff;
use marketprism_model::now_ms;
use marketprism_rest::{FetchError, RestClient};
use marketprism_venues::RestCall;

/// Snapshot requests in flight at once per connection. Every book of a connection needs a
/// snapshot when it connects, hundreds on a busy one; fetched one at a time, they wait
/// mostly on round trips (250 snapshots at 100 ms: 25 s, near the 30 s after which a book
/// is recorded unsynced). The venue's budget, shared by the venue's connections, bounds the
/// weight spent; this bound only keeps each connection's snapshots from reaching the venue
/// as one burst, and four already spend the budget Binance leaves them within seconds.
const IN_FLIGHT: usize = 4;

/// The part of each window's budget snapshots leave to the venue's other requests
/// (instrument lists, polls), which would otherwise wait behind a burst of snapshots until
/// the next window.
const LEFT_TO_OTHERS: f64 = 0.25;

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
    /// The venue's REST client (its budget shared with the feed's pollers and list reads).
    pub(crate) client: RestClient,
}

impl SnapshotFetcher {
    /// Starts the fetch task; it ends with `shutdown` or when this handle is dropped.
    pub(crate) fn spawn(settings: FetchSettings, shutdown: CancellationToken) -> Self {
        let (requests, queue) = mpsc::unbounded_channel::<Symbol>();
        let (results, receiver) = mpsc::channel(16);
        let settings = FetchSettings {
            client: settings.client.leaving(LEFT_TO_OTHERS),
            ..settings
        };
        tokio::spawn(fetch_all(settings, queue, results, shutdown.clone()));
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

/// The fetch task: fetches the snapshots requested on `queue`, up to [`IN_FLIGHT`] at once,
/// and hands each to `results` as it arrives; ends with `shutdown` or once the connection
/// has dropped its side, abandoning the fetches in flight.
async fn fetch_all(
    settings: FetchSettings,
    mut queue: mpsc::UnboundedReceiver<Symbol>,
    results: mpsc::Sender<Snapshot>,
    shutdown: CancellationToken,
) {
    let settings = &settings;
    let mut fetching = FuturesUnordered::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            symbol = queue.recv(), if fetching.len() < IN_FLIGHT => {
                let Some(symbol) = symbol else {
                    return;
                };
                fetching.push(async move {
                    let update = fetch_until_done(settings, &symbol).await;
                    Snapshot { symbol, update }
                });
            }
            Some(snapshot) = fetching.next() => {
                if results.send(snapshot).await.is_err() {
                    return;
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::extract::State;
    use axum::routing::get;
    use axum::Router;
    use marketprism_venues::VenueKind;
    use tokio::sync::Barrier;

    use super::*;
    use crate::test_server::{client, serve};

    /// A depth endpoint that answers only once [`IN_FLIGHT`] requests wait together.
    struct Depth {
        together: Barrier,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    async fn depth(State(depth): State<Arc<Depth>>) -> &'static str {
        let now = depth.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        depth.most_in_flight.fetch_max(now, Ordering::SeqCst);
        depth.together.wait().await;
        depth.in_flight.fetch_sub(1, Ordering::SeqCst);
        r#"{"lastUpdateId":7,"bids":[["1.00","2"]],"asks":[["1.10","3"]]}"#
    }

    async fn fetcher(shutdown: &CancellationToken) -> (SnapshotFetcher, Arc<Depth>) {
        let depth_state = Arc::new(Depth {
            together: Barrier::new(IN_FLIGHT),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let endpoint = serve(
            Router::new()
                .route("/api/v3/depth", get(depth))
                .with_state(depth_state.clone()),
        )
        .await;
        let protocol = VenueKind::BinanceSpot.protocol(&[]);
        let settings = FetchSettings {
            client: client(protocol.rest_limits(), Duration::from_secs(5)),
            protocol,
            rest_endpoint: endpoint,
            depth: 1_000,
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
        };
        (
            SnapshotFetcher::spawn(settings, shutdown.child_token()),
            depth_state,
        )
    }

    fn symbol(number: usize) -> Symbol {
        Symbol::from_pair(&format!("S{number}"), "USDT").expect("symbol")
    }

    #[tokio::test]
    async fn snapshots_are_fetched_several_at_once_and_no_more() {
        let shutdown = CancellationToken::new();
        let (mut fetcher, depth) = fetcher(&shutdown).await;
        let requested = 3 * IN_FLIGHT;
        for number in 0..requested {
            fetcher.request(symbol(number));
        }
        // One request at a time would wait at the server forever.
        let mut fetched = Vec::new();
        while fetched.len() < requested {
            let snapshot = tokio::time::timeout(Duration::from_secs(10), fetcher.next())
                .await
                .expect("the requests in flight together")
                .expect("a snapshot");
            fetched.push(snapshot.symbol);
        }
        fetched.sort();
        let mut expected: Vec<Symbol> = (0..requested).map(symbol).collect();
        expected.sort();
        assert_eq!(fetched, expected);
        let most_in_flight = depth.most_in_flight.load(Ordering::SeqCst);
        assert_eq!(most_in_flight, IN_FLIGHT);
        assert!(most_in_flight > 1, "fetched one at a time");
    }

    #[tokio::test]
    async fn shutdown_ends_the_fetches_in_flight() {
        let shutdown = CancellationToken::new();
        let (mut fetcher, depth) = fetcher(&shutdown).await;
        fetcher.request(symbol(0));
        while depth.in_flight.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        let next = tokio::time::timeout(Duration::from_secs(10), fetcher.next())
            .await
            .expect("the fetch task ended");
        assert!(next.is_none());
    }
}
