//! The worker: what the SQS-triggered Lambda does on AWS. It receives job messages and
//! starts one execution per job, idempotently (execution name = job id, deterministic
//! input; an execution that already exists counts as started). A message is deleted once
//! its execution exists; on a transient error it is left alone and comes back after the
//! visibility timeout, and after three receives it goes to the dead-letter queue.
//!
//! The reconciler plays the EventBridge rule on Step Functions status changes: a job whose
//! execution timed out or was aborted (so `RecordFailure` never ran) is marked failed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use statemachine::{Engine, EngineError, ExecutionStatus, ExecutionStatusChange};
use steps::ports::{JobMessage, JobStore, JobStoreError};
use steps::{JobError, JobStatus};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::queue::{QueueError, ReceivedMessage, SqliteQueue};
use crate::{emf, runtime};

/// How long a received message stays invisible (the SQS queue's visibility timeout).
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages per receive (the Lambda event source's batch size).
pub const BATCH_SIZE: usize = 10;

#[derive(Clone)]
pub struct Worker {
    pub queue: SqliteQueue,
    pub engine: Engine,
    pub state_machine_arn: String,
    pub jobs: Arc<dyn JobStore>,
    pub visibility_timeout: Duration,
    pub poll_interval: Duration,
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started {
        job_id: Uuid,
        already_existed: bool,
    },
    /// Left on the queue: it comes back after the visibility timeout.
    Retry(String),
}

impl Worker {
    /// Receives and handles messages until the task is dropped.
    pub async fn run(self) {
        loop {
            match self.poll_once().await {
                Ok(0) => tokio::time::sleep(self.poll_interval).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot receive from the queue");
                    tokio::time::sleep(self.poll_interval).await;
                }
            }
        }
    }

    /// One ReceiveMessage and its batch; returns how many messages were received.
    pub async fn poll_once(&self) -> Result<usize, QueueError> {
        let queue = self.queue.clone();
        let visibility = self.visibility_timeout;
        let messages =
            tokio::task::spawn_blocking(move || queue.receive(BATCH_SIZE, visibility, Utc::now()))
                .await
                .map_err(|e| {
                    QueueError::Sqlite(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
                })??;
        let received = messages.len();
        for message in messages {
            let outcome = self.handle(&message).await;
            if let Outcome::Started { .. } = outcome
                && let Err(e) = self.queue.delete(&message.receipt_handle)
            {
                tracing::warn!(message_id = message.message_id, error = %e, "cannot delete a handled message");
            }
        }
        Ok(received)
    }

    /// Starts the execution of one message's job.
    pub async fn handle(&self, message: &ReceivedMessage) -> Outcome {
        let job_message: JobMessage = match serde_json::from_str(&message.body) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(message_id = message.message_id, error = %e, "malformed job message; it will go to the dead-letter queue");
                return Outcome::Retry(format!("malformed message: {e}"));
            }
        };
        let job_id = job_message.job_id;
        let span =
            tracing::info_span!("worker", job_id = %job_id, receive_count = message.receive_count);
        let _entered = span.enter();
        let job = match self.jobs.get(job_id).await {
            Ok(job) => job,
            Err(JobStoreError::NotFound(_)) => {
                tracing::error!("message for an unknown job");
                return Outcome::Retry("unknown job".into());
            }
            Err(e) => return Outcome::Retry(format!("job store: {e}")),
        };
        let input = runtime::execution_input(job_id, &job.upload_key, None);
        let name = job_id.to_string();
        let started = self
            .engine
            .start_execution(&self.state_machine_arn, Some(&name), input)
            .await;
        let (execution_arn, already_existed) = match started {
            Ok(s) => (s.execution_arn, s.already_existed),
            Err(EngineError::ExecutionAlreadyExists(_)) => (
                format!(
                    "{}:{name}",
                    self.state_machine_arn
                        .replace(":stateMachine:", ":execution:")
                ),
                true,
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the execution; the message will be redelivered");
                return Outcome::Retry(e.to_string());
            }
        };
        if let Err(e) = self.jobs.set_execution_arn(job_id, &execution_arn).await {
            tracing::warn!(error = %e, "cannot record the execution on the job");
        }
        if already_existed {
            tracing::info!(
                execution_arn,
                "execution already exists; message acknowledged"
            );
        } else {
            tracing::info!(execution_arn, "execution started");
            emf::job_event("JobsStarted", &name);
        }
        Outcome::Started {
            job_id,
            already_existed,
        }
    }
}

/// Marks the job of a finished execution failed if the pipeline could not (timeout, abort,
/// a failure that bypassed RecordFailure), and counts completed and failed jobs.
pub async fn reconcile(jobs: &dyn JobStore, change: &ExecutionStatusChange) {
    let Ok(job_id) = Uuid::parse_str(&change.name) else {
        return;
    };
    let span = tracing::info_span!("reconciler", job_id = %job_id, status = change.status.as_str());
    let _entered = span.enter();
    if change.status == ExecutionStatus::Running {
        return;
    }
    let job = match jobs.get(job_id).await {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(error = %e, "no job for the execution");
            return;
        }
    };
    if job.status.is_terminal() {
        return;
    }
    let error = match change.status {
        ExecutionStatus::TimedOut => JobError {
            code: "States.Timeout".into(),
            message: "the execution timed out".into(),
        },
        ExecutionStatus::Aborted => JobError {
            code: "States.Aborted".into(),
            message: "the execution was stopped by an operator".into(),
        },
        _ => JobError {
            code: change
                .error
                .clone()
                .unwrap_or_else(|| "States.Runtime".into()),
            message: change
                .cause
                .clone()
                .unwrap_or_else(|| format!("the execution ended {}", change.status)),
        },
    };
    match jobs.fail(job_id, error).await {
        Ok(_) => tracing::warn!(
            "job marked failed after its execution ended {}",
            change.status
        ),
        Err(JobStoreError::Conflict { current, .. }) if current != JobStatus::Processing => {}
        Err(e) => tracing::error!(error = %e, "cannot mark the job failed"),
    }
}

/// Follows the engine's status changes for as long as the engine runs.
pub async fn run_reconciler(engine: Engine, jobs: Arc<dyn JobStore>) {
    let mut changes = engine.subscribe();
    loop {
        match changes.recv().await {
            Ok(change) => {
                match change.status {
                    ExecutionStatus::Running => {}
                    ExecutionStatus::Succeeded => emf::job_event("JobsCompleted", &change.name),
                    _ => emf::job_event("JobsFailed", &change.name),
                }
                reconcile(jobs.as_ref(), &change).await;
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "reconciler lagged; catching up from the history");
                reconcile_finished(&engine, jobs.as_ref()).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// At start-up (and after a lag): every finished execution whose job is not terminal.
pub async fn reconcile_finished(engine: &Engine, jobs: &dyn JobStore) {
    let executions = match engine.list_executions(None) {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "cannot list executions");
            return;
        }
    };
    for execution in executions.into_iter().filter(|e| e.status.is_terminal()) {
        let Ok(job_id) = Uuid::parse_str(&execution.name) else {
            continue;
        };
        if jobs
            .get(job_id)
            .await
            .map(|j| j.status.is_terminal())
            .unwrap_or(true)
        {
            continue;
        }
        let change = ExecutionStatusChange {
            execution_arn: execution.execution_arn,
            state_machine_arn: execution.state_machine_arn,
            name: execution.name,
            status: execution.status,
            start_date: execution.start_date,
            stop_date: execution.stop_date,
            output: execution.output,
            error: execution.error,
            cause: execution.cause,
        };
        reconcile(jobs, &change).await;
    }
}
