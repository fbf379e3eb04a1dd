//! Queuing a job for processing: shared by `POST /process` and the S3-event path, so that
//! both behave the same. A job is queued only while it is `queued`; the queue message is
//! `{job_id, s3_upload_key, timestamp}`. Both paths may race and send twice: the worker
//! starts the execution with `name = job_id` and a deterministic input, so the second
//! message finds the execution already there and yields no second run.
//!
//! The other end of the queue, shared by both workers (`petavatar`'s and the SQS Lambda): a
//! job whose execution could not be started by the message's last receive fails with
//! [`not_started`], rather than staying `queued` for ever while its message sits in the
//! dead-letter queue.

use chrono::{DateTime, Utc};
use steps::JobStatus;
use steps::ports::{JobMessage, JobQueue, JobStore, JobStoreError, QueueError};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("job {0} not found")]
    JobNotFound(Uuid),
    #[error("{key} is not the upload of job {job_id}")]
    WrongKey { job_id: Uuid, key: String },
    #[error(transparent)]
    Store(JobStoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub use steps::lifecycle::{NOT_STARTED, not_started};

/// Queues `job_id` if it is still `queued` and returns its status.
pub async fn submit_upload(
    jobs: &dyn JobStore,
    queue: &dyn JobQueue,
    job_id: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<JobStatus, SubmitError> {
    let job = jobs.get(job_id).await.map_err(|e| match e {
        JobStoreError::NotFound(id) => SubmitError::JobNotFound(id),
        other => SubmitError::Store(other),
    })?;
    if job.upload_key != key {
        return Err(SubmitError::WrongKey {
            job_id,
            key: key.to_owned(),
        });
    }
    if job.status == JobStatus::Queued {
        queue
            .send(JobMessage {
                job_id,
                s3_upload_key: job.upload_key.clone(),
                timestamp: now,
            })
            .await?;
        tracing::info!(%job_id, key, "job queued");
    } else {
        tracing::info!(%job_id, status = %job.status, "job already past the queue; not queued again");
    }
    Ok(job.status)
}
