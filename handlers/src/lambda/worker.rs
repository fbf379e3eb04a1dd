//! The SQS worker: each job message starts the pipeline, `StartExecution(name = job_id)` with the
//! deterministic input `{job_id, bucket, key, species_hint}`. `ExecutionAlreadyExists` counts as
//! success (a redelivery, or the S3 event and `POST /process` both queued the job). Failures are
//! reported per message (`batchItemFailures`), so one bad message does not send its batch-mates
//! back: temporary ones (throttling, 5xx) come back after the visibility timeout; permanent ones
//! come back too and reach the dead-letter queue after the third receive, where an operator sees
//! them.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use steps::ports::{JobMessage, JobStore, JobStoreError};
use tracing::Instrument;

use crate::config::Settings;
use crate::sfn::{ExecutionInput, PipelineStarter, StartError, Started};
use crate::telemetry;
use crate::wiring::{self, Clients};

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
}

impl WorkError {
    pub fn is_transient(&self) -> bool {
        matches!(self, WorkError::Transient(_))
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
        let span = tracing::info_span!("job_message", job_id = %parsed.job_id, message_id = ?message.message_id);
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
            result
        }
        .instrument(span)
        .await
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
        if job.execution_arn.as_deref() != Some(started.execution_arn()) {
            self.jobs
                .set_execution_arn(job.job_id, started.execution_arn())
                .await?;
        }
        Ok(Outcome::Started(started))
    }
}

/// The main of the sqs-worker binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let settings = Settings::from_env()?;
    let sdk = wiring::load_aws_config().await;
    let clients = Clients::new(&sdk, &settings);
    let jobs = wiring::job_store(&clients, &settings)?;
    let starter = PipelineStarter::new(clients.sfn(), settings.state_machine_arn()?);
    let worker = Worker {
        jobs: jobs.as_ref(),
        starter: &starter,
        uploads_bucket: settings.uploads_bucket()?,
    };
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Diagnostic>(worker.handle(event.payload).await)
    }))
    .await
}
