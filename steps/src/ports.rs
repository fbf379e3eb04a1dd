//! Ports: what the stages need from the outside world. Adapters live elsewhere (in-memory ones in
//! `steps::memory`, SQLite/filesystem ones in `local`, AWS ones in `handlers`).
//!
//! Every trait is `#[async_trait]`, object-safe and `Send + Sync`, so a `Deps` can hold
//! `Arc<dyn Trait>` and be shared between concurrently running stages.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    CareerProfile, IdentityDraft, Job, JobError, JobResults, JobStatus, PetAnalysis, Stage,
};
use crate::job_rules::JobUpdate;

// ---------------------------------------------------------------------------------------------
// ObjectStore

/// What `head` tells about an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectStoreError {
    #[error("object {0} not found")]
    NotFound(String),
    /// Throttling, 5xx, timeouts: worth retrying.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    #[error("object store error: {0}")]
    Other(String),
}

/// A bucket: keys such as `uploads/{job_id}/original.png`, `work/{job_id}/normalized.jpg`,
/// `generated/{job_id}/avatar.png` (see `domain::keys`).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Bytes, ObjectStoreError>;
    async fn put(&self, key: &str, body: Bytes, content_type: &str)
    -> Result<(), ObjectStoreError>;
    async fn head(&self, key: &str) -> Result<ObjectMeta, ObjectStoreError>;
}

// ---------------------------------------------------------------------------------------------
// JobStore

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobStoreError {
    #[error("job {0} not found")]
    NotFound(Uuid),
    #[error("job {0} already exists")]
    AlreadyExists(Uuid),
    /// A conditional write was refused: the job is in `current` and may not move as asked.
    #[error("job {job_id} is {current}; cannot {attempted}")]
    Conflict {
        job_id: Uuid,
        current: JobStatus,
        attempted: String,
    },
    /// Throttling, 5xx, timeouts: worth retrying.
    #[error("job store unavailable: {0}")]
    Unavailable(String),
    #[error("job store error: {0}")]
    Other(String),
}

/// The job table. Writes are conditional (DynamoDB `ConditionExpression`, SQLite `WHERE`) and
/// follow [`crate::job_rules::apply_update`]:
/// - status never moves backwards (`queued` → `processing` → `completed`|`failed`) and never
///   leaves a terminal state;
/// - progress never decreases (the larger of the stored and the new value is kept, so the two
///   parallel branches can advance in either order);
/// - a refused write is `JobStoreError::Conflict` carrying the current status.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Insert a new job; `AlreadyExists` if the id is taken.
    async fn create(&self, job: Job) -> Result<(), JobStoreError>;
    async fn get(&self, job_id: Uuid) -> Result<Job, JobStoreError>;
    /// Applies one write under the rules of [`crate::job_rules`], atomically; returns the job
    /// as stored. Every write goes through here, so an adapter states the rules once.
    async fn update(&self, job_id: Uuid, update: JobUpdate) -> Result<Job, JobStoreError>;

    /// Enter `stage` with `progress`: status becomes `processing`. Conflict if the job is terminal.
    async fn advance(
        &self,
        job_id: Uuid,
        stage: Stage,
        progress: u8,
    ) -> Result<Job, JobStoreError> {
        self.update(job_id, JobUpdate::Advance { stage, progress })
            .await
    }

    /// Status `completed`, progress 100, results stored. Conflict if the job is terminal.
    async fn complete(&self, job_id: Uuid, results: JobResults) -> Result<Job, JobStoreError> {
        self.update(job_id, JobUpdate::Complete(Box::new(results)))
            .await
    }

    /// Status `failed` with `error`. Conflict if the job is terminal.
    async fn fail(&self, job_id: Uuid, error: JobError) -> Result<Job, JobStoreError> {
        self.update(job_id, JobUpdate::Fail(error)).await
    }

    /// An operator redrives the job's execution: `failed` → `processing`, the error cleared.
    /// Conflict unless the job is failed.
    async fn redrive(&self, job_id: Uuid) -> Result<Job, JobStoreError> {
        self.update(job_id, JobUpdate::Redrive).await
    }

    /// Remember the execution that runs the job (allowed in any status).
    async fn set_execution_arn(
        &self,
        job_id: Uuid,
        execution_arn: &str,
    ) -> Result<Job, JobStoreError> {
        self.update(job_id, JobUpdate::SetExecutionArn(execution_arn.to_owned()))
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// Models

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Throttling, 5xx, timeouts: worth retrying.
    #[error("model unavailable: {0}")]
    Transient(String),
    /// The model answered, but not in the expected shape.
    #[error("model output invalid: {0}")]
    InvalidOutput(String),
    /// The model or its guardrails refused the content.
    #[error("content filtered: {0}")]
    ContentFiltered(String),
    /// The account or the caller may not use the model (no model access, no Marketplace
    /// subscription, a denying policy); the message says what to enable. Not retried: a fix
    /// takes a person.
    #[error("model access denied: {0}")]
    AccessDenied(String),
    /// Misconfiguration, unknown model, invalid request, …: retrying will not help.
    #[error("model error: {0}")]
    Permanent(String),
}

