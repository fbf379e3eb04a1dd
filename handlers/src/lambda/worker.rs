//! The SQS worker: each job message starts the pipeline, `StartExecution(name = job_id)` with the
//! deterministic input `{job_id, bucket, key, species_hint}`. `ExecutionAlreadyExists` counts as
//! success (a redelivery, or the S3 event and `POST /process` both queued the job). Failures are
//! reported per message (`batchItemFailures`), so one bad message does not send its batch-mates
//! back: temporary ones (throttling, 5xx) come back after the visibility timeout; permanent ones
//! come back too. A message that fails on its last receive (`ApproximateReceiveCount` has
//! reached the queue's `maxReceiveCount`) goes on to the dead-letter queue, where an operator
//! sees it; its job is failed first (`PetAvatar.NotStarted`, as `petavatar`'s worker does), so
//! that it does not stay `queued` for ever.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use steps::ports::{JobMessage, JobStore, JobStoreError};
use tracing::Instrument;
use uuid::Uuid;

use crate::sfn::{ExecutionInput, PipelineStarter, StartError, Started};
use crate::wiring;
use telemetry::emf::{self, JobEvent};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started(Started),
    /// The job already ended (completed, failed, reconciled): nothing to start.
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
    /// The execution runs, but the job does not name it yet: a redelivery records it.
    #[error("execution {execution_arn} started, but the job does not record it: {reason}")]
    NotRecorded {
        execution_arn: String,
        reason: String,
    },
}

impl WorkError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WorkError::Transient(_) | WorkError::NotRecorded { .. }
        )
    }

    /// Whether the job's execution may not exist: only then may giving up fail the job.
    pub fn execution_may_be_missing(&self) -> bool {
        !matches!(self, WorkError::NotRecorded { .. })
    }
}

impl From<JobStoreError> for WorkError {
    fn from(e: JobStoreError) -> Self {
        match e {
            JobStoreError::Unavailable(m) => WorkError::Transient(m),
            other => WorkError::Permanent(other.to_string()),
        }
    }
}

impl From<StartError> for WorkError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Transient(m) => WorkError::Transient(m),
            StartError::Permanent(m) => WorkError::Permanent(m),
        }
    }
}

pub struct Worker<'a> {
    pub jobs: &'a dyn JobStore,
    pub starter: &'a PipelineStarter,
    pub uploads_bucket: &'a str,
    /// The queue's `maxReceiveCount`: a message that fails on this receive is not delivered
    /// again but moved to the dead-letter queue.
    pub max_receive_count: u32,
}

/// Whether a failure on this receive sends the message to the dead-letter queue. Without the
/// count (an event from elsewhere than the queue), never: the job stays as it is.
pub fn is_last_receive(receive_count: Option<u32>, max_receive_count: u32) -> bool {
    receive_count.is_some_and(|count| count >= max_receive_count)
}

/// How many times SQS has delivered `message` (the event source passes the
/// `ApproximateReceiveCount` attribute), if it says.
pub fn receive_count(message: &SqsMessage) -> Option<u32> {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
}

