//! Step Functions "Execution Status Change" events (EventBridge) → the job record. An execution
//! that timed out, was aborted by an operator, or failed without its `RecordFailure` having run
//! would leave its job `processing` forever; this handler marks it `failed` unless it is already
//! terminal (the conditional write refuses, which is the normal case for FAILED: RecordFailure
//! got there first).
//!
//! A SUCCEEDED execution whose output is RecordRejection's (it ended at `JobRejected`: the photo
//! was refused for its content) is a rejected job: `failed` with the refusal's code, counted as
//! `JobsRejected`, never as a failure. RecordRejection wrote it before the execution ended, so
//! the rule in infra/ does not send SUCCEEDED here; if such an event arrives anyway (a rule
//! widened by hand, an event replayed from the dead-letter queue), the job gets that same
//! record, or keeps it. A FAILED execution whose error is a rejection's name is a fault:
//! recording the rejection itself failed; the job still gets the rejection's code.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use steps::JobError;
use steps::ports::{JobStore, JobStoreError};
use telemetry::emf::JobEvent;
use tracing::Instrument;
use uuid::Uuid;

use super::{internal_diagnostic, transient_diagnostic};
use crate::wiring;

/// The `detail` of a Step Functions Execution Status Change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    pub execution_arn: String,
    #[serde(default)]
    pub state_machine_arn: Option<String>,
    pub name: String,
    pub status: String,
    /// The execution input as a JSON string.
    #[serde(default)]
    pub input: Option<String>,
    /// The execution output as a JSON string (SUCCEEDED only; absent over 256 KiB).
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job is now `failed` with this error.
    MarkedFailed(JobError),
    /// The job had ended already (RecordResult or RecordFailure ran): left as it is.
    AlreadyTerminal,
    /// Not an ending that needs reconciling (RUNNING, a completed SUCCEEDED), or not one of our
    /// jobs.
    Ignored(String),
}

/// The job an execution runs: from its input, else from its name (the worker names executions
/// after their job).
pub fn job_id_of(detail: &ExecutionStatusChange) -> Option<Uuid> {
    detail
        .input
        .as_deref()
        .and_then(|input| serde_json::from_str::<serde_json::Value>(input).ok())
        .and_then(|v| {
            v.get("job_id")
                .and_then(|id| id.as_str())
                .and_then(|id| Uuid::try_parse(id).ok())
        })
        .or_else(|| Uuid::try_parse(&detail.name).ok())
}

/// The error recorded for an execution that ended with `status`.
pub fn job_error_for(detail: &ExecutionStatusChange) -> Option<JobError> {
    let cause = detail
        .cause
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let (code, message) = match detail.status.as_str() {
        "TIMED_OUT" => (
            "States.Timeout".to_owned(),
            "the pipeline timed out".to_owned(),
        ),
        "ABORTED" => (
            "PetAvatar.Aborted".to_owned(),
            "the pipeline was stopped by an operator".to_owned(),
        ),
        "SUCCEEDED" => return rejection_of(detail),
        "FAILED" => (
            detail
                .error
                .clone()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "States.TaskFailed".into()),
            "the pipeline failed".to_owned(),
        ),
        _ => return None,
    };
    // A Lambda error's cause is its `{"errorType", "errorMessage"}` payload; keep the message.
    let message = match cause {
        Some(text) => serde_json::from_str::<steps::ErrorPayload>(text)
            .map(|p| p.error_message)
            .unwrap_or_else(|_| text.to_owned()),
        None => message,
    };
    Some(JobError { code, message })
}

/// The rejection a SUCCEEDED execution recorded (its output is RecordRejection's).
pub fn rejection_of(detail: &ExecutionStatusChange) -> Option<JobError> {
    if detail.status != "SUCCEEDED" {
        return None;
    }
    detail
        .output
        .as_deref()
        .and_then(steps::record_failure::rejection_in_execution_output)
}

