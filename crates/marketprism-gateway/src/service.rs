//! The gateway service: the API routes beside `/health`, `/ready` and `/metrics` on one
//! port, API keys on `/v1/`, and the dependency checks behind `/health`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use marketprism_telemetry::{Dependency, Readiness};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::auth::{ApiKeys, KeyFileError};
use crate::metrics::{Metrics, RequestLabels};
use crate::params::Params;
use crate::source::Reader;
use crate::status::StatusSource;
use crate::stream::{self, StreamRequest};
use crate::{coverage, instruments, replay, ApiError, Config};

/// The gateway could not start or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is invalid.
    #[error("invalid gateway configuration: {0}")]
    Config(String),
    /// The API key file cannot be used.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The ClickHouse client could not be built (e.g. its password file is unreadable).
    #[error("ClickHouse client: {0}")]
    ClickHouse(std::io::Error),
    /// NATS could not be reached.
    #[error(transparent)]
    Nats(#[from] marketprism_bus::BusError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving the API failed: {0}")]
    Serve(std::io::Error),
}

/// What the API's handlers share.
struct AppState {
    reader: Reader,
    config: Config,
    keys: Option<ApiKeys>,
    metrics: Metrics,
    /// The event stream's live subjects, for `/v1/stream`.
    hub: Arc<stream::Hub>,
    /// The consumers' lag and the latest answer, for `/v1/status`.
    status: StatusSource,
    /// Cancelled when the gateway stops, ending replays still streaming.
    shutdown: CancellationToken,
}

type Shared = Arc<AppState>;

/// Runs the gateway until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), GatewayError> {
    let (_, server) = bind(config, shutdown).await?;
    server.await
}

/// Starts the gateway: checks the configuration, connects to NATS, binds `config.listen` and
/// returns the bound address and the server future, which runs until `shutdown` is
/// cancelled.
pub async fn bind(
    config: Config,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, impl Future<Output = Result<(), GatewayError>>), GatewayError> {
    config.validate().map_err(GatewayError::Config)?;
    let keys = config
        .api_keys_file
        .as_deref()
        .map(ApiKeys::load)
        .transpose()?;
    let reader =
        Reader::new(&config.clickhouse, &config.query).map_err(GatewayError::ClickHouse)?;
    let nats = marketprism_bus::connect(&config.nats, "marketprism-gateway").await?;
    let metrics = Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let readiness = Readiness::new("gateway", env!("CARGO_PKG_VERSION"));
    let hub = Arc::new(stream::Hub::new(
        async_nats::jetstream::new(nats.clone()),
        config.nats.stream.name.clone(),
    ));
    let status = StatusSource::new(&config, &nats);
    let state: Shared = Arc::new(AppState {
        reader,
        config,
        keys,
        metrics,
        hub,
        status,
        shutdown: shutdown.clone(),
    });

    let api = Router::new()
        .route("/v1/instruments", get(instruments_route))
        .route("/v1/coverage", get(coverage_route))
        .route("/v1/replay", get(replay_route))
        .route("/v1/stream", get(stream_route))
        .route("/v1/status", get(status_route))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key))
        // The page holds no data: it asks `/v1/status` with the key it is given.
        .route("/", get(crate::page::serve))
        .with_state(state.clone());
    let app = api.merge(marketprism_telemetry::router(registry, readiness.clone()));

    let listen = state.config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| GatewayError::Listen {
            address: listen,
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| GatewayError::Listen {
            address: listen,
            source,
        })?;
    tracing::info!(address = %bound, "Serving the API, /health, /ready and /metrics.");
    let checks = tokio::spawn(check_dependencies(
        state.clone(),
        nats,
        readiness,
        shutdown.clone(),
    ));
    let server = async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        checks.abort();
        served.map_err(GatewayError::Serve)
    };
    Ok((bound, server))
}

/// Keeps `/health` current: NATS's connection state and a query to ClickHouse, every
/// `health_interval`. The gateway is ready while both answer.
async fn check_dependencies(
    state: Shared,
    nats: async_nats::Client,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(state.config.health_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let mut problems = Vec::new();
        let nats_state = nats.connection_state();
        let nats_dependency = match nats_state {
            async_nats::connection::State::Connected => {
                Dependency::up(format!("connected to {}", nats.server_info().host))
            }
            other => {
                problems.push(format!("NATS is not connected ({other})"));
                Dependency::down(format!("not connected ({other})"))
            }
        };
        readiness.set_dependency("nats", nats_dependency);
        let clickhouse_dependency = match state.reader.version().await {
            Ok(version) => Dependency::up(format!("ClickHouse {version}")),
            Err(error) => {
                problems.push(format!("ClickHouse does not answer: {error}"));
                Dependency::down(error.to_string())
            }
        };
        readiness.set_dependency("clickhouse", clickhouse_dependency);
        readiness.set(if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        });
    }
}

async fn require_key(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(keys) = &state.keys {
        if let Err(error) = keys.check(request.headers()) {
            count(&state, request.uri().path(), &error.status());
            return error.into_response();
        }
    }
    next.run(request).await
}

/// Counts an answer of `endpoint`.
fn count(state: &AppState, endpoint: &str, status: &StatusCode) {
    let endpoint = match endpoint {
        "/v1/instruments" => "/v1/instruments",
        "/v1/coverage" => "/v1/coverage",
        "/v1/replay" => "/v1/replay",
        "/v1/stream" => "/v1/stream",
        "/v1/status" => "/v1/status",
        _ => "other",
    };
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            status: status.as_u16(),
        })
        .inc();
}

/// Answers `result`, counting it under `endpoint`.
fn answer(state: &AppState, endpoint: &str, result: Result<Response, ApiError>) -> Response {
    let response = result.unwrap_or_else(IntoResponse::into_response);
    count(state, endpoint, &response.status());
    response
}

async fn stream_route(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let request = match Params::parse(query.as_deref()).and_then(StreamRequest::parse) {
        Ok(request) => request,
        Err(error) => return answer(&state, "/v1/stream", Err(error)),
    };
    count(&state, "/v1/stream", &StatusCode::SWITCHING_PROTOCOLS);
    let hub = Arc::clone(&state.hub);
    let live = state.config.live.clone();
    let shutdown = state.shutdown.clone();
    upgrade.on_upgrade(move |socket| stream::serve(socket, hub, request, live, shutdown))
}

async fn instruments_route(State(state): State<Shared>) -> Response {
    let result = instruments::instruments(&state.reader)
        .await
        .map(|answer| Json(answer).into_response());
    answer(&state, "/v1/instruments", result)
}

async fn coverage_route(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let result = match Params::parse(query.as_deref()) {
        Ok(params) => coverage::coverage(&state.reader, &state.config.query, params)
            .await
            .map(|answer| Json(answer).into_response()),
        Err(error) => Err(error),
    };
    answer(&state, "/v1/coverage", result)
}

async fn status_route(State(state): State<Shared>) -> Response {
    let result = state
        .status
        .current(&state.reader)
        .await
        .map(|status| Json(status.as_ref()).into_response());
    answer(&state, "/v1/status", result)
}

async fn replay_route(State(state): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let result = match Params::parse(query.as_deref()) {
        Ok(params) => {
            replay::replay(
                &state.reader,
                &state.config.query.collectors,
                state.metrics.clone(),
                state.shutdown.clone(),
                params,
            )
            .await
        }
        Err(error) => Err(error),
    };
    answer(&state, "/v1/replay", result)
}
