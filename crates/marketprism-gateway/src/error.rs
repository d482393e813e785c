//! Errors of the API, answered as JSON: `{"error": "<message>"}`, plus `"parameter"` naming
//! the query parameter at fault for a 400.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is missing, unknown or invalid (400).
    #[error("{parameter}: {message}")]
    BadParameter {
        /// The parameter, e.g. `symbol`.
        parameter: String,
        /// What is wrong with it.
        message: String,
    },
    /// No API key, or one that is not listed (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The key has used its requests for now (429).
    #[error(
        "API key {key:?} is limited to {per_minute} requests a minute; retry in {retry_after} s"
    )]
    RateLimited {
        /// The key's name in the key file.
        key: String,
        /// Its limit.
        per_minute: u32,
        /// Seconds until its next request is allowed.
        retry_after: u64,
    },
    /// ClickHouse failed or could not be reached (502).
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// ClickHouse answered something the gateway cannot read (502).
    #[error("unexpected answer from ClickHouse: {0}")]
    Answer(String),
}

impl ApiError {
    /// A 400 naming `parameter`.
    pub fn bad(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ClickHouse(_) | ApiError::Answer(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "A request failed.");
        }
        let parameter = match &self {
            ApiError::BadParameter { parameter, .. } => Some(parameter.as_str()),
            _ => None,
        };
        let retry_after = match &self {
            ApiError::RateLimited { retry_after, .. } => Some(retry_after.to_string()),
            _ => None,
        };
        let body = Body {
            error: self.to_string(),
            parameter,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after.and_then(|text| text.parse().ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}
