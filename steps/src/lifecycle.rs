//! A job's life around its execution, written once for both runtimes: starting the pipeline
//! for a queued job (execution name = job id, deterministic input, so a second start finds the
//! first), giving up on a message on its last receive, and reconciling an execution that ended
//! without its job being told (timed out, aborted, failed past RecordFailure).
//!
//! The runtimes are adapters: the local worker drives the embedded engine through
//! [`PipelineStarter`] and feeds the engine's status changes to [`reconcile`]; on AWS the
//! sqs-worker Lambda drives Step Functions and the reconciler Lambda feeds EventBridge's
//! "Execution Status Change" events. Each converts its own status record into an
//! [`ExecutionEnd`]; what that end does to the job is decided here alone ([`job_error_for`]).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

use crate::ports::{JobStore, JobStoreError};
use crate::{ErrorPayload, Job, JobError, JobStatus};
use telemetry::emf::{self, JobEvent};

/// The error code of a job whose execution could not be started, even after the retries.
pub const NOT_STARTED: &str = "PetAvatar.NotStarted";
/// The error code of a job whose execution an operator stopped.
pub const ABORTED: &str = "PetAvatar.Aborted";
/// The error code of a job whose execution ran past its `TimeoutSeconds`.
pub const TIMED_OUT: &str = "States.Timeout";
/// The error code of a job whose execution failed without naming an error.
pub const FAILED_UNNAMED: &str = "States.TaskFailed";

/// The execution input (docs/ARCHITECTURE.md: "State machine input and output").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub job_id: Uuid,
    pub bucket: String,
    pub key: String,
    pub species_hint: Option<String>,
}

impl ExecutionInput {
    /// The input for `job`. The job record, not the message that named it, is the source of
    /// truth for the key: the input must be the same whichever message starts the job.
    pub fn for_job(job: &Job, bucket: &str) -> Self {
        Self {
            job_id: job.job_id,
            bucket: bucket.to_owned(),
            key: job.upload_key.clone(),
            species_hint: None,
        }
    }

    /// The JSON text of the input. Field order is fixed by the struct, so the same job always
    /// produces byte-identical input (Step Functions compares inputs for idempotency).
    pub fn to_json(&self) -> Result<String, StartError> {
        serde_json::to_string(self)
            .map_err(|e| StartError::Permanent(format!("cannot serialise the input: {e}")))
    }

    /// The input as a JSON value, for an engine that takes one. Serialising plain strings and a
    /// uuid cannot fail; `Null` stands for the impossible.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The execution's name: its job's id.
    pub fn execution_name(&self) -> String {
        self.job_id.to_string()
    }
}

/// The ARN of the execution `name` of a standard state machine:
/// `arn:aws:states:r:a:stateMachine:M` → `arn:aws:states:r:a:execution:M:name`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new execution (or, for an identical running one, the same ARN again).
    New { execution_arn: String },
    /// `ExecutionAlreadyExists`: the job's execution was started before. Counts as success.
    AlreadyExisted { execution_arn: String },
}

impl Started {
    pub fn execution_arn(&self) -> &str {
        match self {
            Started::New { execution_arn } | Started::AlreadyExisted { execution_arn } => {
                execution_arn
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Throttled, a 5xx, the execution limit: leave the message for redelivery.
    #[error("start execution: temporary failure: {0}")]
    Transient(String),
    #[error("start execution: {0}")]
    Permanent(String),
}

/// Starts the pipeline: Step Functions on AWS, the embedded engine locally.
#[async_trait]
pub trait PipelineStarter: Send + Sync {
    /// StartExecution with name = job id; an execution of that name that exists already is
    /// [`Started::AlreadyExisted`], not an error.
    async fn start(&self, input: &ExecutionInput) -> Result<Started, StartError>;
    /// Whether the job's execution exists: a worker giving up on a message fails the job only
    /// if it does not, since an earlier receive may have started it.
    async fn execution_exists(&self, job_id: Uuid) -> Result<bool, StartError>;
}

/// What became of one delivery of a job message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    Started(Started),
    /// The job already ended (completed, failed, reconciled): nothing to start.
    Skipped(String),
}

/// Why a delivery did not start its job; the message is left for redelivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartJobError {
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

impl StartJobError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StartJobError::Transient(_) | StartJobError::NotRecorded { .. }
        )
    }

    /// Whether the job's execution may not exist: only then may giving up fail the job.
    pub fn execution_may_be_missing(&self) -> bool {
        !matches!(self, StartJobError::NotRecorded { .. })
    }
}

