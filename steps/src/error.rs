//! `StageError`: what a stage fails with. `name()` is the stable dotted error name that becomes
//! the Lambda `errorType` and the Step Functions error (`ErrorEquals`); `Display` is the message.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::JobStatus;
use crate::ports::{JobStoreError, ModelError, ObjectStoreError};

/// Every stable error name, for documentation and tests.
pub const ERROR_NAMES: [&str; 13] = [
    "PetAvatar.InvalidInput",
    "PetAvatar.InvalidImage",
    "PetAvatar.UnsupportedFormat",
    "PetAvatar.ImageTooLarge",
    "PetAvatar.NotAPet",
    "PetAvatar.Transient",
    "PetAvatar.ModelOutput",
    "PetAvatar.ContentFiltered",
    "PetAvatar.ModelError",
    "PetAvatar.ModelAccessDenied",
    "PetAvatar.JobConflict",
    "PetAvatar.NotFound",
    "PetAvatar.Internal",
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StageError {
    /// The state JSON given to the stage is not what it expects.
    #[error("invalid stage input: {0}")]
    InvalidInput(String),
    /// The upload is not a readable image (text, truncated, corrupt, …).
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// A real image in a format the service does not take (GIF, BMP, TIFF, WebP, SVG, HEIC
    /// without the `heic` feature).
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// Over 50 MB or over the pixel limit.
    #[error("image too large: {0}")]
    ImageTooLarge(String),
    /// The photo shows no animal, or shows a person.
    #[error("not a pet: {0}")]
    NotAPet(String),
    /// A dependency was throttled, failed with a 5xx or timed out: retry.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// A model answered in a shape the stage cannot use.
    #[error("model output invalid: {0}")]
    ModelOutput(String),
    /// A model's content filter refused the request or the result.
    #[error("content filtered: {0}")]
    ContentFiltered(String),
    /// A model failed permanently (misconfiguration, unknown model).
    #[error("model error: {0}")]
    ModelError(String),
    /// The account may not use the model yet; the message names what to enable.
    #[error("model access denied: {0}")]
    ModelAccessDenied(String),
    /// A conditional write on the job was refused.
    #[error("job {job_id} is {current}; cannot {attempted}")]
    JobConflict {
        job_id: Uuid,
        current: JobStatus,
        attempted: String,
    },
    /// The job or an object does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A bug or an unexpected failure of ours.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StageError {
    /// The stable dotted error name (`PetAvatar.NotAPet`).
    pub fn name(&self) -> &'static str {
        match self {
            StageError::InvalidInput(_) => "PetAvatar.InvalidInput",
            StageError::InvalidImage(_) => "PetAvatar.InvalidImage",
            StageError::UnsupportedFormat(_) => "PetAvatar.UnsupportedFormat",
            StageError::ImageTooLarge(_) => "PetAvatar.ImageTooLarge",
            StageError::NotAPet(_) => "PetAvatar.NotAPet",
            StageError::Transient(_) => "PetAvatar.Transient",
            StageError::ModelOutput(_) => "PetAvatar.ModelOutput",
            StageError::ContentFiltered(_) => "PetAvatar.ContentFiltered",
            StageError::ModelError(_) => "PetAvatar.ModelError",
            StageError::ModelAccessDenied(_) => "PetAvatar.ModelAccessDenied",
            StageError::JobConflict { .. } => "PetAvatar.JobConflict",
            StageError::NotFound(_) => "PetAvatar.NotFound",
            StageError::Internal(_) => "PetAvatar.Internal",
        }
    }

    /// The human message (same as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Worth retrying (only `PetAvatar.Transient`; the ASL retries exactly this name).
    pub fn is_transient(&self) -> bool {
        matches!(self, StageError::Transient(_))
    }

    /// The Lambda error payload `{"errorType", "errorMessage"}` (what Step Functions puts in `Cause`).
    pub fn to_payload(&self) -> ErrorPayload {
        ErrorPayload {
            error_type: self.name().to_string(),
            error_message: self.message(),
        }
    }
}

/// The Lambda error payload. Step Functions' `Cause` is this, serialised as a JSON string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPayload {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

impl From<ObjectStoreError> for StageError {
    fn from(e: ObjectStoreError) -> Self {
        match e {
            ObjectStoreError::NotFound(key) => StageError::NotFound(format!("object {key}")),
            ObjectStoreError::Unavailable(m) => StageError::Transient(format!("object store: {m}")),
            ObjectStoreError::Other(m) => StageError::Internal(format!("object store: {m}")),
        }
    }
}

impl From<JobStoreError> for StageError {
    fn from(e: JobStoreError) -> Self {
        match e {
            JobStoreError::NotFound(id) => StageError::NotFound(format!("job {id}")),
            JobStoreError::AlreadyExists(id) => StageError::JobConflict {
                job_id: id,
                current: JobStatus::Queued,
                attempted: "create it again".to_string(),
            },
            JobStoreError::Conflict {
                job_id,
                current,
                attempted,
            } => StageError::JobConflict {
                job_id,
                current,
                attempted,
            },
            JobStoreError::Unavailable(m) => StageError::Transient(format!("job store: {m}")),
            JobStoreError::Other(m) => StageError::Internal(format!("job store: {m}")),
        }
    }
}

impl From<ModelError> for StageError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Transient(m) => StageError::Transient(format!("model: {m}")),
            ModelError::InvalidOutput(m) => StageError::ModelOutput(m),
            ModelError::ContentFiltered(m) => StageError::ContentFiltered(m),
            ModelError::AccessDenied(m) => StageError::ModelAccessDenied(m),
            ModelError::Permanent(m) => StageError::ModelError(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_listed() {
        let samples = [
            StageError::InvalidInput(String::new()),
            StageError::InvalidImage(String::new()),
            StageError::UnsupportedFormat(String::new()),
            StageError::ImageTooLarge(String::new()),
            StageError::NotAPet(String::new()),
            StageError::Transient(String::new()),
            StageError::ModelOutput(String::new()),
            StageError::ContentFiltered(String::new()),
            StageError::ModelError(String::new()),
            StageError::ModelAccessDenied(String::new()),
            StageError::JobConflict {
                job_id: Uuid::nil(),
                current: JobStatus::Completed,
                attempted: String::new(),
            },
            StageError::NotFound(String::new()),
            StageError::Internal(String::new()),
        ];
        let names: Vec<&str> = samples.iter().map(StageError::name).collect();
        assert_eq!(names, ERROR_NAMES.to_vec());
    }

    #[test]
    fn payload_uses_lambda_field_names() {
        let e = StageError::NotAPet("the photo shows a person".into());
        let json = serde_json::to_value(e.to_payload()).unwrap_or_default();
        assert_eq!(json["errorType"], "PetAvatar.NotAPet");
        assert_eq!(json["errorMessage"], "not a pet: the photo shows a person");
    }
}
