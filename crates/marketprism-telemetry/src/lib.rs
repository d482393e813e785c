//! The operational HTTP endpoint every MarketPrism service exposes on one port:
//!
//! * `GET /health`: 200 while the process answers, with a JSON report of the service's state:
//!   `{"service", "status": "healthy"|"unhealthy", "version", "timestamp", "dependencies":
//!   {name: {"status": "up"|"down"|"unknown", "detail"}}, "reason"}` (`reason` only when
//!   unhealthy);
//! * `GET /ready`: 200 while the service does its job (data flows through it), 503 otherwise,
//!   with the reason in the body;
//! * `GET /metrics`: Prometheus text exposition of the service's registry.
//!
//! The service decides what ready means and keeps [`Readiness`] up to date; this crate only
//! serves it, and offers the checks several services share ([`disk`]).

pub mod disk;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The reason a service gives before it first assesses itself.
const STARTING: &str = "starting";

/// Whether a dependency is usable, as far as the service can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyStatus {
    /// It answers and does its part.
    Up,
    /// It does not answer, or fails.
    Down,
    /// Not known yet (nothing asked of it so far).
    Unknown,
}

/// A dependency's state on `/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// Whether it is usable.
    pub status: DependencyStatus,
    /// What was seen, e.g. `connected; 3 publishes awaiting their ack`.
    pub detail: String,
}

impl Dependency {
    /// A dependency that answers.
    pub fn up(detail: impl Into<String>) -> Self {
        Dependency {
            status: DependencyStatus::Up,
            detail: detail.into(),
        }
    }

    /// A dependency that does not answer or fails.
    pub fn down(detail: impl Into<String>) -> Self {
        Dependency {
            status: DependencyStatus::Down,
            detail: detail.into(),
        }
    }

    /// A dependency whose state is not known yet.
    pub fn unknown(detail: impl Into<String>) -> Self {
        Dependency {
            status: DependencyStatus::Unknown,
            detail: detail.into(),
        }
    }
}

/// The `/health` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The service, e.g. `collector`.
    pub service: &'static str,
    /// `healthy` while ready, else `unhealthy`.
    pub status: &'static str,
    /// The service's version.
    pub version: &'static str,
    /// When the report was made, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
    /// Each dependency's state, by name.
    pub dependencies: BTreeMap<&'static str, Dependency>,
    /// Why the service is not ready; absent while it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug)]
struct Assessment {
    /// Why the service is not ready; `None` while it is.
    reason: Option<String>,
    dependencies: BTreeMap<&'static str, Dependency>,
}

/// A service's readiness and its dependencies' states, shared between the service, which
/// keeps them up to date, and the HTTP endpoint. Not ready ("starting") until first set.
#[derive(Debug, Clone)]
pub struct Readiness {
    service: &'static str,
    version: &'static str,
    assessment: Arc<Mutex<Assessment>>,
}

impl Readiness {
    /// The readiness of `service` (e.g. `storage`) at `version`, not ready until set.
    pub fn new(service: &'static str, version: &'static str) -> Self {
        Readiness {
            service,
            version,
            assessment: Arc::new(Mutex::new(Assessment {
                reason: Some(STARTING.to_owned()),
                dependencies: BTreeMap::new(),
            })),
        }
    }

    fn assessment(&self) -> std::sync::MutexGuard<'_, Assessment> {
        self.assessment
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the service ready (`Ok`) or not ready, with the reason.
    pub fn set(&self, verdict: Result<(), String>) {
        self.assessment().reason = verdict.err();
    }

    /// Records the state of the dependency `name`, e.g. `nats`.
    pub fn set_dependency(&self, name: &'static str, dependency: Dependency) {
        self.assessment().dependencies.insert(name, dependency);
    }

    /// Whether the service is ready.
    pub fn is_ready(&self) -> bool {
        self.assessment().reason.is_none()
    }

    /// Why the service is not ready; `None` while it is.
    pub fn reason(&self) -> Option<String> {
        self.assessment().reason.clone()
    }

    /// The `/health` report, as of now.
    pub fn health(&self) -> Health {
        let assessment = self.assessment();
        Health {
            service: self.service,
            status: if assessment.reason.is_none() {
                "healthy"
            } else {
                "unhealthy"
            },
            version: self.version,
            timestamp: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            dependencies: assessment.dependencies.clone(),
            reason: assessment.reason.clone(),
        }
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
    let app = router(registry, readiness);
    tracing::info!(address = %bound, "Serving /health, /ready and /metrics.");
    let server = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    };
    Ok((bound, server))
}

/// The routes `/health`, `/ready` and `/metrics`, for a service that serves them beside its
/// own routes on one port (merge it into the service's router).
pub fn router<S>(registry: Registry, readiness: Readiness) -> Router<S> {
    let state = AppState {
        registry: Arc::new(registry),
        readiness,
    };
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The Prometheus text exposition of `registry`, as `/metrics` answers it; for a service's
/// `metrics_exposition()`, which the monitoring checks read.
pub fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a `String` cannot fail, and no metric of the services fails to encode.
    prometheus_client::encoding::text::encode(&mut text, registry)
        .expect("a registry encodes into a String");
    text
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(state.readiness.health())
}

async fn ready(State(state): State<AppState>) -> (StatusCode, String) {
    match state.readiness.reason() {
        None => (StatusCode::OK, "ready\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
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
        let readiness = Readiness::new("test", "1.2.3");
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
        let health = || async {
            let response = reqwest::get(format!("{base}/health"))
                .await
                .expect("health");
            assert_eq!(response.status(), 200);
            let body = response.text().await.expect("body");
            serde_json::from_str::<serde_json::Value>(&body).expect("JSON")
        };
        let ready = || async {
            let response = reqwest::get(format!("{base}/ready")).await.expect("ready");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        };

        assert_eq!(ready().await, (503, "not ready: starting\n".to_owned()));
        let starting = health().await;
        assert_eq!(starting["service"], "test");
        assert_eq!(starting["version"], "1.2.3");
        assert_eq!(starting["status"], "unhealthy");
        assert_eq!(starting["reason"], "starting");
        assert!(starting["timestamp"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z')));

        readiness.set_dependency("nats", Dependency::up("connected"));
        readiness.set(Ok(()));
        assert_eq!(ready().await, (200, "ready\n".to_owned()));
        let healthy = health().await;
        assert_eq!(healthy["status"], "healthy");
        assert!(healthy.get("reason").is_none(), "{healthy}");
        assert_eq!(
            healthy["dependencies"]["nats"],
            serde_json::json!({"status": "up", "detail": "connected"})
        );

        readiness.set_dependency("nats", Dependency::down("not answering"));
        readiness.set(Err("NATS has not acknowledged for 20 s".into()));
        assert_eq!(
            ready().await,
            (
                503,
                "not ready: NATS has not acknowledged for 20 s\n".to_owned()
            )
        );
        let unhealthy = health().await;
        assert_eq!(unhealthy["status"], "unhealthy");
        assert_eq!(unhealthy["reason"], "NATS has not acknowledged for 20 s");
        assert_eq!(unhealthy["dependencies"]["nats"]["status"], "down");

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