pub async fn reconcile(
    jobs: &dyn JobStore,
    detail: &ExecutionStatusChange,
) -> Result<Outcome, Diagnostic> {
    let Some(error) = job_error_for(detail) else {
        return Ok(Outcome::Ignored(format!("status {}", detail.status)));
    };
    let Some(job_id) = job_id_of(detail) else {
        return Ok(Outcome::Ignored(format!(
            "execution {} names no job",
            detail.execution_arn
        )));
    };
    let span = tracing::info_span!("reconcile", job_id = %job_id, status = %detail.status);
    async move {
        match jobs.fail(job_id, error.clone()).await {
            Ok(_) => {
                if detail.status == "SUCCEEDED" {
                    telemetry::emf::job_rejected(&error.code, &job_id.to_string());
                } else {
                    telemetry::emf::job_event(JobEvent::Failed, &job_id.to_string());
                }
                tracing::warn!(code = %error.code, message = %error.message, "job marked failed by the reconciler");
                Ok(Outcome::MarkedFailed(error))
            }
            Err(JobStoreError::Conflict { current, .. }) => {
                tracing::info!(%current, "job already terminal");
                Ok(Outcome::AlreadyTerminal)
            }
            Err(JobStoreError::NotFound(_)) => {
                tracing::warn!("execution for a job that does not exist");
                Ok(Outcome::Ignored(format!("no job {job_id}")))
            }
            // Failing the invocation makes EventBridge retry (and, in the end, park the event in
            // the reconciler's dead-letter queue).
            Err(JobStoreError::Unavailable(m)) => Err(transient_diagnostic(m)),
            Err(other) => Err(internal_diagnostic(other.to_string())),
        }
    }
    .instrument(span)
    .await
}

/// The main of the execution-reconciler binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let jobs = wiring::job_store(&clients, &settings)?;
    let jobs = jobs.as_ref();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<ExecutionStatusChange>>| async move {
            let outcome = reconcile(jobs, &event.payload.detail).await?;
            Ok::<_, Diagnostic>(serde_json::json!({ "outcome": format!("{outcome:?}") }))
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(status: &str) -> ExecutionStatusChange {
        ExecutionStatusChange {
            execution_arn: "arn:aws:states:eu-west-1:1:execution:P:x".into(),
            state_machine_arn: None,
            name: "123e4567-e89b-42d3-a456-426614174000".into(),
            status: status.into(),
            input: Some(r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","bucket":"b","key":"k","species_hint":null}"#.into()),
            output: None,
            error: None,
            cause: None,
        }
    }

    #[test]
    fn only_unfinished_endings_need_reconciling() {
        assert_eq!(
            job_error_for(&detail("TIMED_OUT")).unwrap().code,
            "States.Timeout"
        );
        assert_eq!(
            job_error_for(&detail("ABORTED")).unwrap().code,
            "PetAvatar.Aborted"
        );
        assert_eq!(
            job_error_for(&detail("FAILED")).unwrap().code,
            "States.TaskFailed"
        );
        assert_eq!(job_error_for(&detail("SUCCEEDED")), None);
        assert_eq!(job_error_for(&detail("RUNNING")), None);
    }

    #[test]
    fn a_succeeded_execution_is_reconciled_only_when_it_recorded_a_rejection() {
        let mut d = detail("SUCCEEDED");
        d.output = Some(r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","bucket":"b","key":"k","generated":[]}"#.into());
        assert_eq!(job_error_for(&d), None, "a completed job");
        d.output = Some(
            r#"{"job_id":"123e4567-e89b-42d3-a456-426614174000","status":"failed","code":"PetAvatar.NotAPet","message":"not a pet: a mug","rejected":true}"#
                .into(),
        );
        assert_eq!(
            job_error_for(&d),
            Some(JobError {
                code: "PetAvatar.NotAPet".into(),
                message: "not a pet: a mug".into()
            })
        );
    }

    #[test]
    fn failures_keep_the_lambda_message() {
        let mut d = detail("FAILED");
        d.error = Some("PetAvatar.Internal".into());
        d.cause = Some(r#"{"errorType":"PetAvatar.Internal","errorMessage":"boom"}"#.into());
        assert_eq!(
            job_error_for(&d),
            Some(JobError {
                code: "PetAvatar.Internal".into(),
                message: "boom".into()
            })
        );
    }

    #[test]
    fn the_job_comes_from_the_input_or_the_name() {
        let d = detail("FAILED");
        assert_eq!(
            job_id_of(&d).unwrap().to_string(),
            "123e4567-e89b-42d3-a456-426614174000"
        );
        let mut no_input = d.clone();
        no_input.input = None;
        assert!(job_id_of(&no_input).is_some());
        no_input.name = "not-a-job".into();
        assert_eq!(job_id_of(&no_input), None);
    }
}
