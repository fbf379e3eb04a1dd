//! Sorting AWS SDK errors into "worth retrying" and "not": the one decision every adapter makes
//! the same way. Transient errors become the ports' `Unavailable`/`Transient` variants, which the
//! stages turn into `PetAvatar.Transient`, which the ASL retries (1 s / 2 s / 4 s).

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

/// Error codes AWS services use for throttling and their own temporary failures.
const TRANSIENT_CODES: [&str; 17] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelTimeoutException",
];

/// What kind of failure an SDK call had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Throttled, a 5xx, a timeout, a connection failure: the same call may succeed later.
    Transient(String),
    /// The service refused the request itself (validation, access denied, not found, …).
    Permanent {
        code: Option<String>,
        message: String,
    },
}

impl Failure {
    pub fn is_transient(&self) -> bool {
        matches!(self, Failure::Transient(_))
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Transient(m) => m,
            Failure::Permanent { message, .. } => message,
        }
    }
}

/// Sorts an SDK error (any service, any operation).
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::TimeoutError(_) => Failure::Transient("request timed out".into()),
        SdkError::DispatchFailure(f) => {
            Failure::Transient(format!("could not reach the service: {f:?}"))
        }
        SdkError::ResponseError(_) => {
            Failure::Transient("unreadable response from the service".into())
        }
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().map(str::to_owned);
            let message = describe(code.as_deref(), ctx.err().message(), status);
            if status == 429 || status >= 500 || code.as_deref().is_some_and(is_transient_code) {
                Failure::Transient(message)
            } else {
                Failure::Permanent { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => Failure::Permanent {
            code: None,
            message: format!("invalid request: {}", display_chain(err)),
        },
        _ => Failure::Permanent {
            code: None,
            message: display_chain(err),
        },
    }
}

pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// The service's error code, if the call failed with one.
pub fn service_code<E>(err: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

fn describe(code: Option<&str>, message: Option<&str>, status: u16) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("{c} (HTTP {status}): {m}"),
        (Some(c), None) => format!("{c} (HTTP {status})"),
        (None, Some(m)) => format!("HTTP {status}: {m}"),
        (None, None) => format!("HTTP {status}"),
    }
}

/// The error and its sources on one line: SDK errors put the useful part in a source.
pub fn display_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_transient() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "SlowDown",
        ] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in ["AccessDeniedException", "ValidationException", "NoSuchKey"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}
