//! A service's `/ready` and `/health`, as tests read them.

use std::time::{Duration, Instant};

/// `/ready`'s status and body below `base` (`http://host:port`); status 0 with the error
/// when nothing answers.
pub async fn ready(base: &str) -> (u16, String) {
    match reqwest::get(format!("{base}/ready")).await {
        Ok(response) => (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        ),
        Err(error) => (0, error.to_string()),
    }
}

/// `/health`'s report below `base`.
///
/// # Panics
/// When `/health` does not answer with JSON: the test fails there.
pub async fn health(base: &str) -> serde_json::Value {
    let body = reqwest::get(format!("{base}/health"))
        .await
        .expect("health answers")
        .text()
        .await
        .expect("health body");
    serde_json::from_str(&body).expect("health JSON")
}

/// Polls `/ready` until it answers `status` with a body containing each of `contains` (up
/// to two minutes); returns the body and how long it took.
///
/// # Panics
/// When it never does: the test fails with the last answer.
pub async fn ready_becomes(base: &str, status: u16, contains: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    let mut last = (0, String::new());
    while started.elapsed() < Duration::from_secs(120) {
        last = ready(base).await;
        if last.0 == status && contains.iter().all(|part| last.1.contains(part)) {
            return (last.1, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/ready never answered {status} with {contains:?}; last: {last:?}");
}
