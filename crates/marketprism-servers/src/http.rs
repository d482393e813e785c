//! HTTP requests to local servers with reqwest's blocking client, callable from any thread.

use std::time::Duration;

use reqwest::blocking::Client;

/// How long one request to a local server may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// A `GET` failed or was not answered with a success status.
#[derive(Debug, thiserror::Error)]
#[error("GET {url} failed")]
pub struct HttpError {
    url: String,
    #[source]
    source: reqwest::Error,
}

/// Runs `work` on a thread of its own and returns what it returns.
///
/// reqwest's blocking client drives an async runtime of its own and must not be created,
/// used or dropped on a thread that is driving one, while servers are started from async
/// code (`marketprism up`, tokio tests) as well as from plain threads. The calling thread
/// blocks until `work` is done, as it would for the request itself.
pub(crate) fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// A client for requests to local servers; call it inside [`off_runtime`].
pub(crate) fn client() -> reqwest::Result<Client> {
    Client::builder().timeout(REQUEST_TIMEOUT).build()
}

/// The body of a successful `GET url`.
pub fn get_text(url: &str) -> Result<String, HttpError> {
    off_runtime(|| {
        client()
            .and_then(|client| client.get(url).send())
            .and_then(|response| response.error_for_status())
            .and_then(|response| response.text())
            .map_err(|source| HttpError {
                url: url.to_owned(),
                source,
            })
    })
}
