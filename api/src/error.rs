//! The one error shape every route answers with: `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use steps::ports::{JobStoreError, ObjectStoreError, QueueError};

/// An error answered to an API client. `code` is a stable machine-readable name,
/// `message` is for humans and never contains secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a valid x-api-key header is required",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn job_not_found() -> Self {
        Self::not_found("JobNotFound", "no such job")
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "ImageTooLarge", message)
    }

    /// A failure of a dependency (store, queue): the details go to the log, not to the client.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, context, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "internal error, please retry",
        )
    }

    /// A dependency that is throttled or down for a moment: 503, so the client knows a retry
    /// may succeed. The details go to the log, not to the client.
    pub fn unavailable(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, context, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the service is busy, please retry",
        )
    }

    /// A failing port: 503 when it was only unavailable, else 500.
    pub fn port(context: &str, err: impl PortFailure) -> Self {
        if err.is_transient() {
            Self::unavailable(context, err)
        } else {
            Self::internal(context, err)
        }
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// An error of a port (job store, object store, queue) as the API answers it.
pub trait PortFailure: std::fmt::Display {
    /// Throttled, timed out, 5xx: the port said a retry may succeed.
    fn is_transient(&self) -> bool;
}

impl PortFailure for JobStoreError {
    fn is_transient(&self) -> bool {
        matches!(self, JobStoreError::Unavailable(_))
    }
}

impl PortFailure for ObjectStoreError {
    fn is_transient(&self) -> bool {
        matches!(self, ObjectStoreError::Unavailable(_))
    }
}

impl PortFailure for QueueError {
    fn is_transient(&self) -> bool {
        matches!(self, QueueError::Unavailable(_))
    }
}
