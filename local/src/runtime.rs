//! The embedded runtime: the real `statemachine/pipeline.asl.json` under the embedded
//! engine, each Task resource a local Lambda ARN whose in-process handler calls the stage.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use statemachine::{Engine, HandlerRegistry, InvocationContext, TaskFailure, TaskHandler};
use steps::{Deps, StageError, StageName};

/// The state machine's name in the local engine.
pub const STATE_MACHINE_NAME: &str = "petavatar-pipeline";
/// The uploads bucket name the local runtime uses in execution inputs and `s3://` URIs.
pub const UPLOADS_BUCKET: &str = "petavatar-uploads";
/// The generated bucket name of the local runtime.
pub const GENERATED_BUCKET: &str = "petavatar-generated";

/// The local Lambda ARN of a stage (`arn:aws:lambda:local:000000000000:function:petavatar-validate-image`).
pub fn local_function_arn(stage: StageName) -> String {
    format!(
        "arn:aws:lambda:local:000000000000:function:{}",
        stage.function_name()
    )
}

/// `${ValidateImageFunctionArn}` → the local ARN, for every stage.
pub fn substitutions() -> BTreeMap<String, String> {
    StageName::ALL
        .into_iter()
        .map(|stage| (stage.placeholder(), local_function_arn(stage)))
        .collect()
}

/// The definition with its placeholders filled for the local runtime.
pub fn local_definition() -> String {
    statemachine::substitute(statemachine::PIPELINE_ASL, &substitutions())
}

pub use steps::lifecycle::execution_arn;

/// The span an execution runs in (`EngineBuilder::execution_span`). The local runtime names
/// each execution after its job (`StartExecution(name = job_id)`), so the name is the job id:
/// with this factory even an execution resumed at start-up, which no job's span started, logs
/// its `job_id`.
pub fn execution_span(name: &str) -> tracing::Span {
    tracing::info_span!("execution", job_id = %name)
}

/// The execution input: deterministic for a job, so starting it twice is idempotent.
pub fn execution_input(job_id: uuid::Uuid, upload_key: &str, species_hint: Option<&str>) -> Value {
    steps::lifecycle::ExecutionInput {
        job_id,
        bucket: UPLOADS_BUCKET.to_owned(),
        key: upload_key.to_owned(),
        species_hint: species_hint.map(str::to_owned),
    }
    .to_value()
}

/// What an ended execution did to its job, as the pipeline's terminal states say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Succeeded through RecordResult.
    Completed,
    /// Succeeded through RecordRejection → `JobRejected`: the photo was refused for its content
    /// (the job is `failed` with this error, as clients have always seen it). Not a fault.
    Rejected(steps::JobError),
    /// Failed, timed out or aborted: a fault (or an operator's stop), counted and alarmed on.
    Failed,
}

/// The outcome of an ended execution (`None` while it runs). A succeeded execution is a
/// rejection when its output is RecordRejection's (`JobRejected`'s `OutputPath`).
pub fn job_outcome(change: &statemachine::ExecutionStatusChange) -> Option<JobOutcome> {
    use statemachine::ExecutionStatus;
    match change.status {
        ExecutionStatus::Running => None,
        ExecutionStatus::Succeeded => Some(
            change
                .output
                .as_deref()
                .and_then(steps::record_failure::rejection_in_execution_output)
                .map_or(JobOutcome::Completed, JobOutcome::Rejected),
        ),
        _ => Some(JobOutcome::Failed),
    }
}

/// Told when a stage starts and ends: the progress bar of `run`, the metrics of `serve`.
pub trait StageObserver: Send + Sync + 'static {
    fn started(&self, _stage: StageName, _job_id: &str) {}
    fn finished(
        &self,
        _stage: StageName,
        _job_id: &str,
        _outcome: Result<(), &StageError>,
        _elapsed: Duration,
    ) {
    }
}

/// A stage as an in-process Lambda function: a `StageError` becomes the Lambda error
/// (`errorType` = its dotted name, cause = the `{"errorType","errorMessage"}` payload).
pub struct StageHandler {
    pub stage: StageName,
    pub deps: Deps,
    pub observers: Vec<Arc<dyn StageObserver>>,
    /// A pause before the stage runs: lets a demo (or a crash test) watch a job in flight.
    pub delay: Duration,
}

/// The failure Step Functions would record for a Lambda that failed with `error`.
pub fn task_failure(error: &StageError) -> TaskFailure {
    let cause = serde_json::to_string(&error.to_payload()).unwrap_or_else(|_| error.message());
    TaskFailure::new(error.name(), cause)
}

#[async_trait]
impl TaskHandler for StageHandler {
    async fn invoke(&self, payload: Value, ctx: InvocationContext) -> Result<Value, TaskFailure> {
        let job_id = steps::invoke::job_id_of(&payload);
        for observer in &self.observers {
            observer.started(self.stage, &job_id);
        }
        if !self.delay.is_zero() {
            self.report_entered(&job_id).await;
            tokio::time::sleep(self.delay).await;
        }
        let labels = steps::invoke::Labels {
            request_id: None,
            retry_count: Some(ctx.retry_count),
        };
        // As a Lambda runtime does, a panicking stage is the function's error; otherwise it
        // would end the engine's task and leave the execution RUNNING and its job `processing`.
        let run = steps::invoke::invoke_stage(self.stage, payload, &self.deps, labels).await;
        for observer in &self.observers {
            observer.finished(
                self.stage,
                &run.job_id,
                run.result.as_ref().map(|_| ()),
                run.elapsed,
            );
        }
        run.result.map_err(|e| task_failure(&e))
    }
}

