//! The one error type of the API. Each variant has a stable machine code and
//! an HTTP status; every response body is `{ "error": { "code", "message" } }`.
//! Internal failures are logged with their cause and answered with a generic
//! message, so nothing about the database leaks to a caller.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{classify, DbFailure};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Input that is malformed or fails validation (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// No valid session or token (401).
    #[error("authentication required")]
    Unauthenticated,
    /// Wrong e-mail or password: one answer for both (401).
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// Authenticated, but this actor may not do this (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not found, or not visible to this actor (404). We never say which, so
    /// a caller cannot probe for records outside their reach.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the record's current state (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A join link outside its validity window, or revoked (410).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// Body larger than the server accepts (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// Body is not JSON (415).
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// Too many attempts (429).
    #[error("too many attempts; try again later")]
    TooManyRequests,
    /// A bug or an unavailable dependency (500). The cause is logged only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Gone {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } | ApiError::Gone { code, .. } => code,
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooManyRequests => "too_many_requests",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The JSON shape of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `validation`, `stale_version`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

pub fn error_body(code: &str, message: &str) -> ErrorBody {
    ErrorBody {
        error: ErrorDetail {
            code: code.to_string(),
            message: message.to_string(),
        },
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let body = error_body(self.code(), &self.to_string());
        (self.status(), Json(body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match classify(&err) {
            DbFailure::Immutable => ApiError::conflict("immutable", "signed clinical records cannot be changed"),
            DbFailure::Constraint(name) => {
                ApiError::conflict("constraint", format!("conflicts with an existing record ({name})"))
            }
            DbFailure::Other => ApiError::Internal(err.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
