//! A pipeline stage as a Lambda: the Task's payload (the whole state) in, the stage's output out.
//! A `StageError` leaves as `Diagnostic { error_type: err.name() }` — the stable dotted name
//! (`PetAvatar.NotAPet`) that the state machine's `Retry`/`Catch` `ErrorEquals` match.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use steps::invoke::{Labels, invoke_stage};
use steps::{Deps, StageError, StageName};

use crate::config::Settings;
use crate::wiring;

/// The Lambda error for a stage error.
pub fn diagnostic(err: &StageError) -> Diagnostic {
    Diagnostic {
        error_type: err.name().to_owned(),
        error_message: err.message(),
    }
}

/// Runs `stage` on one invocation (`steps::invoke`: span, timing, metrics, panics).
pub async fn handle(
    stage: StageName,
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let labels = Labels {
        request_id: Some(&event.context.request_id),
        retry_count: None,
    };
    invoke_stage(stage, event.payload, deps, labels)
        .await
        .result
        .map_err(|err| diagnostic(&err))
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
}