impl StageHandler {
    /// With a demo pause, the stage shows as running in `/status` for the whole pause (the stage
    /// itself writes the same `advance` when it starts: the write is idempotent). Without it a
    /// poller would see the pause as the previous stage still running. A refused or failed
    /// write is left to the stage's own `advance` to report.
    async fn report_entered(&self, job_id: &str) {
        let Some(stage) = job_stage(self.stage) else {
            return;
        };
        if let Ok(job_id) = job_id.parse::<uuid::Uuid>() {
            let _ = self
                .deps
                .jobs
                .advance(job_id, stage, stage.progress())
                .await;
        }
    }
}

/// The job record's stage of a pipeline stage (`None` for RecordFailure, which ends a job).
fn job_stage(stage: StageName) -> Option<steps::Stage> {
    match stage {
        StageName::ValidateImage => Some(steps::Stage::ValidateImage),
        StageName::AnalyzePet => Some(steps::Stage::AnalyzePet),
        StageName::MapCareer => Some(steps::Stage::MapCareer),
        StageName::GenerateAvatar => Some(steps::Stage::GenerateAvatar),
        StageName::WriteIdentity => Some(steps::Stage::WriteIdentity),
        StageName::RecordResult => Some(steps::Stage::RecordResult),
        StageName::RecordFailure => None,
    }
}

/// A handler registry with every stage under its local function name.
pub fn stage_handlers(
    deps: &Deps,
    observers: &[Arc<dyn StageObserver>],
    delay: Duration,
) -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    for stage in StageName::ALL {
        let handler = StageHandler {
            stage,
            deps: deps.clone(),
            observers: observers.to_vec(),
            delay,
        };
        registry.register(stage.function_name(), Arc::new(handler));
    }
    registry
}

/// Creates (idempotently) the pipeline state machine in `engine`; returns its ARN.
pub fn create_pipeline(engine: &Engine) -> Result<String, statemachine::EngineError> {
    engine.create_state_machine(STATE_MACHINE_NAME, &local_definition())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_of_the_pipeline_is_substituted() {
        let definition = local_definition();
        assert!(
            !definition.contains("${"),
            "placeholder left in the local definition"
        );
        for stage in StageName::ALL {
            assert!(definition.contains(&local_function_arn(stage)), "{stage:?}");
        }
        assert!(statemachine::StateMachineDefinition::parse(&definition).is_ok());
    }

    /// A vision model with a bug.
    struct PanickingVision;

    #[async_trait]
    impl steps::ports::VisionModel for PanickingVision {
        async fn analyse(
            &self,
            _request: steps::ports::VisionRequest,
        ) -> Result<steps::ports::VisionVerdict, steps::ports::ModelError> {
            panic!("index out of bounds");
        }
    }

    #[tokio::test]
    async fn a_panicking_stage_fails_its_job_instead_of_hanging_it() {
        use steps::memory::InMemoryWorld;
        use steps::ports::{JobStore, ObjectStore};

        let InMemoryWorld {
            mut deps,
            uploads,
            jobs,
            ..
        } = InMemoryWorld::offline();
        deps.vision = Arc::new(PanickingVision);
        let job_id = uuid::Uuid::new_v4();
        let key = steps::keys::upload(job_id, steps::ImageFormat::Png);
        let photo = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/chelsea.png"
        ))
        .unwrap();
        uploads
            .put(&key, bytes::Bytes::from(photo), "image/png")
            .await
            .unwrap();
        jobs.create(steps::Job::new(
            job_id,
            "owner",
            key.clone(),
            chrono::Utc::now(),
        ))
        .await
        .unwrap();
        let engine = Engine::builder()
            .handlers(stage_handlers(&deps, &[], Duration::ZERO))
            .build();
        let sm = create_pipeline(&engine).unwrap();
        let name = job_id.to_string();
        let input = execution_input(job_id, &key, None);
        let started = engine
            .start_execution(&sm, Some(&name), input)
            .await
            .unwrap();
        let done =
            tokio::time::timeout(Duration::from_secs(60), engine.wait(&started.execution_arn))
                .await
                .expect("the execution ends")
                .unwrap();
        assert_eq!(done.error.as_deref(), Some("PetAvatar.Internal"));
        let job = jobs.get(job_id).await.unwrap();
        assert_eq!(job.status, steps::JobStatus::Failed);
        let error = job.error.unwrap();
        assert_eq!(error.code, "PetAvatar.Internal");
        assert!(
            error.message.contains("index out of bounds"),
            "{}",
            error.message
        );
    }

    #[test]
    fn stage_errors_become_lambda_errors() {
        let failure = task_failure(&StageError::NotAPet("a person".into()));
        assert_eq!(failure.error, "PetAvatar.NotAPet");
        let cause: Value = serde_json::from_str(&failure.cause).unwrap();
        assert_eq!(cause["errorType"], "PetAvatar.NotAPet");
        assert_eq!(cause["errorMessage"], "not a pet: a person");
    }
}
