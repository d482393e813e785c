//! The operational HTTP endpoint every MarketPrism service exposes on one port:
//!
//! * `GET /health`: 200 while the process runs;
//! * `GET /ready`: 200 once the service does its job (connected and consuming), 503 otherwise;
//! * `GET /metrics`: Prometheus text exposition of the service's registry.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// A shared flag the service sets when it is ready to do its job.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the service ready or not ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    /// Whether the service is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// Binds `listen` and returns the bound address and the server future, which runs until
/// `shutdown` is cancelled.
pub async fn bind(
    listen: SocketAddr,
    registry: Registry,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let state = AppState {
        registry: Arc::new(registry),
        readiness,
    };
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state);
    tracing::info!(address = %bound, "Serving /health, /ready and /metrics.");
    let server = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    };
    Ok((bound, server))
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(
    State(state): State<AppState>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain")],
            error.to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[tokio::test]
    async fn serves_health_readiness_and_metrics() {
        let mut registry = Registry::default();
        let frames: Counter = Counter::default();
        registry.register("frames", "Frames received", frames.clone());
        frames.inc_by(3);
        let readiness = Readiness::default();
        let shutdown = CancellationToken::new();
        let (address, server) = bind(
            "127.0.0.1:0".parse().expect("addr"),
            registry,
            readiness.clone(),
            shutdown.clone(),
        )
        .await
        .expect("bind");
        let server = tokio::spawn(server);
        let base = format!("http://{address}");

        let health = reqwest::get(format!("{base}/health"))
            .await
            .expect("health");
        assert_eq!(health.status(), 200);
        let not_ready = reqwest::get(format!("{base}/ready")).await.expect("ready");
        assert_eq!(not_ready.status(), 503);
        readiness.set(true);
        let ready = reqwest::get(format!("{base}/ready")).await.expect("ready");
        assert_eq!(ready.status(), 200);
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body");
        assert!(metrics.contains("frames_total 3"), "{metrics}");

        shutdown.cancel();
        server.await.expect("join").expect("clean shutdown");
    }
}
