//! `steps::ports::JobQueue` over the SQLite queue. Messages are deduplicated by job id
//! (as an SQS FIFO queue does with `MessageDeduplicationId`), so the S3-event path and
//! `POST /process` firing for one upload put one message on the queue.

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use steps::ports::{JobMessage, JobQueue, QueueError};

use crate::queue::SqliteQueue;

/// SQS FIFO's deduplication interval.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct LocalJobQueue {
    pub queue: SqliteQueue,
}

#[async_trait]
impl JobQueue for LocalJobQueue {
    async fn send(&self, message: JobMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(&message).map_err(|e| QueueError::Other(e.to_string()))?;
        let queue = self.queue.clone();
        let dedup_id = message.job_id.to_string();
        let (message_id, enqueued) = tokio::task::spawn_blocking(move || {
            queue.send_deduplicated(&body, &dedup_id, DEDUP_WINDOW, Utc::now())
        })
        .await
        .map_err(|e| QueueError::Other(e.to_string()))?
        .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        tracing::info!(job_id = %message.job_id, message_id, enqueued, "job message sent");
        Ok(())
    }
}