impl From<JobStoreError> for StartJobError {
    fn from(e: JobStoreError) -> Self {
        match e {
            JobStoreError::Unavailable(m) => StartJobError::Transient(m),
            other => StartJobError::Permanent(other.to_string()),
        }
    }
}

impl From<StartError> for StartJobError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Transient(m) => StartJobError::Transient(m),
            StartError::Permanent(m) => StartJobError::Permanent(m),
        }
    }
}

/// Whether a failure on this receive sends the message to the dead-letter queue. Without the
/// count (an event from elsewhere than the queue), never: the job stays as it is.
pub fn is_last_receive(receive_count: Option<u32>, max_receive_count: u32) -> bool {
    receive_count.is_some_and(|count| count >= max_receive_count)
}

/// The error of a job whose message was received `attempts` times without its execution
/// starting; `reason` is the last failure.
pub fn not_started(attempts: u32, reason: &str) -> JobError {
    JobError {
        code: NOT_STARTED.to_owned(),
        message: format!("the pipeline could not be started after {attempts} attempts: {reason}"),
    }
}

/// Starts the jobs that messages name, over a job store and a pipeline starter.
pub struct JobStarter<'a> {
    pub jobs: &'a dyn JobStore,
    pub starter: &'a dyn PipelineStarter,
    pub uploads_bucket: &'a str,
    /// The queue's `maxReceiveCount`: a message that fails on this receive is not delivered
    /// again but moved to the dead-letter queue.
    pub max_receive_count: u32,
}

impl JobStarter<'_> {
    /// One delivery of the message for `job_id`: starts the job's execution, idempotently. When
    /// this was the message's last receive and it failed too, the job is failed
    /// ([`NOT_STARTED`]) so that it does not stay `queued` for ever — unless its execution
    /// exists (an earlier receive started it and only the acknowledgement was lost).
    pub async fn deliver(
        &self,
        job_id: Uuid,
        receive_count: Option<u32>,
    ) -> Result<StartOutcome, StartJobError> {
        let result = self.start(job_id).await;
        match &result {
            Ok(StartOutcome::Started(Started::New { execution_arn })) => {
                tracing::info!(%execution_arn, "pipeline started");
            }
            Ok(StartOutcome::Started(Started::AlreadyExisted { execution_arn })) => {
                tracing::info!(%execution_arn, "pipeline already started for this job");
            }
            Ok(StartOutcome::Skipped(why)) => tracing::info!(why, "message skipped"),
            Err(e) if e.is_transient() => tracing::warn!(error = %e, "could not start; will retry"),
            Err(e) => tracing::error!(error = %e, "could not start"),
        }
        if let Err(e) = &result
            && e.execution_may_be_missing()
            && is_last_receive(receive_count, self.max_receive_count)
        {
            self.give_up(job_id, e).await;
        }
        result
    }

    async fn start(&self, job_id: Uuid) -> Result<StartOutcome, StartJobError> {
        let job = self.jobs.get(job_id).await?;
        if job.status.is_terminal() {
            return Ok(StartOutcome::Skipped(format!("job is {}", job.status)));
        }
        let started = self
            .starter
            .start(&ExecutionInput::for_job(&job, self.uploads_bucket))
            .await?;
        if matches!(started, Started::New { .. }) && job.execution_arn.is_none() {
            emf::job_event(JobEvent::Started, &job_id.to_string());
        }
        if job.execution_arn.as_deref() != Some(started.execution_arn()) {
            self.jobs
                .set_execution_arn(job_id, started.execution_arn())
                .await
                .map_err(|e| StartJobError::NotRecorded {
                    execution_arn: started.execution_arn().to_owned(),
                    reason: e.to_string(),
                })?;
        }
        Ok(StartOutcome::Started(started))
    }

    async fn give_up(&self, job_id: Uuid, error: &StartJobError) {
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
            .fail(job_id, not_started(self.max_receive_count, &reason))
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
}