impl Worker<'_> {
    /// Handles a batch; the response names the messages to redeliver.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results =
            futures::future::join_all(event.records.iter().map(|m| self.handle_message(m))).await;
        let mut response = SqsBatchResponse::default();
        for (message, result) in event.records.iter().zip(results) {
            if let Err(error) = result {
                // A message without an id cannot be named; failing the whole batch is the only
                // way to get it back, and Lambda does that when the id is empty.
                response.add_failure(message.message_id.clone().unwrap_or_default());
                tracing::debug!(error = %error, "message left for redelivery");
            }
        }
        response
    }

    async fn handle_message(&self, message: &SqsMessage) -> Result<Outcome, WorkError> {
        let body = message.body.as_deref().unwrap_or_default();
        let parsed: JobMessage = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(message_id = ?message.message_id, error = %e, "malformed job message");
                return Err(WorkError::Permanent(format!("malformed job message: {e}")));
            }
        };
        let receive_count = receive_count(message);
        let span = tracing::info_span!("job_message", job_id = %parsed.job_id, message_id = ?message.message_id, receive_count);
        async move {
            let result = self.start(&parsed).await;
            match &result {
                Ok(Outcome::Started(Started::New { execution_arn })) => {
                    tracing::info!(%execution_arn, "pipeline started");
                }
                Ok(Outcome::Started(Started::AlreadyExisted { execution_arn })) => {
                    tracing::info!(%execution_arn, "pipeline already started for this job");
                }
                Ok(Outcome::Skipped(why)) => tracing::info!(why, "message skipped"),
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "could not start; will retry")
                }
                Err(e) => tracing::error!(error = %e, "could not start"),
            }
            if let Err(e) = &result
                && e.execution_may_be_missing()
                && self.is_last_receive(receive_count)
            {
                self.give_up(parsed.job_id, e).await;
            }
            result
        }
        .instrument(span)
        .await
    }

    fn is_last_receive(&self, receive_count: Option<u32>) -> bool {
        is_last_receive(receive_count, self.max_receive_count)
    }

    /// The message's last receive failed too: the message goes to the dead-letter queue for an
    /// operator, and the job says so instead of staying `queued` for ever. A job that has ended
    /// meanwhile keeps its end (the store refuses to leave a terminal status).
    async fn give_up(&self, job_id: Uuid, error: &WorkError) {
        let reason = error.to_string();
        match self.starter.execution_exists(job_id).await {
            Ok(false) => {}
            Ok(true) => {
                tracing::warn!(
                    reason,
                    "giving up on the job's message; its execution exists, so the job is left to it"
                );
                return;
            }
            Err(e) => {
                tracing::error!(reason, error = %e, "giving up on the job's message; cannot tell whether its execution exists, so the job is left as it is");
                return;
            }
        }
        match self
            .jobs
            .fail(job_id, api::not_started(self.max_receive_count, &reason))
            .await
        {
            Ok(_) => {
                emf::job_event(JobEvent::Failed, &job_id.to_string());
                tracing::error!(reason, "job failed: its execution could not be started");
            }
            Err(JobStoreError::Conflict { current, .. }) => {
                tracing::info!(%current, "giving up on the job's message; the job has ended already");
            }
            Err(JobStoreError::NotFound(_)) => {
                tracing::warn!("giving up on a message for a job that does not exist");
            }
            Err(e) => {
                tracing::error!(error = %e, reason, "giving up on the job's message; cannot mark the job failed");
            }
        }
    }

    async fn start(&self, message: &JobMessage) -> Result<Outcome, WorkError> {
        let job = self.jobs.get(message.job_id).await?;
        if job.status.is_terminal() {
            return Ok(Outcome::Skipped(format!("job is {}", job.status)));
        }
        let input = ExecutionInput {
            job_id: job.job_id,
            bucket: self.uploads_bucket.to_owned(),
            // The job record, not the message, is the source of truth for the key: the input
            // must be the same whichever message starts the job.
            key: job.upload_key.clone(),
            species_hint: None,
        };
        let started = self.starter.start(&input).await?;
        if matches!(started, Started::New { .. }) && job.execution_arn.is_none() {
            emf::job_event(JobEvent::Started, &job.job_id.to_string());
        }
        if job.execution_arn.as_deref() != Some(started.execution_arn()) {
            self.jobs
                .set_execution_arn(job.job_id, started.execution_arn())
                .await
                .map_err(|e| WorkError::NotRecorded {
                    execution_arn: started.execution_arn().to_owned(),
                    reason: e.to_string(),
                })?;
        }
        Ok(Outcome::Started(started))
    }
}

/// The main of the sqs-worker binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let jobs = wiring::job_store(&clients, &settings)?;
    let starter = PipelineStarter::new(clients.sfn(), settings.state_machine_arn()?);
    let worker = Worker {
        jobs: jobs.as_ref(),
        starter: &starter,
        uploads_bucket: settings.uploads_bucket()?,
        max_receive_count: settings.jobs_max_receive_count,
    };
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Diagnostic>(worker.handle(event.payload).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(attributes: serde_json::Value) -> SqsMessage {
        serde_json::from_value(serde_json::json!({
            "messageId": "m1", "body": "{}", "attributes": attributes, "messageAttributes": {}
        }))
        .unwrap()
    }

    #[test]
    fn the_receive_count_comes_from_the_message_attributes() {
        assert_eq!(
            receive_count(&message(
                serde_json::json!({"ApproximateReceiveCount": "3"})
            )),
            Some(3)
        );
        assert_eq!(receive_count(&message(serde_json::json!({}))), None);
        assert_eq!(
            receive_count(&message(
                serde_json::json!({"ApproximateReceiveCount": "x"})
            )),
            None
        );
    }

    #[test]
    fn only_the_receive_at_the_limit_and_beyond_is_the_last() {
        assert!(!is_last_receive(Some(1), 3));
        assert!(!is_last_receive(Some(2), 3));
        assert!(is_last_receive(Some(3), 3));
        assert!(is_last_receive(Some(4), 3));
        assert!(!is_last_receive(None, 3), "no count, no giving up");
    }

    #[test]
    fn a_started_but_unrecorded_execution_is_not_given_up() {
        let unrecorded = WorkError::NotRecorded {
            execution_arn: "arn".into(),
            reason: "throttled".into(),
        };
        assert!(unrecorded.is_transient());
        assert!(!unrecorded.execution_may_be_missing());
        assert!(WorkError::Permanent("no machine".into()).execution_may_be_missing());
        assert!(WorkError::Transient("throttled".into()).execution_may_be_missing());
    }
}
