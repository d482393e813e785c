//! REST requests to venues' trade history, with their rate-limit answers (HTTP 429, and 418
//! for an IP ban) turned into a wait taken from `Retry-After`. The one function every
//! history page goes through.

use std::time::Duration;

use reqwest::StatusCode;

/// Wait after a rate-limit answer that names no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Why a request produced no body.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The venue asked to wait this long before asking again.
    RateLimited(Duration),
    /// Anything else: connection, status, body.
    Failed(String),
}

/// `GET url`, returning the body of a successful answer.
pub(crate) async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, FetchError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|error| FetchError::Failed(format!("GET {url}: {error}")))?;
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::IM_A_TEAPOT {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        return Err(FetchError::RateLimited(retry_after));
    }
    if !status.is_success() {
        return Err(FetchError::Failed(format!("GET {url}: HTTP {status}")));
    }
    response
        .text()
        .await
        .map_err(|error| FetchError::Failed(format!("GET {url}: {error}")))
}