/// How an execution ended, as either runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionEnd {
    /// Still running: nothing to reconcile.
    Running,
    /// The execution output as JSON text (absent on AWS over 256 KiB).
    Succeeded {
        output: Option<String>,
    },
    /// The execution's error name and cause, when it gave them.
    Failed {
        error: Option<String>,
        cause: Option<String>,
    },
    TimedOut,
    /// Stopped by an operator (StopExecution), with the error and cause the operator gave.
    Aborted {
        error: Option<String>,
        cause: Option<String>,
    },
}

impl ExecutionEnd {
    /// Stopped without a reason given.
    pub fn aborted() -> Self {
        ExecutionEnd::Aborted {
            error: None,
            cause: None,
        }
    }
}

/// The one table of what an ended execution means for its job: the error the job gets, or
/// `None` when the execution has nothing to add (still running, or completed through
/// RecordResult).
///
/// | end | job error |
/// |---|---|
/// | aborted | the operator's error and cause; without them `PetAvatar.Aborted`, "the pipeline was stopped by an operator" |
/// | timed out | `States.Timeout`, "the pipeline timed out" |
/// | failed with an error name | that name; the Lambda's `errorMessage` from the cause, else the cause |
/// | failed without one | `States.TaskFailed`, "the pipeline failed" |
/// | succeeded at `JobRejected` | the rejection RecordRejection wrote (`PetAvatar.NotAPet`, …) |
/// | succeeded at `JobCompleted`, running | none |
///
/// A job whose execution never started is not here: [`JobStarter::deliver`] fails it with
/// [`NOT_STARTED`] on the message's last receive.
pub fn job_error_for(end: &ExecutionEnd) -> Option<JobError> {
    let (code, message) = match end {
        ExecutionEnd::Running => return None,
        ExecutionEnd::Succeeded { output } => {
            return output
                .as_deref()
                .and_then(crate::record_failure::rejection_in_execution_output);
        }
        ExecutionEnd::Aborted { error, .. } => (
            error
                .clone()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| ABORTED.to_owned()),
            "the pipeline was stopped by an operator",
        ),
        ExecutionEnd::TimedOut => (TIMED_OUT.to_owned(), "the pipeline timed out"),
        ExecutionEnd::Failed { error, .. } => (
            error
                .clone()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| FAILED_UNNAMED.to_owned()),
            "the pipeline failed",
        ),
    };
    let message = cause_of(end).map_or_else(|| message.to_owned(), lambda_message);
    Some(JobError { code, message })
}

/// The cause an ended execution gave, if any (failures, and stops an operator gave one).
fn cause_of(end: &ExecutionEnd) -> Option<&str> {
    match end {
        ExecutionEnd::Failed { cause, .. } | ExecutionEnd::Aborted { cause, .. } => {
            cause.as_deref().map(str::trim).filter(|c| !c.is_empty())
        }
        _ => None,
    }
}

/// A Lambda error's cause is its `{"errorType", "errorMessage"}` payload; keep the message.
fn lambda_message(cause: &str) -> String {
    serde_json::from_str::<ErrorPayload>(cause)
        .map(|p| p.error_message)
        .unwrap_or_else(|_| cause.to_owned())
}

/// One row of the outcome table: an execution end and the error code its job gets.
#[derive(Debug, Clone)]
pub struct OutcomeCase {
    pub name: &'static str,
    pub end: ExecutionEnd,
    pub code: Option<&'static str>,
}

