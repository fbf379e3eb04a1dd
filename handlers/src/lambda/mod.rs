//! The Lambda entry points: what each binary in `src/bin` runs. Each `serve` function builds its
//! clients once per cold start, then hands a handler to the Lambda runtime.

pub mod api_gateway;
pub mod reconciler;
pub mod s3_event;
pub mod stage;
pub mod worker;

use lambda_runtime::Diagnostic;

/// A handler failure that is ours, not the input's: reported with a stable error type.
pub fn internal_diagnostic(message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        error_type: "PetAvatar.Internal".into(),
        error_message: message.into(),
    }
}

/// A failure Lambda should retry (an asynchronous event's retry, or SQS redelivery).
pub fn transient_diagnostic(message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        error_type: "PetAvatar.Transient".into(),
        error_message: message.into(),
    }
}
