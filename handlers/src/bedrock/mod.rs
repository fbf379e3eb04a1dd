//! Amazon Bedrock behind the model ports: vision and text through the Converse API with a forced
//! tool call ([`converse`]), images through InvokeModel on a Stability model ([`stability`]).

pub mod access;
pub mod converse;
pub mod document;
pub mod schema;
pub mod stability;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::converse::ConverseError;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use steps::ports::ModelError;

pub use access::ModelAccessDenied;
pub use converse::ConverseModels;
pub use stability::StabilityImages;

use crate::aws_error::{Failure, classify};

/// The model a call was for, and the region it was sent to (for the access-denied message).
#[derive(Debug, Clone, Copy)]
pub struct CallTarget<'a> {
    pub model_id: &'a str,
    pub region: Option<&'a str>,
}

/// A failed Bedrock call as a `ModelError`: throttling, 5xx and timeouts are `Transient`
/// (`PetAvatar.Transient`, retried by the state machine); a refusal by a content filter is
/// `ContentFiltered`; AccessDeniedException is `AccessDenied` with what to enable
/// (`PetAvatar.ModelAccessDenied`); the rest (unknown model, invalid request) is `Permanent`.
pub fn model_error<E>(err: &SdkError<E, HttpResponse>, target: CallTarget<'_>) -> ModelError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match classify(err) {
        Failure::Transient(m) => ModelError::Transient(m),
        Failure::Permanent { code, message } => match code.as_deref() {
            Some("AccessDeniedException") => access_denied(err, target),
            Some("ValidationException") if mentions_moderation(&message) => {
                ModelError::ContentFiltered(message)
            }
            _ => ModelError::Permanent(message),
        },
    }
}

fn access_denied<E>(err: &SdkError<E, HttpResponse>, target: CallTarget<'_>) -> ModelError
where
    E: ProvideErrorMetadata,
{
    let aws_message = match err {
        SdkError::ServiceError(ctx) => ctx.err().message().unwrap_or("AccessDeniedException"),
        _ => "AccessDeniedException",
    };
    let denied = ModelAccessDenied::new(target.model_id, target.region, aws_message);
    ModelError::AccessDenied(denied.to_string())
}

/// Throttling, a dependency's outage or slowness (by the modeled error, whatever its metadata).
pub fn converse_error(
    err: &SdkError<ConverseError, HttpResponse>,
    target: CallTarget<'_>,
) -> ModelError {
    use ConverseError as E;
    match err.as_service_error() {
        Some(
            e @ (E::ThrottlingException(_)
            | E::ServiceUnavailableException(_)
            | E::InternalServerException(_)
            | E::ModelTimeoutException(_)
            | E::ModelNotReadyException(_)),
        ) => ModelError::Transient(e.to_string()),
        Some(E::AccessDeniedException(_)) => access_denied(err, target),
        _ => model_error(err, target),
    }
}

/// As [`converse_error`], for InvokeModel.
pub fn invoke_model_error(
    err: &SdkError<InvokeModelError, HttpResponse>,
    target: CallTarget<'_>,
) -> ModelError {
    use InvokeModelError as E;
    match err.as_service_error() {
        Some(
            e @ (E::ThrottlingException(_)
            | E::ServiceUnavailableException(_)
            | E::InternalServerException(_)
            | E::ModelTimeoutException(_)
            | E::ModelNotReadyException(_)),
        ) => ModelError::Transient(e.to_string()),
        Some(E::AccessDeniedException(_)) => access_denied(err, target),
        _ => model_error(err, target),
    }
}

/// Stability models answer a moderated prompt with a 400 whose message says so.
fn mentions_moderation(message: &str) -> bool {
    let lower = message.to_lowercase();
    [
        "content moderation",
        "content filter",
        "flagged",
        "filtered",
    ]
    .iter()
    .any(|w| lower.contains(w))
}