/// The outcome table of [`job_error_for`] as data: each runtime's reconciler test runs every row
/// through its own adapter (EventBridge events on AWS, engine status changes locally), so the
/// two cannot drift apart again.
pub fn outcome_table() -> Vec<OutcomeCase> {
    let rejection = r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","status":"failed","code":"PetAvatar.NotAPet","message":"not a pet: a mug","rejected":true}"#;
    let completed = r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","bucket":"b","key":"k","generated":[]}"#;
    let case = |name, end, code| OutcomeCase { name, end, code };
    vec![
        case("aborted", ExecutionEnd::aborted(), Some(ABORTED)),
        case(
            "aborted by an operator who gave a reason",
            ExecutionEnd::Aborted {
                error: Some("Operator.Cancelled".into()),
                cause: Some("the owner asked".into()),
            },
            Some("Operator.Cancelled"),
        ),
        case("timed out", ExecutionEnd::TimedOut, Some(TIMED_OUT)),
        case(
            "failed with an error name",
            ExecutionEnd::Failed {
                error: Some("PetAvatar.Internal".into()),
                cause: Some(r#"{"errorType":"PetAvatar.Internal","errorMessage":"boom"}"#.into()),
            },
            Some("PetAvatar.Internal"),
        ),
        case(
            "failed without an error name",
            ExecutionEnd::Failed {
                error: None,
                cause: None,
            },
            Some(FAILED_UNNAMED),
        ),
        case(
            "succeeded at JobRejected",
            ExecutionEnd::Succeeded {
                output: Some(rejection.into()),
            },
            Some("PetAvatar.NotAPet"),
        ),
        case(
            "succeeded at JobCompleted",
            ExecutionEnd::Succeeded {
                output: Some(completed.into()),
            },
            None,
        ),
        case("running", ExecutionEnd::Running, None),
    ]
}

/// What reconciling did to the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// The job is now `failed` with this error.
    MarkedFailed(JobError),
    /// The job had ended already (RecordResult, RecordFailure or RecordRejection ran).
    AlreadyTerminal,
    /// Not an ending that needs reconciling, or not one of our jobs.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The job store is busy or unreachable: try again (EventBridge retries; locally the next
    /// catch-up from the history).
    #[error("job store unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// Marks the job of an ended execution failed if the pipeline could not: timed out, aborted,
/// failed past RecordFailure. A job already terminal keeps its end (the normal case for FAILED:
/// RecordFailure got there first). A succeeded execution's rejection is written again only if
/// its job is somehow not terminal; a completed one needs nothing.
pub async fn reconcile(
    jobs: &dyn JobStore,
    job_id: Uuid,
    end: &ExecutionEnd,
) -> Result<ReconcileOutcome, ReconcileError> {
    let Some(error) = job_error_for(end) else {
        return Ok(ReconcileOutcome::Ignored(format!("{end:?}")));
    };
    let rejected = matches!(end, ExecutionEnd::Succeeded { .. });
    let span = tracing::info_span!("reconcile", job_id = %job_id, code = %error.code);
    async move {
        match jobs.fail(job_id, error.clone()).await {
            Ok(_) => {
                if rejected {
                    emf::job_rejected(&error.code, &job_id.to_string());
                } else {
                    emf::job_event(JobEvent::Failed, &job_id.to_string());
                }
                tracing::warn!(code = %error.code, message = %error.message, "job marked failed by the reconciler");
                Ok(ReconcileOutcome::MarkedFailed(error))
            }
            Err(JobStoreError::Conflict { current, .. }) => {
                tracing::debug!(%current, "job already terminal");
                Ok(ReconcileOutcome::AlreadyTerminal)
            }
            Err(JobStoreError::NotFound(_)) => {
                tracing::warn!("execution for a job that does not exist");
                Ok(ReconcileOutcome::Ignored(format!("no job {job_id}")))
            }
            Err(JobStoreError::Unavailable(m)) => Err(ReconcileError::Unavailable(m)),
            Err(other) => Err(ReconcileError::Internal(other.to_string())),
        }
    }
    .instrument(span)
    .await
}

// ---------------------------------------------------------------------------------------------
// Operators: redrive and stop a job's execution.

/// Why the runtime refused an operator's action on an execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("the job has no execution: {0}")]
    NoExecution(String),
    /// Not in a status that allows it: a redrive of a running or succeeded execution, a stop
    /// of one that has ended (RedriveExecution's `ExecutionNotRedrivable`).
    #[error("{0}")]
    NotAllowed(String),
    /// Throttled, busy: worth trying again.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

/// What an operator does to a job's execution (name = job id): the embedded engine locally,
/// Step Functions on AWS (RedriveExecution, StopExecution).
#[async_trait]
pub trait ExecutionControl: Send + Sync {
    /// RedriveExecution: the execution goes on from the state that failed.
    async fn redrive(&self, job_id: Uuid) -> Result<(), ControlError>;
    /// StopExecution with the operator's error and cause; `NotAllowed` unless it runs.
    async fn stop(
        &self,
        job_id: Uuid,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<(), ControlError>;
}

/// Why an operator's action on a job did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("job {0} not found")]
    JobNotFound(Uuid),
    #[error("job {job_id} is {status}: {why}")]
    WrongStatus {
        job_id: Uuid,
        status: JobStatus,
        why: &'static str,
    },
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("job store: {0}")]
    Store(JobStoreError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
}

impl From<JobStoreError> for OperatorError {
    fn from(e: JobStoreError) -> Self {
        match e {
            JobStoreError::NotFound(job_id) => OperatorError::JobNotFound(job_id),
            other => OperatorError::Store(other),
        }
    }
}

/// Redrives a failed job: the job goes back to `processing` (the one way out of `failed`,
/// `steps::job_rules`), then its execution is redriven from the state that failed, and the job
/// ends as that execution ends (RecordResult, RecordFailure or the reconciler, as for any
/// execution). The job is reopened first so that the redriven stages may write to it; if the
/// runtime refuses the redrive, the job is failed again with the error it had.
pub async fn redrive(
    jobs: &dyn JobStore,
    control: &dyn ExecutionControl,
    job_id: Uuid,
) -> Result<Job, OperatorError> {
    let span = tracing::info_span!("redrive", job_id = %job_id);
    async move {
        let job = jobs.get(job_id).await?;
        let previous = job.error.clone().unwrap_or_else(|| JobError {
            code: FAILED_UNNAMED.to_owned(),
            message: "the pipeline failed".to_owned(),
        });
        let reopened = match jobs.redrive(job_id).await {
            Ok(job) => job,
            Err(JobStoreError::Conflict { current, .. }) => {
                return Err(OperatorError::WrongStatus {
                    job_id,
                    status: current,
                    why: "only a failed job can be redriven",
                });
            }
            Err(e) => return Err(e.into()),
        };
        if let Err(refused) = control.redrive(job_id).await {
            tracing::warn!(error = %refused, "redrive refused; the job is failed as it was");
            if let Err(e) = jobs.fail(job_id, previous).await {
                tracing::error!(error = %e, "cannot put the job back to failed");
            }
            return Err(refused.into());
        }
        tracing::info!("job redriven");
        Ok(reopened)
    }
    .instrument(span)
    .await
}

/// Stops a queued or processing job's execution with the operator's error and cause; the job
/// ends `failed` with them ([`job_error_for`] of the aborted end, written here and by the
/// reconciler alike, so whichever is first writes the same error).
pub async fn stop(
    jobs: &dyn JobStore,
    control: &dyn ExecutionControl,
    job_id: Uuid,
    error: Option<&str>,
    cause: Option<&str>,
) -> Result<Job, OperatorError> {
    let span = tracing::info_span!("stop", job_id = %job_id);
    async move {
        let job = jobs.get(job_id).await?;
        if job.status.is_terminal() {
            return Err(OperatorError::WrongStatus {
                job_id,
                status: job.status,
                why: "only a queued or processing job can be stopped",
            });
        }
        control.stop(job_id, error, cause).await?;
        let end = ExecutionEnd::Aborted {
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        };
        reconcile(jobs, job_id, &end).await?;
        tracing::info!("job stopped by an operator");
        Ok(jobs.get(job_id).await?)
    }
    .instrument(span)
    .await
}

/// What replaying a dead-lettered job message needs done to its job first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayPrepared {
    /// The worker had given up on it ([`NOT_STARTED`]) and no execution exists: the job is
    /// reopened (`failed → processing`) so that the replayed message starts it.
    Reopened,
    /// Nothing to do: its execution exists (the worker will find it: no second one), or the job
    /// ended otherwise (the worker will skip it).
    Unchanged,
}

