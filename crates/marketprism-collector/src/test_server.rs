//! A local HTTP server standing in for a venue's REST API, and a client of it, for tests of
//! the collector's REST requests.

use std::time::Duration;

use marketprism_rest::{RestClient, RestMetrics};
use marketprism_venues::RestLimits;

/// Serves `app` on a free local port until the test ends; its base URL,
/// `http://127.0.0.1:<port>`.
pub(crate) async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// A client spending all of `limits`, each request timing out after `timeout`.
pub(crate) fn client(limits: RestLimits, timeout: Duration) -> RestClient {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("HTTP client");
    RestClient::new(http, limits, 1.0, RestMetrics::default())
}
