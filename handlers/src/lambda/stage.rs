//! A pipeline stage as a Lambda: the Task's payload (the whole state) in, the stage's output out.
//! A `StageError` leaves as `Diagnostic { error_type: err.name() }` — the stable dotted name
//! (`PetAvatar.NotAPet`) that the state machine's `Retry`/`Catch` `ErrorEquals` match.

use std::time::{Instant, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use steps::{Deps, StageError, StageName};
use telemetry::emf::JobEvent;
use tracing::Instrument;

use crate::config::Settings;
use crate::wiring;

/// The Lambda error for a stage error.
pub fn diagnostic(err: &StageError) -> Diagnostic {
    Diagnostic {
        error_type: err.name().to_owned(),
        error_message: err.message(),
    }
}

/// The job a payload is about (for the log span), if it names one.
fn job_id_of(payload: &Value) -> String {
    payload
        .get("job_id")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned()
}

/// Runs `stage` on one invocation.
pub async fn handle(
    stage: StageName,
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let job_id = job_id_of(&event.payload);
    let span = tracing::info_span!(
        "stage",
        stage = stage.state_name(),
        job_id = %job_id,
        request_id = %event.context.request_id
    );
    async move {
        let invoked_at = SystemTime::now();
        let started = Instant::now();
        let result = steps::run_json(stage, event.payload, deps).await;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        telemetry::emf::stage_duration(stage.state_name(), &job_id, millis);
        match result {
            Ok(output) => {
                record_outcome(stage, &output, &job_id);
                tracing::info!(duration_ms = millis, "stage succeeded");
                Ok(output)
            }
            Err(err) => {
                // Filed under the invocation's start, as Lambda files its Errors: the Errors
                // alarms of the rejecting stages subtract these counts (infra/lib/alarms.ts).
                telemetry::emf::stage_error_at(stage.state_name(), err.name(), &job_id, invoked_at);
                if err.is_transient() {
                    tracing::warn!(error_type = err.name(), error = %err, duration_ms = millis, "stage failed; the state machine retries");
                } else {
                    tracing::error!(error_type = err.name(), error = %err, duration_ms = millis, "stage failed");
                }
                Err(diagnostic(&err))
            }
        }
    }
    .instrument(span)
    .await
}

/// Counts jobs that reached an end.
fn record_outcome(stage: StageName, output: &Value, job_id: &str) {
    match (stage, job_end(stage, output)) {
        (StageName::RecordResult, _) => telemetry::emf::job_event(JobEvent::Completed, job_id),
        (_, Some(JobEnd::Rejected(reason))) => telemetry::emf::job_rejected(&reason, job_id),
        (_, Some(JobEnd::Failed)) => telemetry::emf::job_event(JobEvent::Failed, job_id),
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

/// What record-failure's output says it did: it also answers for a job that was already
/// terminal, which is no new end (`None`).
fn job_end(stage: StageName, output: &Value) -> Option<JobEnd> {
    if stage != StageName::RecordFailure {
        return None;
    }
    let output: steps::record_failure::Output = serde_json::from_value(output.clone()).ok()?;
    if output.status != steps::JobStatus::Failed {
        return None;
    }
    match output.rejection() {
        Some(error) => Some(JobEnd::Rejected(error.code)),
        None => Some(JobEnd::Failed),
    }
}

/// The main of a stage binary.
pub async fn serve(stage: StageName) -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let deps = wiring::stage_deps(&clients, &settings)?;
    run(stage, deps, &settings).await
}

/// The main of analyze-pet: a stage whose vision model may sit behind the local gate
/// (`PETAVATAR_VISION_GATE`).
pub async fn serve_analyze_pet() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let mut deps = wiring::stage_deps(&clients, &settings)?;
    deps.vision = wiring::gated_vision(deps.vision, &settings)?;
    run(StageName::AnalyzePet, deps, &settings).await
}

async fn run(
    stage: StageName,
    deps: Deps,
    settings: &Settings,
) -> Result<(), lambda_runtime::Error> {
    let deps = &deps;
    tracing::info!(stage = stage.state_name(), backend = ?settings.model_backend, vision_gate = ?settings.vision_gate, "stage function ready");
    lambda_runtime::run(service_fn(move |event| handle(stage, deps, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_errors_keep_their_dotted_names() {
        let d = diagnostic(&StageError::NotAPet("a person".into()));
        assert_eq!(d.error_type, "PetAvatar.NotAPet");
        assert_eq!(d.error_message, "not a pet: a person");
        let d = diagnostic(&StageError::Transient("throttled".into()));
        assert_eq!(d.error_type, "PetAvatar.Transient");
    }

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
}