/// Readies the job of a dead letter for its replay. The replayed message then goes through
/// [`JobStarter::deliver`] as any other: execution name = job id, so however often a job's
/// messages are replayed, it gets one execution.
pub async fn prepare_replay(
    jobs: &dyn JobStore,
    starter: &dyn PipelineStarter,
    job_id: Uuid,
) -> Result<ReplayPrepared, OperatorError> {
    let job = jobs.get(job_id).await?;
    let not_started = job.status == JobStatus::Failed
        && job.error.as_ref().is_some_and(|e| e.code == NOT_STARTED);
    if !not_started
        || starter
            .execution_exists(job_id)
            .await
            .map_err(|e| OperatorError::Control(ControlError::Other(e.to_string())))?
    {
        return Ok(ReplayPrepared::Unchanged);
    }
    match jobs.redrive(job_id).await {
        Ok(_) => {
            tracing::info!(%job_id, "job reopened for the replay of its message");
            Ok(ReplayPrepared::Reopened)
        }
        Err(JobStoreError::Conflict { .. }) => Ok(ReplayPrepared::Unchanged),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: Option<&str>, cause: Option<&str>) -> ExecutionEnd {
        ExecutionEnd::Failed {
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        }
    }

    fn code(end: &ExecutionEnd) -> Option<String> {
        job_error_for(end).map(|e| e.code)
    }

    #[test]
    fn every_row_of_the_outcome_table_holds() {
        for case in outcome_table() {
            assert_eq!(code(&case.end).as_deref(), case.code, "{}", case.name);
        }
    }

    #[test]
    fn the_outcome_table() {
        assert_eq!(code(&ExecutionEnd::aborted()).as_deref(), Some(ABORTED));
        assert_eq!(code(&ExecutionEnd::TimedOut).as_deref(), Some(TIMED_OUT));
        assert_eq!(
            code(&failed(Some("PetAvatar.Internal"), None)).as_deref(),
            Some("PetAvatar.Internal")
        );
        assert_eq!(code(&failed(None, None)).as_deref(), Some(FAILED_UNNAMED));
        assert_eq!(
            code(&failed(Some(" "), None)).as_deref(),
            Some(FAILED_UNNAMED)
        );
        assert_eq!(code(&ExecutionEnd::Running), None);
        assert_eq!(code(&ExecutionEnd::Succeeded { output: None }), None);
    }

    #[test]
    fn a_failure_keeps_the_lambda_message() {
        let end = failed(
            Some("PetAvatar.Internal"),
            Some(r#"{"errorType":"PetAvatar.Internal","errorMessage":"boom"}"#),
        );
        assert_eq!(job_error_for(&end).unwrap().message, "boom");
        let plain = failed(Some("Operator"), Some("stopped by hand"));
        assert_eq!(job_error_for(&plain).unwrap().message, "stopped by hand");
    }

    #[test]
    fn a_succeeded_execution_means_something_only_when_it_recorded_a_rejection() {
        let completed = ExecutionEnd::Succeeded {
            output: Some(r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","bucket":"b","key":"k","generated":[]}"#.into()),
        };
        assert_eq!(job_error_for(&completed), None);
        let rejected = ExecutionEnd::Succeeded {
            output: Some(r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","status":"failed","code":"PetAvatar.NotAPet","message":"not a pet: a mug","rejected":true}"#.into()),
        };
        assert_eq!(
            job_error_for(&rejected),
            Some(JobError {
                code: "PetAvatar.NotAPet".into(),
                message: "not a pet: a mug".into()
            })
        );
    }

    #[test]
    fn execution_arns_follow_the_state_machine() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:eu-west-1:123456789012:stateMachine:Pipeline",
                "job-1"
            ),
            "arn:aws:states:eu-west-1:123456789012:execution:Pipeline:job-1"
        );
    }

    #[test]
    fn the_input_is_byte_identical_for_a_job() {
        let input = ExecutionInput {
            job_id: Uuid::nil(),
            bucket: "b".into(),
            key: "uploads/x/original.png".into(),
            species_hint: None,
        };
        assert_eq!(
            input.to_json().unwrap(),
            r#"{"job_id":"00000000-0000-0000-0000-000000000000","bucket":"b","key":"uploads/x/original.png","species_hint":null}"#
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
        let unrecorded = StartJobError::NotRecorded {
            execution_arn: "arn".into(),
            reason: "throttled".into(),
        };
        assert!(unrecorded.is_transient());
        assert!(!unrecorded.execution_may_be_missing());
        assert!(StartJobError::Permanent("no machine".into()).execution_may_be_missing());
        assert!(StartJobError::Transient("throttled".into()).execution_may_be_missing());
    }

    /// A runtime that refuses or accepts every action, and counts them.
    struct Control {
        refuse: bool,
        calls: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait]
    impl ExecutionControl for Control {
        async fn redrive(&self, job_id: Uuid) -> Result<(), ControlError> {
            self.calls.lock().unwrap().push(format!("redrive {job_id}"));
            if self.refuse {
                return Err(ControlError::NotAllowed("Execution is SUCCEEDED".into()));
            }
            Ok(())
        }
        async fn stop(
            &self,
            job_id: Uuid,
            _error: Option<&str>,
            _cause: Option<&str>,
        ) -> Result<(), ControlError> {
            self.calls.lock().unwrap().push(format!("stop {job_id}"));
            Ok(())
        }
    }

    fn control(refuse: bool) -> Control {
        Control {
            refuse,
            calls: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn failed_job(jobs: &crate::memory::InMemoryJobStore) -> Uuid {
        let job_id = Uuid::new_v4();
        jobs.create(Job::new(
            job_id,
            "o",
            "uploads/x/original.png",
            chrono::Utc::now(),
        ))
        .await
        .unwrap();
        jobs.advance(job_id, crate::Stage::MapCareer, 45)
            .await
            .unwrap();
        jobs.fail(
            job_id,
            JobError {
                code: "PetAvatar.ModelError".into(),
                message: "down".into(),
            },
        )
        .await
        .unwrap();
        job_id
    }

    #[tokio::test]
    async fn a_redrive_reopens_the_failed_job_and_a_refused_one_leaves_it_as_it_was() {
        let jobs = crate::memory::InMemoryJobStore::new();
        let job_id = failed_job(&jobs).await;
        let refused = redrive(&jobs, &control(true), job_id).await;
        assert!(
            matches!(refused, Err(OperatorError::Control(_))),
            "{refused:?}"
        );
        let job = jobs.get(job_id).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.unwrap().code, "PetAvatar.ModelError");

        let reopened = redrive(&jobs, &control(false), job_id).await.unwrap();
        assert_eq!(
            (reopened.status, reopened.error),
            (JobStatus::Processing, None)
        );
        let again = redrive(&jobs, &control(false), job_id).await;
        assert!(
            matches!(
                again,
                Err(OperatorError::WrongStatus {
                    status: JobStatus::Processing,
                    ..
                })
            ),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn a_stopped_job_fails_with_the_operators_reason_and_an_ended_one_is_not_stopped() {
        let jobs = crate::memory::InMemoryJobStore::new();
        let job_id = Uuid::new_v4();
        jobs.create(Job::new(
            job_id,
            "o",
            "uploads/x/original.png",
            chrono::Utc::now(),
        ))
        .await
        .unwrap();
        let runtime = control(false);
        let job = stop(
            &jobs,
            &runtime,
            job_id,
            Some("Operator.Cancelled"),
            Some("asked to"),
        )
        .await
        .unwrap();
        let error = job.error.unwrap();
        assert_eq!(
            (job.status, error.code.as_str(), error.message.as_str()),
            (JobStatus::Failed, "Operator.Cancelled", "asked to")
        );
        let again = stop(&jobs, &runtime, job_id, None, None).await;
        assert!(
            matches!(again, Err(OperatorError::WrongStatus { .. })),
            "{again:?}"
        );
        assert_eq!(
            runtime.calls.lock().unwrap().len(),
            1,
            "the ended job's runtime is not asked"
        );
    }
}
