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
use steps::lifecycle::{self, ExecutionEnd, ReconcileError, ReconcileOutcome};
use steps::ports::JobStore;
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

/// The event's status as the lifecycle's [`ExecutionEnd`]; `None` for a status this rule
/// does not know.
pub fn execution_end(detail: &ExecutionStatusChange) -> Option<ExecutionEnd> {
    Some(match detail.status.as_str() {
        "RUNNING" | "PENDING_REDRIVE" => ExecutionEnd::Running,
        "SUCCEEDED" => ExecutionEnd::Succeeded {
            output: detail.output.clone(),
        },
        "FAILED" => ExecutionEnd::Failed {
            error: detail.error.clone(),
            cause: detail.cause.clone(),
        },
        "TIMED_OUT" => ExecutionEnd::TimedOut,
        "ABORTED" => ExecutionEnd::Aborted {
            error: detail.error.clone(),
            cause: detail.cause.clone(),
        },
        _ => return None,
    })
}

/// Reconciles one status change (`steps::lifecycle::reconcile`). A busy job store fails the
/// invocation, so that EventBridge retries it (and, in the end, parks the event in the
/// reconciler's dead-letter queue).
pub async fn reconcile(
    jobs: &dyn JobStore,
    detail: &ExecutionStatusChange,
) -> Result<ReconcileOutcome, Diagnostic> {
    let Some(end) = execution_end(detail) else {
        return Ok(ReconcileOutcome::Ignored(format!(
            "status {}",
            detail.status
        )));
    };
    let Some(job_id) = job_id_of(detail) else {
        return Ok(ReconcileOutcome::Ignored(format!(
            "execution {} names no job",
            detail.execution_arn
        )));
    };
    lifecycle::reconcile(jobs, job_id, &end)
        .await
        .map_err(|e| match e {
            ReconcileError::Unavailable(m) => transient_diagnostic(m),
            ReconcileError::Internal(m) => internal_diagnostic(m),
        })
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
    fn each_status_is_its_lifecycle_end() {
        assert_eq!(
            execution_end(&detail("TIMED_OUT")),
            Some(ExecutionEnd::TimedOut)
        );
        assert_eq!(
            execution_end(&detail("ABORTED")),
            Some(ExecutionEnd::aborted())
        );
        assert_eq!(
            execution_end(&detail("RUNNING")),
            Some(ExecutionEnd::Running)
        );
        let mut failed = detail("FAILED");
        failed.error = Some("PetAvatar.Internal".into());
        failed.cause = Some("boom".into());
        assert_eq!(
            execution_end(&failed),
            Some(ExecutionEnd::Failed {
                error: Some("PetAvatar.Internal".into()),
                cause: Some("boom".into())
            })
        );
        let mut succeeded = detail("SUCCEEDED");
        succeeded.output = Some("{}".into());
        assert_eq!(
            execution_end(&succeeded),
            Some(ExecutionEnd::Succeeded {
                output: Some("{}".into())
            })
        );
        assert_eq!(execution_end(&detail("SOMETHING_NEW")), None);
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
