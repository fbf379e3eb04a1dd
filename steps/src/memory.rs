//! In-memory `ObjectStore` and `JobStore`: for tests, and the reference semantics that every
//! other adapter (SQLite, filesystem, S3, DynamoDB) must match.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Job, JobError, JobResults, JobStatus, Stage};
use crate::ports::{JobStore, JobStoreError, ObjectMeta, ObjectStore, ObjectStoreError};

/// A source of "now" for `updated_at`, injectable for tests.
pub type ClockFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still consistent
    // because every mutation below is a single assignment.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct InMemoryObjectStore {
    objects: Mutex<HashMap<String, (Bytes, String)>>,
}

impl InMemoryObjectStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys currently stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.objects).keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl ObjectStore for InMemoryObjectStore {
    async fn get(&self, key: &str) -> Result<Bytes, ObjectStoreError> {
        lock(&self.objects)
            .get(key)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| ObjectStoreError::NotFound(key.to_string()))
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), ObjectStoreError> {
        lock(&self.objects).insert(key.to_string(), (body, content_type.to_string()));
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, ObjectStoreError> {
        lock(&self.objects)
            .get(key)
            .map(|(b, ct)| ObjectMeta {
                key: key.to_string(),
                size: b.len() as u64,
                content_type: Some(ct.clone()),
            })
            .ok_or_else(|| ObjectStoreError::NotFound(key.to_string()))
    }
}

pub struct InMemoryJobStore {
    jobs: Mutex<HashMap<Uuid, Job>>,
    clock: ClockFn,
}

impl Default for InMemoryJobStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryJobStore {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(Utc::now))
    }

    pub fn with_clock(clock: ClockFn) -> Self {
        InMemoryJobStore {
            jobs: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Apply `change` to the job if its status may move to `target`; the single place where the
    /// conditional-write rule lives.
    fn update(
        &self,
        job_id: Uuid,
        target: JobStatus,
        attempted: &str,
        change: impl FnOnce(&mut Job),
    ) -> Result<Job, JobStoreError> {
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(&job_id)
            .ok_or(JobStoreError::NotFound(job_id))?;
        check_transition(job, target, attempted)?;
        change(job);
        job.status = target;
        job.updated_at = (self.clock)();
        Ok(job.clone())
    }
}

/// The conditional-write rule: status never moves backwards and never leaves a terminal state.
/// Repeating a terminal write (`complete` on a completed job) is also refused, so a caller can
/// tell "I did it" from "it was already done" and decide (the stages treat it as done).
pub fn check_transition(
    job: &Job,
    target: JobStatus,
    attempted: &str,
) -> Result<(), JobStoreError> {
    if job.status.is_terminal() || !job.status.can_move_to(target) {
        return Err(JobStoreError::Conflict {
            job_id: job.job_id,
            current: job.status,
            attempted: attempted.to_string(),
        });
    }
    Ok(())
}

/// Progress and stage after `advance`: progress keeps the larger value; the stage follows it, so
/// the two parallel branches may report in either order.
pub fn advanced_progress(job: &Job, stage: Stage, progress: u8) -> (Stage, u8) {
    let progress = progress.min(100);
    if progress >= job.progress {
        (stage, progress)
    } else {
        (job.stage, job.progress)
    }
}

#[async_trait]
impl JobStore for InMemoryJobStore {
    async fn create(&self, job: Job) -> Result<(), JobStoreError> {
        let mut jobs = lock(&self.jobs);
        if jobs.contains_key(&job.job_id) {
            return Err(JobStoreError::AlreadyExists(job.job_id));
        }
        jobs.insert(job.job_id, job);
        Ok(())
    }

    async fn get(&self, job_id: Uuid) -> Result<Job, JobStoreError> {
        lock(&self.jobs)
            .get(&job_id)
            .cloned()
            .ok_or(JobStoreError::NotFound(job_id))
    }

    async fn advance(
        &self,
        job_id: Uuid,
        stage: Stage,
        progress: u8,
    ) -> Result<Job, JobStoreError> {
        self.update(
            job_id,
            JobStatus::Processing,
            &format!("advance to {stage}"),
            |job| {
                let (stage, progress) = advanced_progress(job, stage, progress);
                job.stage = stage;
                job.progress = progress;
            },
        )
    }

    async fn complete(&self, job_id: Uuid, results: JobResults) -> Result<Job, JobStoreError> {
        self.update(job_id, JobStatus::Completed, "complete", |job| {
            job.stage = Stage::Completed;
            job.progress = 100;
            job.avatar_key = Some(results.avatar_key);
            job.identity_package = Some(results.identity_package);
            job.pet_analysis = Some(results.pet_analysis);
            job.career_profile = Some(results.career_profile);
            job.error = None;
        })
    }

    async fn fail(&self, job_id: Uuid, error: JobError) -> Result<Job, JobStoreError> {
        // The stage stays where the job failed: an operator wants to know which stage it was.
        self.update(job_id, JobStatus::Failed, "fail", |job| {
            job.error = Some(error);
        })
    }

    async fn set_execution_arn(
        &self,
        job_id: Uuid,
        execution_arn: &str,
    ) -> Result<Job, JobStoreError> {
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(&job_id)
            .ok_or(JobStoreError::NotFound(job_id))?;
        job.execution_arn = Some(execution_arn.to_string());
        job.updated_at = (self.clock)();
        Ok(job.clone())
    }
}
