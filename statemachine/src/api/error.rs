//! AWS's error shape for the Step Functions JSON protocol: `{"__type", "message"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::engine::EngineError;

/// An error the endpoint answers with. Client errors are 400s, as AWS sends them; only a
/// failing store is the service's fault (500).
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl ApiError {
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::client("ValidationException", message)
    }

    pub fn invalid_arn(arn: &str) -> Self {
        ApiError::client("InvalidArn", format!("Invalid Arn: '{arn}'"))
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        // The engine's messages start with their code; AWS's message is what follows.
        let detail = |m: &str| {
            m.split_once(": ")
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_else(|| m.to_string())
        };
        let code = match &e {
            EngineError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            EngineError::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            EngineError::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            EngineError::InvalidDefinition(_) => "InvalidDefinition",
            EngineError::InvalidName(_) => "InvalidName",
            EngineError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            EngineError::InvalidToken(_) => "InvalidToken",
            EngineError::ExecutionNotRedrivable(_) => "ExecutionNotRedrivable",
            EngineError::Store(_) | EngineError::Shutdown => {
                return ApiError {
                    code: "InternalFailure",
                    message,
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                };
            }
        };
        ApiError::client(code, detail(&message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        (
            self.status,
            [
                ("content-type", super::CONTENT_TYPE),
                ("x-amzn-errortype", self.code),
            ],
            body,
        )
            .into_response()
    }
}