/// What the vision model is asked.
#[derive(Debug, Clone)]
pub struct VisionRequest {
    pub job_id: Uuid,
    /// The normalized JPEG (long edge ≤ 1568 px, < 3.75 MB).
    pub jpeg: Bytes,
    pub width: u32,
    pub height: u32,
    /// `"dog"`, `"cat"`, … when the client told us.
    pub species_hint: Option<String>,
}

/// What the photo shows instead of a pet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonPetSubject {
    Person,
    NoAnimal,
}

/// The vision model's verdict: a pet analysis, or why the photo is not of a pet.
#[derive(Debug, Clone, PartialEq)]
pub enum VisionVerdict {
    Pet(Box<PetAnalysis>),
    NotAPet {
        subject: NonPetSubject,
        reason: String,
    },
}

#[async_trait]
pub trait VisionModel: Send + Sync {
    async fn analyse(&self, request: VisionRequest) -> Result<VisionVerdict, ModelError>;
}

#[derive(Debug, Clone)]
pub struct CareerRequest {
    pub job_id: Uuid,
    pub analysis: PetAnalysis,
}

#[derive(Debug, Clone)]
pub struct IdentityRequest {
    pub job_id: Uuid,
    pub analysis: PetAnalysis,
    pub career: CareerProfile,
}

#[async_trait]
pub trait TextModel: Send + Sync {
    /// Map the analysis to a career.
    async fn career(&self, request: CareerRequest) -> Result<CareerProfile, ModelError>;
    /// Write the name, bio, skills and trajectory (the stage adds the similarity score).
    async fn identity(&self, request: IdentityRequest) -> Result<IdentityDraft, ModelError>;
}

#[derive(Debug, Clone)]
pub struct ImageRequest {
    pub job_id: Uuid,
    pub prompt: String,
    pub negative_prompt: String,
    pub seed: u64,
    /// Requested square size in pixels (1024).
    pub size: u32,
    pub analysis: PetAnalysis,
    pub career: CareerProfile,
}

/// A generated image (PNG bytes).
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    pub png: Bytes,
    pub width: u32,
    pub height: u32,
    pub model: String,
}

#[async_trait]
pub trait ImageGenerator: Send + Sync {
    async fn generate(&self, request: ImageRequest) -> Result<GeneratedImage, ModelError>;
}

// ---------------------------------------------------------------------------------------------
// Presigner

/// The policy of a presigned POST upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// The exact key the client must upload to.
    pub key: String,
    /// Allowed `Content-Type`s (`image/jpeg`, `image/png`, `image/heic`, …).
    pub content_types: Vec<String>,
    /// `content-length-range` upper bound.
    pub max_bytes: u64,
    pub expires_in: Duration,
}

/// A presigned POST: the client posts multipart `fields` + `file` to `url`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// Names the fields but shows none of their values: the signature, and on AWS the credential
/// and the session token, are what let anyone upload.
impl std::fmt::Debug for PresignedPost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresignedPost")
            .field("url", &self.url)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresignError {
    #[error("cannot presign: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Presigner: Send + Sync {
    async fn presign_post(&self, policy: PostPolicy) -> Result<PresignedPost, PresignError>;
    /// A URL that GETs `key` until `expires_in` has passed.
    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, PresignError>;
}

// ---------------------------------------------------------------------------------------------
// JobQueue

/// The SQS message that starts a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job_id: Uuid,
    pub s3_upload_key: String,
    pub timestamp: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue error: {0}")]
    Other(String),
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn send(&self, message: JobMessage) -> Result<(), QueueError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presigned_post_debugs_without_its_secrets() {
        let mut fields = BTreeMap::new();
        fields.insert("x-amz-signature".to_owned(), "5ec7e7516a7".to_owned());
        fields.insert("x-amz-security-token".to_owned(), "T0KEN".to_owned());
        let post = PresignedPost {
            url: "https://bucket.example/".to_owned(),
            fields,
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let shown = format!("{post:?}");
        assert!(shown.contains("x-amz-signature"), "{shown}");
        assert!(
            !shown.contains("5ec7e7516a7") && !shown.contains("T0KEN"),
            "{shown}"
        );
    }
}
