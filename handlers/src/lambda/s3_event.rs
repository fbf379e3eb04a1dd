//! S3 `ObjectCreated` under `uploads/` → the job queue, without `POST /process`. The same path as
//! the API (`api::submit_upload`): the job must exist and still be `queued`; a duplicate with
//! `POST /process` is harmless (the worker's StartExecution is idempotent per job).

use aws_lambda_events::event::s3::S3Event;
use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use steps::ports::{JobQueue, JobStore, JobStoreError};
use tracing::Instrument;

use super::transient_diagnostic;
use crate::sqs::SqsJobQueue;
use crate::wiring;

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Queued,
    /// The job is past `queued` already (`POST /process` was first, or a retry).
    AlreadyUnderway,
    /// Not an upload key, another bucket, no such job: nothing to do, and retrying will not help.
    Ignored(String),
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// S3 event keys are URL-encoded form values (`+` for a space).
pub fn decode_key(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => {
                hex_value(hi).zip(hex_value(lo)).map(|(h, l)| h * 16 + l)
            }
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct S3EventHandler<'a> {
    pub jobs: &'a dyn JobStore,
    pub queue: &'a dyn JobQueue,
    pub uploads_bucket: &'a str,
}

impl S3EventHandler<'_> {
    /// Handles every record; a temporary failure fails the invocation so Lambda retries the
    /// event (asynchronous invocation: twice, then the failure destination).
    pub async fn handle(&self, event: S3Event) -> Result<Vec<Outcome>, Diagnostic> {
        let mut outcomes = Vec::with_capacity(event.records.len());
        for record in event.records {
            let bucket = record.s3.bucket.name.unwrap_or_default();
            let key = decode_key(record.s3.object.key.as_deref().unwrap_or_default());
            outcomes.push(self.handle_object(&bucket, &key).await?);
        }
        Ok(outcomes)
    }

    async fn handle_object(&self, bucket: &str, key: &str) -> Result<Outcome, Diagnostic> {
        if bucket != self.uploads_bucket {
            return Ok(Outcome::Ignored(format!("object in bucket {bucket}")));
        }
        let Ok(job_id) = api::validate::parse_upload_key(key) else {
            return Ok(Outcome::Ignored(format!("{key} is not an upload key")));
        };
        let span = tracing::info_span!("s3_event", job_id = %job_id, key);
        async move {
            match api::submit_upload(self.jobs, self.queue, job_id, key, Utc::now()).await {
                Ok(steps::JobStatus::Queued) => Ok(Outcome::Queued),
                Ok(status) => {
                    tracing::info!(%status, "upload event for a job already underway");
                    Ok(Outcome::AlreadyUnderway)
                }
                Err(api::SubmitError::JobNotFound(_)) => {
                    tracing::warn!("upload without a job record; ignored");
                    Ok(Outcome::Ignored(format!("no job {job_id}")))
                }
                Err(api::SubmitError::WrongKey { .. }) => {
                    tracing::warn!("upload under another key than the job's; ignored");
                    Ok(Outcome::Ignored(format!(
                        "{key} is not the upload of job {job_id}"
                    )))
                }
                Err(api::SubmitError::Store(JobStoreError::Unavailable(m))) => {
                    Err(transient_diagnostic(m))
                }
                Err(api::SubmitError::Queue(steps::ports::QueueError::Unavailable(m))) => {
                    Err(transient_diagnostic(m))
                }
                Err(other) => {
                    tracing::error!(error = %other, "cannot queue the upload");
                    Err(super::internal_diagnostic(other.to_string()))
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// The main of the s3-event binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let jobs = wiring::job_store(&clients, &settings)?;
    let queue = SqsJobQueue::new(clients.sqs(), settings.jobs_queue_url()?);
    let handler = S3EventHandler {
        jobs: jobs.as_ref(),
        queue: &queue,
        uploads_bucket: settings.uploads_bucket()?,
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let outcomes = handler.handle(event.payload).await?;
        Ok::<_, Diagnostic>(serde_json::json!({ "records": outcomes.len(), "queued": outcomes.iter().filter(|o| **o == Outcome::Queued).count() }))
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("uploads/a%2Fb/original.png"),
            "uploads/a/b/original.png"
        );
        assert_eq!(decode_key("a+b"), "a b");
        assert_eq!(decode_key("100%"), "100%");
        assert_eq!(decode_key("%zz"), "%zz");
    }
}
