//! RecordFailure: the job becomes `failed` with `{code, message}`.
//!
//! Reached from every `Catch` (`ResultPath: $.error`), so it reads `$.job_id`, `$.error.Error`
//! (the error name) and `$.error.Cause` (the Lambda error payload `{"errorType",
//! "errorMessage"}` as a JSON string, or any other text). Output: `{job_id, status, code,
//! message, rejected}`; the ASL discards it (`ResultPath: null`) so the Fail state can report
//! `$.error`.
//!
//! The same function serves `RecordRejection` (the Catch of a photo refused for its content:
//! not a pet, not a readable or supported image, too large), whose `Parameters` add
//! `"rejected": true`. The job record is the same either way (status `failed`, `{code,
//! message}`: one contract for API clients); the flag is echoed in the output, which the
//! `JobRejected` Succeed state makes the execution's output, so whoever maps an execution's
//! outcome onto the job and the metrics can tell a rejection from a failure
//! ([`rejection_in_execution_output`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Deps;
use crate::domain::{JobError, JobStatus};
use crate::error::{ErrorPayload, StageError};
use crate::ports::JobStoreError;

/// The `Catch` output: `{"Error": name, "Cause": text}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    pub error: CaughtError,
    /// Set by the `RecordRejection` state: the input was refused, nothing failed.
    #[serde(default)]
    pub rejected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub job_id: Uuid,
    pub status: JobStatus,
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub rejected: bool,
}

impl Output {
    /// The job's error if this output records a rejection that reached the job (not one that
    /// found the job already terminal).
    pub fn rejection(&self) -> Option<JobError> {
        (self.rejected && self.status == JobStatus::Failed).then(|| JobError {
            code: self.code.clone(),
            message: self.message.clone(),
        })
    }
}

/// The rejection an execution ended with, from its output (the `JobRejected` state's output is
/// `RecordRejection`'s [`Output`]); `None` for any other output (a completed job's).
pub fn rejection_in_execution_output(output: &str) -> Option<JobError> {
    let output: Output = serde_json::from_str(output).ok()?;
    output.rejected.then_some(JobError {
        code: output.code,
        message: output.message,
    })
}

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    let job_error = job_error_from(&input.error);
    match deps.jobs.fail(input.job_id, job_error.clone()).await {
        Ok(job) => {
            if input.rejected {
                tracing::info!(job_id = %input.job_id, code = %job_error.code, message = %job_error.message, "job rejected: its input was refused");
            } else {
                tracing::warn!(job_id = %input.job_id, code = %job_error.code, message = %job_error.message, "job failed");
            }
            Ok(Output {
                job_id: input.job_id,
                status: job.status,
                code: job_error.code,
                message: job_error.message,
                rejected: input.rejected,
            })
        }
        // Already terminal (a retried RecordFailure, or RecordResult failed after writing):
        // the record is final; nothing to do, and failing here would loop nowhere useful.
        Err(JobStoreError::Conflict { current, .. }) => {
            tracing::warn!(job_id = %input.job_id, %current, code = %job_error.code, "job already terminal; failure not recorded");
            Ok(Output {
                job_id: input.job_id,
                status: current,
                code: job_error.code,
                message: job_error.message,
                rejected: input.rejected,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `{code, message}` from a caught error: the code is the error name; the message is the
/// Lambda payload's `errorMessage` when the cause is one, else the cause text, else a generic
/// sentence for the States.* errors that carry no cause.
pub fn job_error_from(caught: &CaughtError) -> JobError {
    let cause = caught
        .cause
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let message = match cause {
        Some(text) => serde_json::from_str::<ErrorPayload>(text)
            .map(|p| p.error_message)
            .unwrap_or_else(|_| text.to_string()),
        None => generic_message(&caught.error),
    };
    JobError {
        code: caught.error.clone(),
        message,
    }
}

fn generic_message(error: &str) -> String {
    match error {
        "States.Timeout" => "a pipeline stage timed out".into(),
        "States.TaskFailed" => "a pipeline stage failed".into(),
        _ => format!("the pipeline failed with {error}"),
    }
}
