//! SQS behind `steps::ports::JobQueue`: the job queue whose messages the worker turns into
//! executions. The body is the `JobMessage` JSON `{job_id, s3_upload_key, timestamp}`.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use steps::ports::{JobMessage, JobQueue, QueueError};

use crate::aws_error::{Failure, classify};

#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send(&self, message: JobMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(&message)
            .map_err(|e| QueueError::Other(format!("cannot serialise the message: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| match classify(&e) {
                Failure::Transient(m) => QueueError::Unavailable(m),
                Failure::Permanent { message, .. } => QueueError::Other(message),
            })?;
        tracing::debug!(job_id = %message.job_id, "job message sent");
        Ok(())
    }
}
