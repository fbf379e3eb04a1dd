//! A pipeline stage as a Lambda: the Task's payload (the whole state) in, the stage's output out.
//! A `StageError` leaves as `Diagnostic { error_type: err.name() }` — the stable dotted name
//! (`PetAvatar.NotAPet`) that the state machine's `Retry`/`Catch` `ErrorEquals` match.

use std::time::Instant;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use steps::{Deps, StageError, StageName};
use telemetry::emf::JobEvent;
use tracing::Instrument;

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
                telemetry::emf::stage_error(stage.state_name(), err.name(), &job_id);
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
    match stage {
        StageName::RecordResult => telemetry::emf::job_event(JobEvent::Completed, job_id),
        // record-failure also answers for a job that was already terminal: count only failures.
        StageName::RecordFailure
            if output.get("status").and_then(Value::as_str) == Some("failed") =>
        {
            telemetry::emf::job_event(JobEvent::Failed, job_id);
        }
        _ => {}
    }
}

/// The main of a stage binary.
pub async fn serve(stage: StageName) -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let deps = wiring::stage_deps(&clients, &settings)?;
    let deps = &deps;
    tracing::info!(stage = stage.state_name(), backend = ?settings.model_backend, "stage function ready");
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
}
