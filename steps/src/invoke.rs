//! One invocation of a stage, as both runtimes run it: the job id from the payload on a span,
//! the stage's timing and outcome in the log and in EMF (stage duration, stage errors, and the
//! jobs that reached an end), and a panic turned into the stage's `PetAvatar.Internal` error, as
//! a Lambda runtime reports a crashed function. The Lambda bin maps the error to its
//! `Diagnostic`, the local runtime to the engine's `TaskFailure`; nothing else differs.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt;
use serde_json::Value;
use telemetry::emf::{self, JobEvent};
use tracing::Instrument;

use crate::{Deps, JobStatus, StageError, StageName, record_failure, run_json};

/// What a runtime knows about the invocation besides its payload, for the log span.
#[derive(Debug, Clone, Copy, Default)]
pub struct Labels<'a> {
    /// The Lambda request id (AWS).
    pub request_id: Option<&'a str>,
    /// How many times the state machine has retried this task (the local engine says).
    pub retry_count: Option<u32>,
}

/// One stage run: its result, how long the stage itself took, and the job it was about.
#[derive(Debug)]
pub struct StageRun {
    pub result: Result<Value, StageError>,
    pub elapsed: Duration,
    pub job_id: String,
}

/// The job a payload is about, if it names one.
pub fn job_id_of(payload: &Value) -> String {
    payload
        .get("job_id")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned()
}

/// Runs `stage` on `payload`, logged and counted.
pub async fn invoke_stage(
    stage: StageName,
    payload: Value,
    deps: &Deps,
    labels: Labels<'_>,
) -> StageRun {
    let job_id = job_id_of(&payload);
    let span = tracing::info_span!(
        "stage",
        stage = stage.state_name(),
        job_id = %job_id,
        request_id = labels.request_id,
        retry = labels.retry_count,
    );
    let invoked_at = SystemTime::now();
    let started = Instant::now();
    let result = AssertUnwindSafe(run_json(stage, payload, deps))
        .catch_unwind()
        .instrument(span.clone())
        .await
        .unwrap_or_else(|panic| Err(StageError::Internal(panic_message(panic.as_ref()))));
    let elapsed = started.elapsed();
    span.in_scope(|| report(stage, &job_id, &result, invoked_at, elapsed));
    StageRun {
        result,
        elapsed,
        job_id,
    }
}

/// The stage's log line and metrics.
fn report(
    stage: StageName,
    job_id: &str,
    result: &Result<Value, StageError>,
    invoked_at: SystemTime,
    elapsed: Duration,
) {
    let millis = elapsed.as_secs_f64() * 1000.0;
    emf::stage_duration(stage.state_name(), job_id, millis);
    match result {
        Ok(output) => {
            count_job_end(stage, output, job_id);
            tracing::info!(duration_ms = millis, "stage succeeded");
        }
        Err(err) => {
            // Filed under the invocation's start, as Lambda files its Errors: the Errors alarms
            // of the rejecting stages subtract these counts (infra/lib/alarms.ts).
            emf::stage_error_at(stage.state_name(), err.name(), job_id, invoked_at);
            if err.is_transient() {
                tracing::warn!(error_type = err.name(), error = %err, duration_ms = millis, "stage failed; the state machine retries");
            } else {
                tracing::error!(error_type = err.name(), error = %err, duration_ms = millis, "stage failed");
            }
        }
    }
}

/// Counts the jobs a stage ended: RecordResult completes one, RecordFailure fails or rejects
/// one (it also answers for a job that was already terminal, which is no new end).
fn count_job_end(stage: StageName, output: &Value, job_id: &str) {
    match (stage, job_end(stage, output)) {
        (StageName::RecordResult, _) => emf::job_event(JobEvent::Completed, job_id),
        (_, Some(JobEnd::Rejected(reason))) => emf::job_rejected(&reason, job_id),
        (_, Some(JobEnd::Failed)) => emf::job_event(JobEvent::Failed, job_id),
        _ => {}
    }
}

/// How record-failure ended a job.
#[derive(Debug, PartialEq, Eq)]
enum JobEnd {
    Failed,
    /// Refused for its input (the `RecordRejection` state), with the refusal's error name.
    Rejected(String),
}

/// What record-failure's output says it did.
fn job_end(stage: StageName, output: &Value) -> Option<JobEnd> {
    if stage != StageName::RecordFailure {
        return None;
    }
    let output: record_failure::Output = serde_json::from_value(output.clone()).ok()?;
    if output.status != JobStatus::Failed {
        return None;
    }
    match output.rejection() {
        Some(error) => Some(JobEnd::Rejected(error.code)),
        None => Some(JobEnd::Failed),
    }
}

/// What a panicking stage said, as the error's message.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    let said = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    format!("the stage panicked: {said}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_failure_counts_rejections_apart_from_failures() {
        let output = |status: &str, rejected: bool| {
            serde_json::json!({
                "job_id": "123e4567-e89b-42d3-a456-426614174000",
                "status": status,
                "code": "PetAvatar.NotAPet",
                "message": "not a pet: a mug",
                "rejected": rejected,
            })
        };
        assert_eq!(
            job_end(StageName::RecordFailure, &output("failed", true)),
            Some(JobEnd::Rejected("PetAvatar.NotAPet".into()))
        );
        assert_eq!(
            job_end(StageName::RecordFailure, &output("failed", false)),
            Some(JobEnd::Failed)
        );
        assert_eq!(
            job_end(StageName::RecordFailure, &output("completed", true)),
            None,
            "a job already terminal is no new end"
        );
        assert_eq!(
            job_end(StageName::MapCareer, &output("failed", false)),
            None
        );
    }

    #[test]
    fn a_payload_names_its_job() {
        assert_eq!(job_id_of(&serde_json::json!({"job_id": "j1"})), "j1");
        assert_eq!(job_id_of(&serde_json::json!({})), "unknown");
    }
}
